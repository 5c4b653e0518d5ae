"""Idempotency end to end: the client against FakeBillabex with faults that apply
a write and then lose its answer. A keyed create is retried and applied once; with
idempotent_creates=False it raises OutcomeUnknownError carrying what to resend."""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from billabex_async import BillabexClient, ContactCreate, errors
from billabex_async.resources.contacts import write_body
from billabex_async.testing import FakeBillabex, RequestRecord

from ._scripted import Sleeps

README = Path(__file__).resolve().parent.parent / "README.md"


@pytest.fixture
async def fake() -> AsyncIterator[FakeBillabex]:
    async with FakeBillabex(rate_limit=None, seed=11) as fake:
        yield fake


def client_for(fake: FakeBillabex, **kwargs: Any) -> BillabexClient:
    kwargs.setdefault("max_retries", 4)
    client = BillabexClient(fake.token, base_url=fake.url, rate_limit=None, **kwargs)
    client._transport._sleep = Sleeps()  # backoff on virtual time
    return client


def writes(fake: FakeBillabex) -> list[RequestRecord]:
    return [r for r in fake.requests if r.method != "GET"]


@pytest.mark.parametrize(
    ("kind", "status"), [("reset_after", 503), ("status_after", 502), ("status_after", 504)]
)
async def test_a_create_applied_then_lost_returns_the_one_contact(
    fake: FakeBillabex, kind: Any, status: int
) -> None:
    fake.script(method="POST", kind=kind, status=status, times=2)
    async with client_for(fake) as client:
        created = await client.contacts.create(fake.account_id, full_name="Ada", language="en")
    assert fake.contacts(fake.account_id) == [created]  # exactly one, and that one
    log = writes(fake)
    assert len(log) == 3
    assert len({r.idempotency_key for r in log}) == 1  # the same key on every attempt
    assert log[0].idempotency_key is not None
    assert [r.replayed for r in log] == [False, True, True]
    assert log[-1].status == 201  # the first answer, replayed


async def test_without_idempotent_creates_the_unknown_outcome_is_raised_with_key_and_body(
    fake: FakeBillabex,
) -> None:
    fake.script(method="POST", kind="reset_after")
    async with client_for(fake, idempotent_creates=False) as client:
        with pytest.raises(errors.OutcomeUnknownError) as caught:
            await client.contacts.create(
                fake.account_id, full_name="Ada", language="en", email="ada@example.com"
            )
        [sent] = writes(fake)  # not retried
        [applied] = fake.contacts(fake.account_id)  # ...though it was applied
        error = caught.value
        assert error.idempotency_key == sent.idempotency_key
        assert error.body is not None
        assert json.loads(error.body) == sent.body
        model = ContactCreate(full_name="Ada", language="en", email="ada@example.com")
        assert error.body == write_body(model)
        assert "ada@example.com" not in str(error)
        assert "ada@example.com" not in repr(error)
        # Sending the same key and body again finishes the job without a duplicate.
        again = await client.contacts.create(
            fake.account_id, model, idempotency_key=error.idempotency_key
        )
    assert again == applied
    assert fake.contacts(fake.account_id) == [applied]
    assert writes(fake)[-1].replayed


async def test_out_of_retries_the_create_raises_outcome_unknown_and_holds_one(
    fake: FakeBillabex,
) -> None:
    fake.script(method="POST", kind="reset_after", times=10)
    async with client_for(fake, max_retries=2) as client:
        with pytest.raises(errors.OutcomeUnknownError) as caught:
            await client.contacts.create(fake.account_id, full_name="Ada", language="en")
    log = writes(fake)
    assert len(log) == 3
    assert {r.idempotency_key for r in log} == {caught.value.idempotency_key}
    assert len(fake.contacts(fake.account_id)) == 1  # applied once, replayed twice


async def test_a_server_that_ignores_keys_duplicates_a_retried_create(fake: FakeBillabex) -> None:
    """Why the switch exists: the retry is only as safe as the server's keys."""
    async with FakeBillabex(rate_limit=None, idempotency_window=None) as careless:
        careless.script(method="POST", kind="reset_after")
        async with client_for(careless) as client:
            await client.contacts.create(careless.account_id, full_name="Ada", language="en")
        assert len(careless.contacts(careless.account_id)) == 2
        careless.script(method="POST", kind="reset_after")
        async with client_for(careless, idempotent_creates=False) as client:
            with pytest.raises(errors.OutcomeUnknownError):
                await client.contacts.create(careless.account_id, full_name="Bo", language="en")
        assert len(careless.contacts(careless.account_id)) == 3  # one more, not two


async def test_update_and_delete_applied_then_lost_are_replayed_not_reapplied(
    fake: FakeBillabex,
) -> None:
    ada = fake.add_contact(fake.account_id, full_name="Ada", language="en")
    fake.script(method="PATCH", kind="status_after", status=502)
    fake.script(method="DELETE", kind="reset_after")
    async with client_for(fake) as client:
        updated = await client.contacts.update(fake.account_id, ada.id, notes="first")
        await client.contacts.delete(fake.account_id, ada.id)
    assert updated.notes == "first"
    assert fake.contacts(fake.account_id) == []
    log = writes(fake)
    assert [(r.method, r.status, r.replayed) for r in log] == [
        ("PATCH", 502, False),
        ("PATCH", 200, True),
        ("DELETE", None, False),
        ("DELETE", 204, True),  # the first answer, not a 404
    ]
    assert log[0].idempotency_key == log[1].idempotency_key != log[2].idempotency_key
    assert log[2].idempotency_key == log[3].idempotency_key


async def test_a_reused_key_with_another_body_is_a_conflict(fake: FakeBillabex) -> None:
    async with client_for(fake) as client:
        await client.contacts.create(
            fake.account_id, full_name="Ada", language="en", idempotency_key="job-7"
        )
        with pytest.raises(errors.ConflictError) as caught:
            await client.contacts.create(
                fake.account_id, full_name="Grace", language="en", idempotency_key="job-7"
            )
    assert caught.value.code == "app-core.idempotency.key-reused"
    assert [c.full_name for c in fake.contacts(fake.account_id)] == ["Ada"]


async def test_the_readme_resend_example_finishes_the_job(fake: FakeBillabex) -> None:
    blocks: list[str] = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    [block] = [b for b in blocks if "OutcomeUnknownError as e" in b]
    source = "async def snippet(client, account_id, model):\n" + textwrap.indent(block, "    ")
    source += "    return contact\n"
    namespace: dict[str, Any] = {"errors": errors}
    exec(source, namespace)  # noqa: S102
    fake.script(method="POST", kind="reset_after")
    model = ContactCreate(full_name="Ada", language="en")
    async with client_for(fake, idempotent_creates=False) as client:
        contact = await namespace["snippet"](client, fake.account_id, model)
    assert fake.contacts(fake.account_id) == [contact]
