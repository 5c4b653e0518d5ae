"""The request hot path's shortcuts give exactly what the general code gives.

Each shortcut (the C JSON encoder built once, keys from os.urandom, the
canonical-UUID check, the one-regex contact check, cattrs hooks without
detailed validation, the joined-URL cache, the one-read body, the caller's
middlewares kept) is checked against
the slow reference it replaces, on generated inputs where they matter.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import aiohttp
import cattrs
import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict
from yarl import URL

from billabex_async import (
    UNSET,
    BillabexClient,
    ContactCreate,
    ContactUpdate,
    ContactUpsert,
    EmailStatus,
    errors,
)
from billabex_async._converter import converter, structure
from billabex_async._http import _transport
from billabex_async._http._idempotency import encode_json, new_idempotency_key
from billabex_async._validation import (
    check_contact,
    check_email,
    check_full_name,
    check_id,
    check_idempotency_key,
    check_is_primary,
    check_language,
    check_notes,
    check_role,
)
from billabex_async.models import Contact

from .conftest import TOKEN, ScriptedServer

ACCOUNT = "0b9f6a5e-8f43-4c1b-9d1a-3f1f7e2a6c10"
CONTACT = "6c0e2b1d-7d3e-4a55-8f0f-5d8a7e3b9c21"

_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
)
json_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_encode_json_matches_the_json_encoder(value: Any) -> None:
    assert encode_json(value) == json.JSONEncoder(separators=(",", ":")).encode(value)


def test_generated_keys_are_canonical_random_uuid4s() -> None:
    keys = [new_idempotency_key() for _ in range(2000)]
    assert len(set(keys)) == len(keys)
    for key in keys:
        parsed = uuid.UUID(key)
        assert str(parsed) == key
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        check_idempotency_key(key)  # a valid header value
    # The random variant bits are all used: the nibble is not a constant.
    assert {key[19] for key in keys} == set("89ab")


def _forms(value: uuid.UUID) -> st.SearchStrategy[str | uuid.UUID]:
    text = str(value)
    return st.sampled_from(
        [value, text, text.upper(), value.hex, f"{{{text}}}", f"urn:uuid:{text}", f" {text}"]
    )


@given(st.uuids().flatmap(_forms) | st.text(max_size=40))
def test_check_id_matches_the_uuid_round_trip(value: str | uuid.UUID) -> None:
    try:
        expected: str | None = str(value) if isinstance(value, uuid.UUID) else str(uuid.UUID(value))
    except ValueError:
        expected = None
    if expected is None:
        with pytest.raises(errors.InvalidRequestError):
            check_id(value, "account_id")
    else:
        assert check_id(value, "account_id") == expected


def _contact(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": CONTACT,
        "fullName": "John Smith",
        "email": {"address": "john@acme.com", "status": "Valid"},
        "language": "en",
        "role": "CFO",
        "isPrimary": True,
    }
    data.update(overrides)
    return data


_fields = st.sampled_from(["id", "fullName", "email", "language", "role", "isPrimary", "x"])
_mutations = st.lists(
    st.tuples(_fields, st.none() | json_values | st.just("DROP") | st.just({"address": 1})),
    max_size=3,
)


@settings(max_examples=300)
@given(_mutations)
def test_the_fast_structure_agrees_with_the_detailed_one(mutations: list[Any]) -> None:
    data: Any = _contact()
    for field, value in mutations:
        if value == "DROP":
            data.pop(field, None)
        else:
            data[field] = value
    try:
        expected = converter.structure(data, Contact)
    except cattrs.ClassValidationError:
        # A body that does not fit still raises cattrs' detailed error.
        with pytest.raises(cattrs.ClassValidationError):
            structure(data, Contact)
    else:
        assert structure(data, Contact) == expected


def test_known_enum_values_are_the_members_and_unknown_ones_are_kept() -> None:
    known = structure(_contact(), Contact)
    assert known.email is not None
    assert known.email.status is EmailStatus.valid
    unknown = structure(_contact(email={"address": "a@b.co", "status": "Held"}), Contact)
    assert unknown.email is not None
    assert unknown.email.status == "Held"
    assert structure(_contact(email=None), Contact).email is None


def reply(body: Any, status: int = 200) -> Any:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.json_response(body, status=status)

    return handler


async def test_a_body_missing_fields_is_a_typed_error_naming_them(
    scripted: ScriptedServer,
) -> None:
    scripted.script(reply({"fullName": "A", "email": {"address": 5}}))
    async with BillabexClient(TOKEN, base_url=scripted.url, rate_limit=None) as client:
        with pytest.raises(errors.APIResponseValidationError) as caught:
            await client.contacts.upsert(ACCOUNT, full_name="A", language="en")
    message = str(caught.value)
    assert "$.id" in message
    assert "$.language" in message
    assert "$.email.status" in message
    assert TOKEN not in message


def test_joined_urls_stay_right_past_the_cache_size() -> None:
    api = URL("https://next.billabex.com/api/public/v1")
    transport = _transport.Transport.__new__(_transport.Transport)
    transport._api_url = api
    transport._urls = {}
    transport._headers = CIMultiDict()
    transport._json_headers = CIMultiDict()
    transport._max_retries = 0
    transport._clock = lambda: 0.0
    transport._idempotent_creates = True
    ids = [str(uuid.uuid4()) for _ in range(_transport._MAX_CACHED_URLS + 50)]
    for round_ in range(2):
        for contact_id in ids:
            path = f"/accounts/{ACCOUNT}/contacts/{contact_id}"
            call = transport._prepare("GET", path, None, None, None)
            assert call.url == api.joinpath(path.lstrip("/"), encoded=True), round_
    assert len(transport._urls) <= _transport._MAX_CACHED_URLS


@pytest.mark.parametrize(("extra", "fits"), [(0, True), (1, False)])
async def test_a_body_with_content_length_is_capped_exactly(
    scripted: ScriptedServer, extra: int, fits: bool
) -> None:
    body = json.dumps(_contact(notes="n" * 500)).encode()
    limit = len(body) - extra

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.Response(body=body, content_type="application/json")
        assert response.content_length == len(body)
        return response

    scripted.default = handler
    async with BillabexClient(
        TOKEN, base_url=scripted.url, rate_limit=None, max_response_bytes=limit, max_retries=0
    ) as client:
        if fits:
            contact = await client.contacts.get(ACCOUNT, CONTACT)
            assert contact.notes == "n" * 500
        else:
            with pytest.raises(errors.ResponseTooLargeError):
                await client.contacts.get(ACCOUNT, CONTACT)


async def test_a_callers_session_middlewares_still_run(scripted: ScriptedServer) -> None:
    seen: list[str] = []

    async def tag(
        req: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        seen.append(req.method)
        req.headers["X-Tenant"] = "t-1"
        return await handler(req)

    scripted.default = reply(_contact())
    async with (
        aiohttp.ClientSession(middlewares=(tag,)) as session,
        BillabexClient(TOKEN, base_url=scripted.url, rate_limit=None, session=session) as client,
    ):
        await client.contacts.upsert(ACCOUNT, full_name="A", language="en")
        await client.contacts.get(ACCOUNT, CONTACT)
    assert seen == ["PUT", "GET"]
    assert [s.headers.get("X-Tenant") for s in scripted.seen] == ["t-1", "t-1"]


async def test_a_model_of_the_wrong_kind_is_refused_before_sending(
    scripted: ScriptedServer,
) -> None:
    create = ContactCreate(full_name="A", language="en")
    async with BillabexClient(TOKEN, base_url=scripted.url, rate_limit=None) as client:
        with pytest.raises(errors.InvalidRequestError, match="expected a ContactUpsert"):
            await client.contacts.upsert(ACCOUNT, create)  # type: ignore[arg-type]
        with pytest.raises(errors.InvalidRequestError, match="not both"):
            await client.contacts.upsert(
                ACCOUNT, ContactUpsert(full_name="A", language="en"), role="CFO"
            )
    assert scripted.seen == []


def _field_by_field(model: object) -> None:
    """check_contact as it was: every field check, in order."""
    check_full_name(getattr(model, "full_name", UNSET))
    check_language(getattr(model, "language", UNSET))
    check_email(getattr(model, "email", UNSET))
    check_role(getattr(model, "role", UNSET))
    check_notes(getattr(model, "notes", UNSET))
    check_is_primary(getattr(model, "is_primary", UNSET))


_ascii = st.text(st.characters(min_codepoint=0, max_codepoint=0x7F), max_size=12)
_printable = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=8)
# Small alphabets of the characters each rule is about, so that edge cases
# (only spaces, a space inside an address, a lone surrogate) come up often.
_tricky = st.sampled_from(
    [" ", "\t", "\u200b", "\u3164", "\u00e9", "A", "a", "\x00", "\x85", "\ud800"]
)
_names = (
    st.text(_tricky, max_size=6)
    | _printable
    | _ascii
    | st.text(max_size=12)
    | st.integers()
    | st.just(UNSET)
    | st.just("x" * 256)
)
_part = st.text(
    st.sampled_from(["a", "b", " ", ".", "@", "\t", "\u200b", "\u00e9", "\x7f"]),
    min_size=1,
    max_size=4,
)
_emails = (
    st.builds(lambda a, b, c: f"{a}@{b}.{c}", _part, _part, _part)
    | st.builds(lambda a, b, c: f"{a}@{b}.{c}", _printable, _printable, _printable)
    | st.none()
    | st.just(UNSET)
    | st.text(max_size=12)
    | st.just("a@b.c" + "o" * 250)
)
_languages = st.sampled_from(["en", "fr", "EN", "e", "eng", "é1", ""]) | _ascii | st.just(UNSET)
_optional = st.none() | st.just(UNSET) | st.text(max_size=5) | st.booleans() | st.integers()


@settings(max_examples=500)
@given(_names, _languages, _emails, _optional, _optional, _optional)
def test_check_contact_decides_as_the_field_checks_do(
    name: Any, language: Any, email: Any, role: Any, notes: Any, is_primary: Any
) -> None:
    model = ContactUpdate(
        full_name=name, language=language, email=email, role=role, notes=notes,
        is_primary=is_primary,
    )  # fmt: skip
    assert _verdict(check_contact, model) == _verdict(_field_by_field, model)


def _verdict(check: Any, model: object) -> tuple[str, str | None] | None:
    """None when ``check`` accepts ``model``, else its error's message and field."""
    try:
        check(model)
    except errors.InvalidRequestError as exc:
        return str(exc), exc.field
    return None


