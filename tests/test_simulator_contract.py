"""FakeBillabex and openapi/contacts.yaml agree where schemathesis found them apart.

`make contract` runs schemathesis itself; these pin each disagreement it found
(and the choice made) in the fast suite.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from openapi_spec_validator.readers import read_from_filename

from billabex_async.testing import FakeBillabex
from billabex_async.testing._wire import ApiError, validate_write

SPEC_FILE = Path(__file__).resolve().parent.parent / "openapi" / "contacts.yaml"
SPEC: dict[str, Any] = dict(read_from_filename(str(SPEC_FILE))[0])
SCHEMAS = SPEC["components"]["schemas"]
API = "/api/public/v1"


@pytest.fixture
async def fake() -> AsyncIterator[FakeBillabex]:
    async with FakeBillabex(rate_limit=None, seed=3) as fake:
        yield fake


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def call(
    session: aiohttp.ClientSession,
    fake: FakeBillabex,
    method: str,
    path: str,
    *,
    json: Any = None,
    query: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], Any]:
    headers = {"Authorization": f"Bearer {fake.token}"}
    url = f"{fake.url}{API}/accounts/{fake.account_id}/contacts{path}"
    async with session.request(method, url, json=json, params=query, headers=headers) as resp:
        body = await resp.json() if await resp.read() else None
        return resp.status, dict(resp.headers), body


# -- 405 on /upsert: only the method the spec documents there -----------------


@pytest.mark.parametrize("method", ["GET", "POST", "PATCH", "DELETE"])
async def test_other_methods_on_upsert_are_405_allowing_put_only(
    fake: FakeBillabex, session: aiohttp.ClientSession, method: str
) -> None:
    fake.add_contact(fake.account_id, full_name="Ada Lovelace")
    body = {"fullName": "Ada", "language": "en"}
    status, headers, answer = await call(session, fake, method, "/upsert", json=body)
    # Not the {contactId} routes taking "upsert" for an id (404 no such
    # contact, or a 405 allowing PATCH and DELETE).
    assert (status, answer["code"]) == (405, "app-core.method.not-allowed")
    assert headers["Allow"] == "PUT"
    assert [c.full_name for c in fake.contacts(fake.account_id)] == ["Ada Lovelace"]


def test_allow_lists_only_documented_methods() -> None:
    upsert = SPEC["paths"]["/accounts/{accountId}/contacts/upsert"]
    assert {m for m in upsert if m != "parameters"} == {"put"}


# -- email on writes: the spec's pattern is the simulator's rule ---------------

EMAIL = SCHEMAS["ContactUpdate"]["properties"]["email"]
# ECMA-262's `$` (what JSON Schema means) is the end of input; Python's also
# matches before a final newline, so it is swapped for \Z here.
SPEC_EMAIL = re.compile(EMAIL["pattern"].removesuffix("$") + r"\Z")


def spec_accepts(address: str) -> bool:
    return len(address) <= EMAIL["maxLength"] and SPEC_EMAIL.search(address) is not None


def simulator_accepts(address: str) -> bool:
    try:
        validate_write({"email": address}, required=False)
    except ApiError as exc:
        refused = (exc.status, exc.code)
    else:
        return True
    assert refused == (422, "app-contacts.contact.invalid-email")
    return False


def test_every_write_schema_shares_the_email_rule() -> None:
    for name in ("ContactCreate", "ContactUpsert", "ContactUpdate"):
        email = SCHEMAS[name]["properties"]["email"]
        assert (email["pattern"], email["maxLength"]) == (EMAIL["pattern"], 254)
        # `format: email` would make generators judge addresses by another rule.
        assert "format" not in email


# Addresses are built from parts that stress the rule: separators, ASCII and C1
# controls, Unicode spaces (which regex engines disagree on), accents.
_ATOMS = st.sampled_from(
    ["a", "Z", "0", "é", "ß", "-", "+", "_", ".", "@", " ", "\t", "\n", "\x00", "\x1c",
     "\x7f", "\x85", "\xa0", "\u1680", "\u2007", "\u2028", "\u3000", "\ufeff", "\u200b"]
)  # fmt: skip
_ADDRESSES = st.lists(_ATOMS, max_size=12).map("".join) | st.builds(
    lambda local, domain, tld: f"{local}@{domain}.{tld}",
    st.lists(_ATOMS, min_size=1, max_size=4).map("".join),
    st.lists(_ATOMS, min_size=1, max_size=4).map("".join),
    st.lists(_ATOMS, min_size=1, max_size=3).map("".join),
)


@given(_ADDRESSES)
@example("")
@example("ada@example.com")
@example("josé@exemple.fr")
@example("ada@example.com\n")
@example("ada\x08@example.com")
@example("a" * 243 + "@example.com")
@example("a" * 242 + "@example.com")
def test_simulator_accepts_exactly_the_addresses_the_spec_allows(address: str) -> None:
    assert simulator_accepts(address) == spec_accepts(address)


async def test_patch_with_an_empty_email_is_422_and_changes_nothing(
    fake: FakeBillabex, session: aiohttp.ClientSession
) -> None:
    ada = fake.add_contact(fake.account_id, full_name="Ada", email="ada@example.com")
    status, _, body = await call(session, fake, "PATCH", f"/{ada.id}", json={"email": ""})
    assert (status, body["code"]) == (422, "app-contacts.contact.invalid-email")
    assert fake.contact(fake.account_id, ada.id) == ada


# -- fullName: "not blank" as the spec's ECMA-262 `\S` means it ------------------


@pytest.mark.parametrize(
    ("full_name", "accepted"),
    [
        ("Ada", True),
        (" Ada ", True),
        ("\x1c", True),  # a control character, not a space in ECMA-262 (Python strips it)
        ("\x85", True),  # same
        (" \t\n\v\f\r", False),
        ("\xa0\u2007\u3000", False),  # Unicode spaces
        ("\ufeff", False),  # an ECMA-262 space (Python keeps it)
    ],
)
def test_a_blank_full_name_is_refused_as_the_spec_pattern_means_it(
    full_name: str, accepted: bool
) -> None:
    assert SCHEMAS["ContactUpdate"]["properties"]["fullName"]["pattern"] == "\\S"
    if accepted:
        validate_write({"fullName": full_name}, required=False)
    else:
        with pytest.raises(ApiError, match="fullName must be a non-empty string"):
            validate_write({"fullName": full_name}, required=False)


# -- pagination parameters --------------------------------------------------------


def test_the_spec_refuses_an_empty_cursor() -> None:
    listing = SPEC["paths"]["/accounts/{accountId}/contacts"]["get"]
    after = next(p for p in listing["parameters"] if p["name"] == "after")
    assert after["schema"]["minLength"] == 1
    assert "Assumption:" in after["description"]


@pytest.mark.parametrize("first", [str(10**12), str(10**40), "0007"])
async def test_a_first_of_any_size_is_capped_never_refused(
    fake: FakeBillabex, session: aiohttp.ClientSession, first: str
) -> None:
    fake.seed_contacts(fake.account_id, 3)
    status, _, page = await call(session, fake, "GET", "", query={"first": first})
    assert status == 200
    assert len(page["nodes"]) == 3
    # The cursor goes on with the same query, and the next page is the empty one.
    query = {"first": first, "after": page["pageInfo"]["endCursor"]}
    status, _, page = await call(session, fake, "GET", "", query=query)
    assert (status, page["nodes"]) == (200, [])


# -- links: what stateful testing follows ----------------------------------------


def test_every_link_names_a_real_operation_and_its_parameters() -> None:
    operations: dict[str, set[str]] = {}
    for path, item in SPEC["paths"].items():
        shared = {p["name"] for p in item.get("parameters", []) if "name" in p}
        for method, operation in item.items():
            if method == "parameters":
                continue
            names = {p["name"] for p in operation.get("parameters", []) if "name" in p}
            names |= shared | set(re.findall(r"{(\w+)}", path))
            operations[operation["operationId"]] = names
    links = SPEC["components"]["links"]
    assert set(links) == {"GetContact", "UpdateContact", "DeleteContact", "NextPage"}
    for link in links.values():
        assert set(link["parameters"]) <= operations[link["operationId"]]


async def test_a_created_contact_can_be_followed_by_its_links(
    fake: FakeBillabex, session: aiohttp.ClientSession
) -> None:
    status, _, created = await call(
        session, fake, "POST", "", json={"fullName": "Ada", "language": "en"}
    )
    assert status == 201
    assert uuid.UUID(created["id"])  # what `$response.body#/id` resolves to
    status, _, _ = await call(session, fake, "PATCH", f"/{created['id']}", json={"notes": "x"})
    assert status == 200
    status, _, _ = await call(session, fake, "DELETE", f"/{created['id']}")
    assert status == 204


async def test_an_undocumented_method_is_405_even_with_a_reused_key(
    fake: FakeBillabex, session: aiohttp.ClientSession
) -> None:
    """The method check comes before the Idempotency-Key check, as routing does."""
    url = f"{fake.url}{API}/accounts/{fake.account_id}/contacts"
    headers = {"Authorization": f"Bearer {fake.token}", "Idempotency-Key": "k-1"}
    body = {"fullName": "Ada", "language": "en"}
    async with session.post(url, json=body, headers=headers) as resp:
        assert resp.status == 201
    async with session.post(url + "/upsert", json=body, headers=headers) as resp:
        assert resp.status == 405
        assert (await resp.json())["code"] == "app-core.method.not-allowed"


@pytest.mark.parametrize(
    ("field", "value"),
    [("fullName", "A" * 256), ("role", "r" * 256), ("notes", "n" * 10_001)],
)
async def test_fields_longer_than_the_spec_allows_are_422(
    fake: FakeBillabex, session: aiohttp.ClientSession, field: str, value: str
) -> None:
    body = {"fullName": "Ada", "language": "en", field: value}
    status, _, answer = await call(session, fake, "PUT", "/upsert", json=body)
    assert status == 422, answer
    assert fake.contacts(fake.account_id) == []
