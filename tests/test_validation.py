"""Contact fields are checked before anything is sent, and sent exactly as checked."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from openapi_spec_validator.readers import read_from_filename

from billabex_async import BillabexClient, ContactCreate, ContactUpdate, ContactUpsert, errors
from billabex_async._converter import unstructure
from billabex_async._types import UNSET
from billabex_async._validation import (
    MAX_EMAIL_LENGTH,
    MAX_NAME_LENGTH,
    MAX_NOTES_LENGTH,
    MAX_ROLE_LENGTH,
    check_contact,
    check_email,
    check_full_name,
    check_notes,
    check_role,
)
from billabex_async._validation import contact as contact_rules
from billabex_async.testing import FakeBillabex

from ._scripted import ACCOUNT, CONTACT, client_for, contact_json, reply
from .conftest import ScriptedServer

SPEC = Path(__file__).resolve().parent.parent / "openapi" / "contacts.yaml"

# (field, value, a fragment the message must hold)
BAD: list[tuple[str, object, str]] = [
    ("full_name", "Jo\x00hn", "U+0000 at 2"),
    ("full_name", "Ann\n", "U+000A"),
    ("full_name", "Ann\tLee", "U+0009"),
    ("full_name", "Ann\x85", "U+0085"),  # C1 (NEL)
    ("full_name", "Ann\x7f", "U+007F"),
    ("full_name", "\u200b\u200d\ufeff", "no visible character"),
    ("full_name", " \u3164 \u2800", "no visible character"),
    ("full_name", "\u0301", "no visible character"),
    ("full_name", "", "must not be empty"),
    ("full_name", "Jo\ud800hn", "lone surrogate U+D800"),
    ("full_name", "x" * (MAX_NAME_LENGTH + 1), f"longer than {MAX_NAME_LENGTH}"),
    ("full_name", "x" * 1_000_000, "(1000000)"),
    ("full_name", 5, "must be a string"),
    ("email", "ann\x00@acme.com", "U+0000"),
    ("email", "ann@acme.com\n", "U+000A"),
    ("email", " ann@acme.com", "surrounding whitespace"),
    ("email", "ann@acme.com ", "surrounding whitespace"),
    ("email", "ann\u200b@acme.com", "invisible character (U+200B) at 3"),
    ("email", "ann lee@acme.com", "space or invisible character (U+0020)"),
    ("email", "a" * 250 + "@b.co", f"longer than {MAX_EMAIL_LENGTH}"),
    ("email", ["ann@acme.com"], "must be a string"),
    ("role", 5, "must be a string or None, got 5"),
    ("role", "CFO\x00", "U+0000"),
    ("role", "CFO\n", "U+000A"),
    ("role", "r" * (MAX_ROLE_LENGTH + 1), "longer than"),
    ("notes", ["call", "back"], "must be a string or None"),
    ("notes", "call\x00back", "U+0000"),
    ("notes", "\ud83d", "lone surrogate"),
    ("notes", "n" * (MAX_NOTES_LENGTH + 1), "longer than"),
    ("is_primary", "yes", "must be True, False or None, got 'yes'"),
    ("is_primary", 1, "must be True, False or None"),
    ("language", "EN", "ISO 639-1"),
    ("language", None, "ISO 639-1"),
]

VERBS = ["create", "upsert", "update"]


def _call(client: BillabexClient, verb: str, field: str, value: object) -> Any:
    fields: dict[str, Any] = {field: value}
    if verb == "update":
        return client.contacts.update(ACCOUNT, CONTACT, **fields)
    base: dict[str, Any] = {"full_name": "Ann Lee", "language": "en", **fields}
    return getattr(client.contacts, verb)(ACCOUNT, **base)


@pytest.mark.parametrize(("field", "value", "fragment"), BAD, ids=lambda v: repr(v)[:30])
async def test_bad_fields_are_refused_before_sending(
    scripted: ScriptedServer, field: str, value: object, fragment: str
) -> None:
    async with client_for(scripted) as client:
        for verb in VERBS:
            with pytest.raises(errors.InvalidRequestError) as caught:
                await _call(client, verb, field, value)
            assert caught.value.field == field, verb
            assert fragment in str(caught.value), verb
    assert scripted.seen == []


async def test_the_message_shows_the_value_truncated(scripted: ScriptedServer) -> None:
    async with client_for(scripted) as client:
        with pytest.raises(errors.InvalidRequestError) as caught:
            await client.contacts.upsert(ACCOUNT, full_name="Ann" + "\x00" * 500, language="en")
    message = str(caught.value)
    assert "'Ann\\x00\\x00" in message  # repr'd: the invisible character shows
    assert "(503 characters)" in message
    assert len(message) < 200


@pytest.mark.parametrize(
    "model",
    [
        ContactUpsert(full_name="Ann", language="en", role=5),  # type: ignore[arg-type]
        ContactCreate(full_name="Ann", language="en", is_primary="yes"),  # type: ignore[arg-type]
        ContactUpdate(notes=["a"]),  # type: ignore[arg-type]
        ContactUpdate(full_name=None),  # type: ignore[arg-type]
    ],
    ids=repr,
)
async def test_models_passed_whole_are_checked_too(
    scripted: ScriptedServer, model: ContactUpsert | ContactCreate | ContactUpdate
) -> None:
    async with client_for(scripted) as client:
        if isinstance(model, ContactUpdate):
            call = client.contacts.update(ACCOUNT, CONTACT, model)
        elif isinstance(model, ContactCreate):
            call = client.contacts.create(ACCOUNT, model)
        else:
            call = client.contacts.upsert(ACCOUNT, model)
        with pytest.raises(errors.InvalidRequestError):
            await call
    assert scripted.seen == []


async def test_accepted_values_are_sent_exactly_as_given(scripted: ScriptedServer) -> None:
    scripted.script(reply(200, contact_json()))
    notes = "Call after 5pm.\r\n\tAsk for accounts."
    async with client_for(scripted) as client:
        await client.contacts.upsert(
            ACCOUNT,
            full_name="  Zoë\u200dO'Brien ",  # inner joiner and outer spaces are the name's own
            language="en",
            email="zoe.obrien@acme.com",
            role="CFO",
            notes=notes,
            is_primary=False,
        )
    assert scripted.seen[0].body == {
        "fullName": "  Zoë\u200dO'Brien ",
        "language": "en",
        "email": "zoe.obrien@acme.com",
        "role": "CFO",
        "notes": notes,
        "isPrimary": False,
    }


async def test_update_checks_only_the_fields_given(scripted: ScriptedServer) -> None:
    scripted.script(reply(200, contact_json()))
    async with client_for(scripted) as client:
        await client.contacts.update(ACCOUNT, CONTACT, role=None, is_primary=True)
    assert scripted.seen[0].body == {"role": None, "isPrimary": True}


async def test_bulk_fails_the_invalid_items_only() -> None:
    items = [
        ContactUpsert(full_name="Ann Lee", language="en", email="ann@acme.test"),
        ContactUpsert(full_name="Bo\x00b", language="en"),
        ContactUpsert(full_name="Cy Young", language="en", email="cy@acme.test\n"),
        ContactUpsert(full_name="Di Ross", language="en", is_primary="yes"),  # type: ignore[arg-type]
        ContactUpsert(full_name="Ed Wood", language="en"),
    ]
    async with FakeBillabex(rate_limit=None) as fake:
        async with BillabexClient(fake.token, base_url=fake.url, rate_limit=None) as client:
            report = await client.contacts.bulk_upsert(fake.account_id, items)
        assert report.succeeded == 2
        assert sorted(f.index for f in report.failed) == [1, 2, 3]
        assert all(isinstance(f.error, errors.InvalidRequestError) for f in report.failed)
        assert sorted(c.full_name for c in fake.contacts(fake.account_id)) == ["Ann Lee", "Ed Wood"]
        writes = [r for r in fake.requests if r.method == "PUT"]
        assert len(writes) == 2


async def test_sync_reports_an_invalid_item_and_writes_the_others() -> None:
    desired = [
        ContactUpsert(full_name="Ann Lee", language="en"),
        ContactUpsert(full_name="Bob\u0000", language="en"),
        ContactUpsert(full_name="Cy Young", language="en", email=" cy@acme.test"),
    ]
    async with FakeBillabex(rate_limit=None) as fake:
        async with BillabexClient(fake.token, base_url=fake.url, rate_limit=None) as client:
            result = await client.contacts.sync(fake.account_id, desired)
        assert result.created == 1
        assert sorted(f.index for f in result.failed) == [1, 2]
        assert all(isinstance(f.error, errors.InvalidRequestError) for f in result.failed)
        assert [c.full_name for c in fake.contacts(fake.account_id)] == ["Ann Lee"]


def test_the_spec_states_the_same_limits() -> None:
    spec, _ = read_from_filename(str(SPEC))
    schemas = spec["components"]["schemas"]
    expected = {
        "fullName": MAX_NAME_LENGTH,
        "email": MAX_EMAIL_LENGTH,
        "role": MAX_ROLE_LENGTH,
        "notes": MAX_NOTES_LENGTH,
    }
    for name in ("ContactCreate", "ContactUpsert", "ContactUpdate"):
        properties = schemas[name]["properties"]
        for field, limit in expected.items():
            assert properties[field]["maxLength"] == limit, (name, field)
            assert "Assumption:" in properties[field]["description"], (name, field)


# --- properties over arbitrary input -------------------------------------------------

_ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=300)  # surrogates too
_ANYTHING = st.one_of(
    _ANY_TEXT, st.none(), st.booleans(), st.integers(), st.floats(), st.lists(st.text())
)


def _wire_safe(value: str) -> None:
    """What the transport does with a body: JSON, then UTF-8."""
    encoded = json.dumps({"v": value}, ensure_ascii=False).encode("utf-8")
    assert json.loads(encoded)["v"] == value


def _outcome(check: Any, value: object) -> bool:
    """True if accepted; a refusal must be an InvalidRequestError, nothing else."""
    try:
        check(value)
    except errors.InvalidRequestError as exc:
        field = exc.field
    else:
        return True
    assert field is not None
    return False


@given(_ANY_TEXT)
def test_accepted_names_are_visible_encodable_and_free_of_controls(value: str) -> None:
    if _outcome(check_full_name, value):
        _wire_safe(value)
        assert len(value) <= MAX_NAME_LENGTH
        assert not any(unicodedata.category(c) in ("Cc", "Cs") for c in value)
        assert any(not c.isspace() and unicodedata.category(c) not in ("Cf", "Zs") for c in value)


# Near-valid addresses, so the accepting branch is explored as well as the refusals.
_ADDRESSES = st.builds(
    lambda pad, local, domain, end: pad + local + "@" + domain + end,
    st.sampled_from(["", "", " ", "\t", "\ufeff"]),
    st.text(st.characters(exclude_categories=()), min_size=1, max_size=12),
    st.from_regex(r"[a-z\u00e9-]{1,10}\.[a-z]{2,4}", fullmatch=True),
    st.sampled_from(["", "", "\n", " ", "\x00"]),
)


@given(st.one_of(_ANY_TEXT, _ADDRESSES))
def test_accepted_emails_are_sent_as_checked(value: str) -> None:
    if _outcome(check_email, value):
        _wire_safe(value)
        assert value == value.strip()
        assert len(value) <= MAX_EMAIL_LENGTH
        assert not any(unicodedata.category(c) in ("Cc", "Cs", "Cf") for c in value)


@given(_ANY_TEXT)
def test_accepted_roles_and_notes_are_encodable(value: str) -> None:
    if _outcome(check_role, value):
        _wire_safe(value)
        assert not any(unicodedata.category(c) == "Cc" for c in value)
    if _outcome(check_notes, value):
        _wire_safe(value)
        assert not any(unicodedata.category(c) == "Cc" and c not in "\t\r\n" for c in value)


@given(
    full_name=_ANYTHING,
    language=st.one_of(st.sampled_from(["en", "fr"]), _ANYTHING),
    email=_ANYTHING,
    role=_ANYTHING,
    notes=_ANYTHING,
    is_primary=_ANYTHING,
)
def test_a_whole_body_is_accepted_only_if_it_serialises(**fields: Any) -> None:
    model = ContactUpsert(**fields)
    if _outcome(check_contact, model):
        json.dumps(unstructure(model), ensure_ascii=False).encode("utf-8")
        assert isinstance(model.full_name, str)
        assert model.is_primary in (None, True, False, UNSET)


# Clean values and near misses: a control character, a lone surrogate, one past a limit.
_NEAR_MISSES: list[object] = [
    *("Buyer", "a\tb\n", "a\x00b", "b\x85", "\ud800", "x" * 256, "x" * 10_001),
    *("jo@acme.io", " jo@acme.io", "jo@acme", 1, "yes", True, [], None, UNSET),
]
_CHECKS = {
    "email": check_email,
    "role": check_role,
    "notes": check_notes,
    "is_primary": contact_rules.check_is_primary,
}


def _fast_path_accepts(email: object, role: object, notes: object, is_primary: object) -> bool:
    return contact_rules._plain_contact("Jo Smith", "en", email, role, notes, is_primary)


@pytest.mark.parametrize("value", _NEAR_MISSES)
@pytest.mark.parametrize("field", list(_CHECKS))
def test_the_one_regex_path_refuses_each_near_miss(field: str, value: object) -> None:
    """The fast path for common bodies lets through no value its field check refuses."""
    fields: dict[str, object] = dict.fromkeys(_CHECKS) | {field: value}
    if _fast_path_accepts(**fields):
        _CHECKS[field](value)


@given(**dict.fromkeys(_CHECKS, st.one_of(st.sampled_from(_NEAR_MISSES), _ANYTHING)))
def test_the_one_regex_path_accepts_only_what_the_field_checks_accept(**fields: object) -> None:
    if _fast_path_accepts(**fields):
        for field, value in fields.items():
            _CHECKS[field](value)
