"""Wire rules of the converter: names, UUIDs, open enums, UNSET and null."""

from __future__ import annotations

import uuid

import pytest

from billabex_async import UNSET, ContactCreate, ContactUpdate, ContactUpsert, EmailStatus
from billabex_async._converter import structure, unstructure
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
