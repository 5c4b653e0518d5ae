"""FakeBillabex(token=..., account_id=...): fixed credentials, checked before anything starts."""

from __future__ import annotations

import pytest

from billabex_async import BillabexClient
from billabex_async.errors import AuthenticationError
from billabex_async.testing import FakeBillabex

ACCOUNT = "3F2504E0-4F89-41D3-9A0C-0305E82C3301"


async def test_the_given_token_and_account_are_the_fakes() -> None:
    async with FakeBillabex(token="fixed_Token-1.~+/==", account_id=ACCOUNT, seed=3) as fake:
        assert fake.token == "fixed_Token-1.~+/=="
        assert fake.account_id == ACCOUNT.lower()
        async with BillabexClient("fixed_Token-1.~+/==", base_url=fake.url) as client:
            await client.contacts.upsert(ACCOUNT, full_name="Ada Lovelace", language="en")
        [ada] = fake.contacts(ACCOUNT.lower())
        assert ada.full_name == "Ada Lovelace"
        # Only the given token is valid: no random one beside it.
        async with BillabexClient("bbx_fake_other", base_url=fake.url, max_retries=0) as client:
            with pytest.raises(AuthenticationError):
                await client.contacts.get(ACCOUNT, ada.id)


async def test_two_fakes_with_the_same_options_answer_the_same_credentials() -> None:
    async with (
        FakeBillabex(token="same-token", account_id=ACCOUNT) as first,
        FakeBillabex(token="same-token", account_id=ACCOUNT) as second,
    ):
        for fake in (first, second):
            async with BillabexClient("same-token", base_url=fake.url) as client:
                await client.contacts.create(ACCOUNT, full_name="Grace Hopper", language="en")
            assert [c.full_name for c in fake.contacts(ACCOUNT)] == ["Grace Hopper"]


def test_without_options_the_token_and_account_are_new_each_time() -> None:
    first, second = FakeBillabex(), FakeBillabex()
    assert first.token != second.token
    assert first.account_id != second.account_id


@pytest.mark.parametrize(
    "token", ["", "has space", "tab\there", "café", 'quote"d', "=leading", "bearer,two"]
)
def test_a_token_no_client_could_send_is_refused(token: str) -> None:
    with pytest.raises(ValueError, match="token must be letters, digits"):
        FakeBillabex(token=token)


@pytest.mark.parametrize("account_id", ["", "acct-1", "3f2504e0-4f89-41d3-9a0c", ACCOUNT + "0"])
def test_an_account_id_that_is_not_a_uuid_is_refused(account_id: str) -> None:
    with pytest.raises(ValueError, match="account_id must be a UUID"):
        FakeBillabex(account_id=account_id)
