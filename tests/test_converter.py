"""Wire rules of the converter: names, UUIDs, open enums, UNSET and null."""

from __future__ import annotations

import uuid

import pytest

from billabex_async import UNSET, ContactCreate, ContactUpdate, ContactUpsert, EmailStatus
from billabex_async._converter import _structure_uuid, structure, unstructure
from billabex_async.models import Contact, ContactPage, EmailInfo


def test_request_models_send_camel_case_and_leave_out_unset_fields() -> None:
    model = ContactUpsert(full_name="Ada Lovelace", language="en", is_primary=True)
    assert unstructure(model) == {"fullName": "Ada Lovelace", "language": "en", "isPrimary": True}


def test_update_tells_not_given_from_cleared() -> None:
    assert unstructure(ContactUpdate()) == {}
    assert unstructure(ContactUpdate(email=None)) == {"email": None}
    assert unstructure(ContactUpdate(role=None, notes="x")) == {"role": None, "notes": "x"}
    assert ContactUpdate().email is UNSET


@pytest.mark.parametrize("cls", [ContactCreate, ContactUpsert])
def test_create_and_upsert_leave_out_a_none_email(cls: type[ContactCreate]) -> None:
    assert unstructure(cls(full_name="A", language="en", email=None)) == {
        "fullName": "A",
        "language": "en",
    }
    # An explicit null on another optional field is still sent.
    assert unstructure(cls(full_name="A", language="en", role=None))["role"] is None


def test_responses_structure_uuids_nested_models_and_ignore_unknown_fields() -> None:
    cid = uuid.uuid4()
    contact = structure(
        {
            "id": str(cid),
            "fullName": "Ada",
            "language": "en",
            "email": {"address": "ada@x.io", "status": "Bounced"},
            "isPrimary": False,
            "brandNewField": {"nested": True},
        },
        Contact,
    )
    assert contact.id == cid
    assert contact.email == EmailInfo(address="ada@x.io", status=EmailStatus.bounced)
    assert contact.is_primary is False
    assert contact.role is None


def test_an_unknown_email_status_is_kept_not_rejected() -> None:
    info = structure({"address": "a@b.io", "status": "Suppressed"}, EmailInfo)
    assert info.status == "Suppressed"
    assert isinstance(info.status, EmailStatus)
    assert info.status not in list(EmailStatus)
    assert unstructure(info) == {"address": "a@b.io", "status": "Suppressed"}


def test_a_page_round_trips() -> None:
    data = {
        "nodes": [{"id": str(uuid.uuid4()), "fullName": "A", "language": "fr", "email": None}],
        "pageInfo": {"endCursor": "abc"},
    }
    page = structure(data, ContactPage)
    assert page.page_info is not None
    assert page.page_info.end_cursor == "abc"
    again = unstructure(page)
    assert again["pageInfo"] == {"endCursor": "abc"}
    assert again["nodes"][0]["fullName"] == "A"


CANONICAL = "3f1f7e2a-6c10-4c1b-9d1a-0b9f6a5e8f43"


@pytest.mark.parametrize(
    "value",
    [
        CANONICAL,
        CANONICAL.upper(),
        CANONICAL.replace("-", ""),
        "3f1f7e2a6c10-4c1b-9d1a0b9f6a5e8f43--",  # dashes anywhere: UUID() accepts them
        "{" + CANONICAL + "}",
        "urn:uuid:" + CANONICAL,
        uuid.UUID(CANONICAL),
        " " + CANONICAL.replace("-", "")[1:],  # int() tolerates the space, so does UUID()
    ],
)
def test_the_uuid_hook_builds_what_uuid_builds(value: object) -> None:
    expected = uuid.UUID(str(value))
    got = _structure_uuid(value, uuid.UUID)
    assert (type(got), got, got.int, got.is_safe) == (
        uuid.UUID,
        expected,
        expected.int,
        expected.is_safe,
    )
    assert hash(got) == hash(expected)
    assert str(got) == str(expected)


@pytest.mark.parametrize(
    "value", ["", CANONICAL[:-1], CANONICAL[:-1] + "g", "urn:" + CANONICAL + "0", 5, None, 1.5]
)
def test_the_uuid_hook_refuses_what_uuid_refuses_with_the_same_error(value: object) -> None:
    with pytest.raises(
        ValueError, match=r"badly formed hexadecimal UUID|invalid literal for int"
    ) as old:
        uuid.UUID(str(value))
    with pytest.raises(
        ValueError, match=r"badly formed hexadecimal UUID|invalid literal for int"
    ) as new:
        _structure_uuid(value, uuid.UUID)
    assert (type(new.value), str(new.value)) == (type(old.value), str(old.value))


def test_optional_scalars_structure_as_before() -> None:
    body = {"id": CANONICAL, "fullName": "A", "language": "en", "role": 5, "notes": None}
    contact = structure(body | {"isPrimary": 1}, Contact)
    assert (contact.role, contact.notes, contact.is_primary) == ("5", None, True)
    assert structure(body | {"isPrimary": None}, Contact).is_primary is None
