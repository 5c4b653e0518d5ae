"""FakeBillabex: PUT .../contacts/upsert matching rules, through the HTTP API."""

from __future__ import annotations

import unicodedata
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from billabex_async.testing import FakeBillabex, Matching

API = "/api/public/v1"


@pytest.fixture
async def fake() -> AsyncIterator[FakeBillabex]:
    async with FakeBillabex(rate_limit=None) as fake:
        yield fake


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def upsert(
    session: aiohttp.ClientSession, fake: FakeBillabex, full_name: str, email: str | None = None
) -> tuple[int, dict[str, Any]]:
    body: dict[str, Any] = {"fullName": full_name, "language": "en"}
    if email is not None:
        body["email"] = email
    url = f"{fake.url}{API}/accounts/{fake.account_id}/contacts/upsert"
    headers = {"Authorization": f"Bearer {fake.token}"}
    async with session.put(url, json=body, headers=headers) as resp:
        return resp.status, await resp.json()


async def test_no_match_creates_with_201_and_a_match_updates_with_200(
    fake: FakeBillabex, session: aiohttp.ClientSession
) -> None:
    status, created = await upsert(session, fake, "John Smith", "john@acme.com")
    assert status == 201
    status, updated = await upsert(session, fake, "John Smith", "john@acme.com")
    assert (status, updated["id"]) == (200, created["id"])
    assert len(fake.contacts(fake.account_id)) == 1


async def test_upsert_is_idempotent_without_email(
    fake: FakeBillabex, session: aiohttp.ClientSession
) -> None:
    first = await upsert(session, fake, "Ada Lovelace")
    second = await upsert(session, fake, "Ada Lovelace")
    assert (first[0], second[0]) == (201, 200)
    assert first[1] == second[1]
    assert len(fake.contacts(fake.account_id)) == 1


async def test_email_matches_case_insensitively_and_wins_over_names(
    fake: FakeBillabex, session: aiohttp.ClientSession
) -> None:
    by_email = fake.add_contact(fake.account_id, full_name="Jane Doe", email="John@Acme.com")
    fake.add_contact(fake.account_id, full_name="John Smith")
    status, body = await upsert(session, fake, "John Smith", "john@ACME.com")
    assert (status, body["id"]) == (200, str(by_email.id))
    assert body["fullName"] == "John Smith"  # the matched contact takes the new name


async def test_unknown_email_falls_back_to_the_name_and_sets_the_email(
    fake: FakeBillabex, session: aiohttp.ClientSession
) -> None:
    contact = fake.add_contact(fake.account_id, full_name="John Smith", email="old@acme.com")
    fake.set_email_status(fake.account_id, contact.id, "Bounced")
    status, body = await upsert(session, fake, "John Smith", "new@acme.com")
    assert (status, body["id"]) == (200, str(contact.id))
    assert body["email"] == {"address": "new@acme.com", "status": "Valid"}


async def test_upsert_without_email_never_clears_the_address(
    fake: FakeBillabex, session: aiohttp.ClientSession
) -> None:
    fake.add_contact(fake.account_id, full_name="John Smith", email="john@acme.com")
    url = f"{fake.url}{API}/accounts/{fake.account_id}/contacts/upsert"
    body = {"fullName": "John Smith", "language": "fr", "email": None}
    headers = {"Authorization": f"Bearer {fake.token}"}
    async with session.put(url, json=body, headers=headers) as resp:
        assert resp.status == 200
    [contact] = fake.contacts(fake.account_id)
    assert contact.email is not None
    assert (contact.email.address, contact.language) == ("john@acme.com", "fr")