_VALID = {"full_name": "John Smith", "language": "en", "email": "john@acme.com"}
_one_field_off = st.one_of(
    st.tuples(st.just("full_name"), _names),
    st.tuples(st.just("language"), _languages),
    st.tuples(st.just("email"), _emails),
    st.tuples(st.sampled_from(["role", "notes", "is_primary"]), _optional),
)


@settings(max_examples=1000)
@given(_one_field_off)
def test_check_contact_decides_as_the_field_checks_do_one_field_off(
    field_value: tuple[str, Any],
) -> None:
    field, value = field_value
    model = ContactUpdate(**{**_VALID, field: value})
    assert _verdict(check_contact, model) == _verdict(_field_by_field, model)


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(st.uuids(), st.uuids().map(str), st.uuids().map(lambda u: str(u).upper()), st.text())
)
def test_the_cached_contacts_path_is_the_checked_one(account_id: Any) -> None:
    from billabex_async.resources import contacts

    try:
        expected: str | None = contacts._checked_contacts_path(account_id)
    except errors.InvalidRequestError:
        expected = None
    for _ in range(2):  # the second call is answered from the cache, if at all
        if expected is None:
            with pytest.raises(errors.InvalidRequestError):
                contacts._contacts_path(account_id)
            with pytest.raises(errors.InvalidRequestError):
                contacts._upsert_path(account_id)
        else:
            assert contacts._contacts_path(account_id) == expected
            assert contacts._upsert_path(account_id) == f"{expected}/upsert"


def test_check_contact_reads_a_missing_field_as_unset() -> None:
    # Objects without every write field (not a model) are checked on the fields they have.
    from types import SimpleNamespace

    check_contact(SimpleNamespace(full_name="Ada", language="en"))
    with pytest.raises(errors.InvalidRequestError) as caught:
        check_contact(SimpleNamespace(full_name="Ada", language="EN"))
    assert caught.value.field == "language"
    with pytest.raises(errors.InvalidRequestError) as caught:
        check_contact(SimpleNamespace(language="en", email=" a@b.co"))
    assert caught.value.field == "email"
