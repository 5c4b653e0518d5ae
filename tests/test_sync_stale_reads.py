"""contacts.sync on stale lists (FakeBillabex(read_lag=N)): extra requests, never extra contacts.

Billabex warns its reads can lag its writes. A sync that re-runs right after
another lists a stale account and re-sends upserts for contacts that already
exist; the server matches them (email, then fuzzy name), so the account must
still end with exactly the desired contacts.
"""

from __future__ import annotations

import random
import string

from hypothesis import example, given, settings
from hypothesis import strategies as st

from billabex_async import BillabexClient, ContactUpsert
from billabex_async.testing import FakeBillabex

Key = tuple[str, str | None, str]


def people(n: int, seed: int, email_share: float = 0.8) -> list[ContactUpsert]:
    """``n`` distinct people; names are random letters, so no two fuzzy-match."""
    rng = random.Random(seed)

    def word(k: int) -> str:
        return "".join(rng.choices(string.ascii_lowercase, k=k)).title()

    return [
        ContactUpsert(
            full_name=f"{word(9)} {word(8)}",
            language="en",
            email=f"person{i}@example.com" if rng.random() < email_share else None,
        )
        for i in range(n)
    ]


def key(full_name: str, email: str | None, language: str) -> Key:
    return (full_name, email, language)


def stored(fake: FakeBillabex) -> list[Key]:
    return sorted(
        key(c.full_name, c.email.address if c.email else None, c.language)
        for c in fake.contacts(fake.account_id)
    )


def wanted(items: list[ContactUpsert]) -> list[Key]:
    return sorted(key(i.full_name, i.email, i.language) for i in items)


async def test_a_re_run_on_stale_lists_resends_upserts_but_creates_nothing_twice() -> None:
    desired = people(200, seed=1)
    async with (
        FakeBillabex(rate_limit=None, read_lag=10, seed=3) as fake,
        BillabexClient(token=fake.token, base_url=fake.url, rate_limit=None) as client,
    ):
        first = await client.contacts.sync(fake.account_id, desired)
        assert (first.created, first.failed, fake.stats.requests) == (200, [], 201)
        fake.reset_stats()
        # Right after: the list shows none of the 200, so every one is sent again...
        again = await client.contacts.sync(fake.account_id, desired)
        assert again.failed == []
        upserts = [r for r in fake.requests[201:] if r.method == "PUT"]
        assert len(upserts) == 200
        assert {r.status for r in upserts} == {200}  # ...and every one is matched
        assert stored(fake) == wanted(desired)
        # Once the list catches up, a run sends only its list requests.
        fake.settle_reads()
        fake.reset_stats()
        settled = await client.contacts.sync(fake.account_id, desired)
        assert (settled.unchanged, fake.stats.requests) == (200, 3)
        assert stored(fake) == wanted(desired)


_POOL = people(12, seed=7, email_share=0.6)


def identities(keys: list[Key]) -> list[tuple[str, str | None]]:
    return sorted((full_name, email) for full_name, email, _ in keys)


@settings(max_examples=25, deadline=None)
@given(
    lag=st.integers(0, 4),
    runs=st.lists(
        st.lists(st.tuples(st.integers(0, len(_POOL) - 1), st.sampled_from(["en", "fr"]))),
        min_size=1,
        max_size=4,
    ),
)
# A value changed and changed back within the lag: the stale page shows the
# old value, which equals the desired one, so that run sends nothing.
@example(lag=1, runs=[[(0, "fr")], [(0, "en")], [(0, "fr")]])
async def test_successive_syncs_on_stale_lists_keep_each_person_once(
    lag: int, runs: list[list[tuple[int, str]]]
) -> None:
    """Each run sends some people (some in another language). Without deletes the
    account holds every person ever sent, once, after every run. Stale pages can
    hide a change (a run may skip an update its page shows as done), so the values
    are as last sent only after the pages catch up and one more run."""
    last: dict[int, ContactUpsert] = {}
    async with (
        FakeBillabex(rate_limit=None, read_lag=lag, seed=3) as fake,
        BillabexClient(token=fake.token, base_url=fake.url, rate_limit=None) as client,
    ):
        for run in runs:
            chosen = dict(run)  # one item per person: its last language in the run
            items = [
                ContactUpsert(full_name=_POOL[p].full_name, language=language, email=_POOL[p].email)
                for p, language in chosen.items()
            ]
            result = await client.contacts.sync(fake.account_id, items, delete_missing=False)
            assert result.failed == []
            last.update(zip(chosen, items, strict=True))
            assert identities(stored(fake)) == identities(wanted(list(last.values())))
        fake.settle_reads()
        await client.contacts.sync(fake.account_id, list(last.values()))
        assert stored(fake) == wanted(list(last.values()))


async def test_delete_missing_on_a_stale_list_keeps_the_contact_an_upsert_renamed() -> None:
    """The stale page shows an old email; the server matches the current one.

    Run 1 moves Alice to a new address. Run 2, on a list that has not caught up,
    renames her: the plan (old address on the page) predicts a create plus a
    delete of Alice, but the server's upsert matches her by her current email
    and answers with her id, so that delete must not be sent.
    """
    async with (
        FakeBillabex(rate_limit=None, read_lag=10, seed=5) as fake,
        BillabexClient(token=fake.token, base_url=fake.url, rate_limit=None) as client,
    ):
        alice = fake.add_contact(
            fake.account_id, full_name="Alice Martin", email="alice@old.example"
        )
        fake.settle_reads()
        first = [ContactUpsert(full_name="Alice Martin", language="en", email="alice@new.example")]
        await client.contacts.sync(fake.account_id, first, delete_missing=True)
        renamed = [
            ContactUpsert(full_name="Alicia Stone", language="en", email="alice@new.example")
        ]
        result = await client.contacts.sync(fake.account_id, renamed, delete_missing=True)
        held = fake.contacts(fake.account_id)
    assert [(c.id, c.full_name) for c in held] == [(alice.id, "Alicia Stone")]
    assert result.deleted == 0
    assert result.kept == 1
    assert "DELETE" not in [r.method for r in fake.requests]
