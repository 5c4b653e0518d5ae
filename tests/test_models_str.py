"""An EmailInfo prints as its address; its repr still shows every field."""

from __future__ import annotations

from uuid import UUID

from billabex_async import Contact, EmailInfo, EmailStatus
from billabex_async._converter import structure, unstructure


def test_an_email_prints_as_its_address() -> None:
    email = EmailInfo(address="ada@example.com", status=EmailStatus.valid)
    assert str(email) == "ada@example.com"
    assert f"{email}" == "ada@example.com"
    assert f"to {email}" == "to ada@example.com"


def test_the_repr_still_shows_every_field() -> None:
    email = EmailInfo(address="ada@example.com", status=EmailStatus.bounced)
    assert repr(email) == (
        "EmailInfo(address='ada@example.com', status=<EmailStatus.bounced: 'Bounced'>)"
    )


def test_a_contact_read_from_the_wire_prints_its_email_address() -> None:
    contact = structure(
        {
            "id": "3f2b9a62-4c1e-4a8e-9d2f-0b6c5e7a1d34",
            "fullName": "Ada Lovelace",
            "language": "en",
            "email": {"address": "ada@example.com", "status": "Complained"},
        },
        Contact,
    )
    assert contact.id == UUID("3f2b9a62-4c1e-4a8e-9d2f-0b6c5e7a1d34")
    assert str(contact.email) == "ada@example.com"
    # Printing changes nothing on the wire: the email still goes out as an object.
    assert unstructure(contact)["email"] == {"address": "ada@example.com", "status": "Complained"}


def test_only_the_flagged_model_gains_a_str() -> None:
    # The codegen flag is per schema: the other models keep attrs' repr as their str.
    contact = Contact(id=UUID(int=1), full_name="Ada", language="en")
    assert str(contact) == repr(contact)