@pytest.mark.parametrize(
    ("stored", "sent", "matches"),
    [
        # 16 characters: tolerates min(2, 16 // 5) = 2 edits.
        ("Jonathan Smithers", "Jonathan Smithrs", True),  # distance 1
        ("Jonathan Smithers", "Jonatan Smithrs", True),  # distance 2
        ("Jonathan Smithers", "Jonatan Smthrs", False),  # distance 3
        # 6 characters: 20 % is 1.2, so 1 edit.
        ("Ann Li", "Ann Lu", True),
        ("Ann Li", "Anne Lu", False),
        # 4 characters or fewer: 20 % < 1, so only an exact (normalised) match.
        ("Ana", "Ann", False),
        ("Bo Li", "Bo Lu", True),  # 5 characters: 1 edit
        ("Ana", "ANA", True),
        # The shorter name sets the limit: 6 vs 8 characters -> 1 edit allowed.
        ("Li Wei", "Li Weiii", False),
        ("Li Wei", "Li Weii", True),
        # Accents count as one character each.
        ("José Martín", "Jose Martin", True),  # 11 characters, distance 2
        ("Zoé", "Zoe", False),  # 3 characters: exact only
        ("Zoé", unicodedata.normalize("NFD", "Zoé"), True),  # same name, other encoding
        # Case and surrounding whitespace are ignored.
        ("John Smith", "  JOHN SMITH \t", True),
        ("John Smith", "john smith", True),
    ],
)
async def test_fuzzy_name_rule(
    fake: FakeBillabex, session: aiohttp.ClientSession, stored: str, sent: str, matches: bool
) -> None:
    contact = fake.add_contact(fake.account_id, full_name=stored)
    status, body = await upsert(session, fake, sent)
    assert (status == 200) is matches
    assert (body["id"] == str(contact.id)) is matches
    assert len(fake.contacts(fake.account_id)) == (1 if matches else 2)


async def test_the_closest_name_wins_and_ties_go_to_the_oldest(
    fake: FakeBillabex, session: aiohttp.ClientSession
) -> None:
    fake.add_contact(fake.account_id, full_name="Jonathan Smythe")  # distance 2
    closest = fake.add_contact(fake.account_id, full_name="Jonathan Smyth")  # distance 1
    _, body = await upsert(session, fake, "Jonathan Smith")
    assert body["id"] == str(closest.id)

    oldest = fake.add_contact(fake.account_id, full_name="Maria Garcia Lopez")
    fake.add_contact(fake.account_id, full_name="Maria Garcia Lopes")
    _, body = await upsert(session, fake, "Maria Garcia Lopee")  # distance 1 from both
    assert body["id"] == str(oldest.id)


async def test_a_renamed_contact_is_matched_by_its_new_name(
    fake: FakeBillabex, session: aiohttp.ClientSession
) -> None:
    contact = fake.add_contact(fake.account_id, full_name="Grace Hopper")
    url = f"{fake.url}{API}/accounts/{fake.account_id}/contacts/{contact.id}"
    headers = {"Authorization": f"Bearer {fake.token}"}
    async with session.patch(url, json={"fullName": "Admiral Hopper"}, headers=headers) as resp:
        assert resp.status == 200
    assert (await upsert(session, fake, "Admiral Hopper"))[1]["id"] == str(contact.id)
    assert (await upsert(session, fake, "Grace Hopper"))[0] == 201


async def test_deleted_contacts_are_not_matched(
    fake: FakeBillabex, session: aiohttp.ClientSession
) -> None:
    contact = fake.add_contact(fake.account_id, full_name="Grace Hopper", email="g@navy.mil")
    fake.remove_contact(fake.account_id, contact.id)
    status, body = await upsert(session, fake, "Grace Hopper", "g@navy.mil")
    assert status == 201
    assert body["id"] != str(contact.id)


async def test_matching_in_a_large_account(
    fake: FakeBillabex, session: aiohttp.ClientSession
) -> None:
    fake.seed_contacts(fake.account_id, 10_000)
    seeded = fake.contacts(fake.account_id)
    target = seeded[4321]
    assert target.email is not None
    status, body = await upsert(session, fake, target.full_name, target.email.address.upper())
    assert (status, body["id"]) == (200, str(target.id))
    status, _ = await upsert(session, fake, "Zz Completely Unrelated Name")
    assert status == 201
    assert len(fake.contacts(fake.account_id)) == 10_001


# -- matching variants: servers that match differently from the documented reading


async def test_casefold_matching_folds_sharp_s_where_lower_does_not(
    session: aiohttp.ClientSession,
) -> None:
    async with FakeBillabex(rate_limit=None) as documented:
        documented.add_contact(documented.account_id, full_name="Hans Groß")
        assert (await upsert(session, documented, "HANS GROSS"))[0] == 201
    async with FakeBillabex(rate_limit=None, matching=Matching(fold="casefold")) as folding:
        hans = folding.add_contact(folding.account_id, full_name="Hans Groß")
        status, body = await upsert(session, folding, "HANS GROSS")
        assert (status, body["id"]) == (200, str(hans.id))
        assert [c.full_name for c in folding.contacts(folding.account_id)] == ["HANS GROSS"]


async def test_ties_can_go_to_the_newest_contact(
    fake: FakeBillabex, session: aiohttp.ClientSession
) -> None:
    fake.matching = Matching(ties="newest")
    fake.add_contact(fake.account_id, full_name="Maria Garcia Lopez", email="a@example.org")
    newest = fake.add_contact(fake.account_id, full_name="Maria Garcia Lopes")
    _, body = await upsert(session, fake, "Maria Garcia Lopee")  # distance 1 from both
    assert body["id"] == str(newest.id)


async def test_duplicate_emails_follow_the_tie_rule(
    fake: FakeBillabex, session: aiohttp.ClientSession
) -> None:
    oldest = fake.add_contact(fake.account_id, full_name="Ann Old", email="dup@example.org")
    newest = fake.add_contact(fake.account_id, full_name="Ann New", email="DUP@example.org")
    assert (await upsert(session, fake, "X", "dup@example.org"))[1]["id"] == str(oldest.id)
    fake.matching = Matching(ties="newest")
    assert (await upsert(session, fake, "Y", "dup@example.org"))[1]["id"] == str(newest.id)


async def test_any_qualifying_name_when_the_closest_need_not_win(
    fake: FakeBillabex, session: aiohttp.ClientSession
) -> None:
    farther = fake.add_contact(fake.account_id, full_name="Jonathan Smythe")  # distance 2
    closest = fake.add_contact(fake.account_id, full_name="Jonathan Smyth")  # distance 1
    assert (await upsert(session, fake, "Jonathan Smith"))[1]["id"] == str(closest.id)
    fake.matching = Matching(closest=False)
    # The closest is now named exactly "Jonathan Smith"; the oldest qualifying wins anyway.
    assert (await upsert(session, fake, "Jonathan Smith"))[1]["id"] == str(farther.id)


@pytest.mark.parametrize(
    ("matching", "sent", "matches"),
    [
        (Matching(), "Jonatan Smithrs", True),  # distance 2 of "Jonathan Smithers"
        (Matching(max_distance=1), "Jonatan Smithrs", False),  # stricter
        (Matching(max_distance=3, share=0.25), "Jonatan Smthrs", True),  # looser: 3 edits
        (Matching(share=0.0), "jonathan smithers", True),  # exact only, case still ignored
        (Matching(share=0.0), "Jonathan Smithrs", False),
    ],
)
async def test_the_distance_bound_is_configurable(
    fake: FakeBillabex,
    session: aiohttp.ClientSession,
    matching: Matching,
    sent: str,
    matches: bool,
) -> None:
    fake.matching = matching
    contact = fake.add_contact(fake.account_id, full_name="Jonathan Smithers")
    status, body = await upsert(session, fake, sent)
    assert (status == 200, body["id"] == str(contact.id)) == (matches, matches)


async def test_changing_the_rules_keeps_existing_contacts_matchable(
    fake: FakeBillabex, session: aiohttp.ClientSession
) -> None:
    first = fake.add_contact(fake.account_id, full_name="Grace Hopper", email="g@navy.mil")
    fake.matching = Matching(fold="casefold", ties="newest")
    assert fake.matching == Matching(fold="casefold", ties="newest")
    assert (await upsert(session, fake, "Someone", "G@NAVY.MIL"))[1]["id"] == str(first.id)
    fake.matching = Matching()
    assert fake.matching.documented
    assert (await upsert(session, fake, "someone"))[1]["id"] == str(first.id)


def test_invalid_rules_are_refused() -> None:
    with pytest.raises(ValueError, match="max_distance"):
        Matching(max_distance=-1)
    with pytest.raises(ValueError, match="share"):
        Matching(share=1.5)
