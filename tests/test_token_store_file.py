"""FileTokenStore shared by two CLIs: a refresh reads the file first, and again after invalid_grant.

Against the simulator's OAuth server, whose refresh tokens rotate on every use.
"""

from __future__ import annotations

import time
from pathlib import Path

import attrs
import pytest

from billabex_async import BillabexClient
from billabex_async.auth import (
    Credentials,
    FileTokenStore,
    InvalidGrantError,
    OAuthTokenProvider,
)
from billabex_async.testing import FakeBillabex

from ._login import sign_in
from ._rotation import rotate, token_calls


@attrs.define
class SavedAfterFirstRead:
    """The file as a second CLI shares it: its save lands right after our first read.

    ``winner`` is what that CLI got for the refresh token it already spent.
    """

    inner: FileTokenStore
    winner: Credentials
    reads: int = 0

    def load(self) -> Credentials | None:
        stored = self.inner.load()
        self.reads += 1
        if self.reads == 1:
            self.inner.save(self.winner)
        return stored

    def save(self, credentials: Credentials) -> None:
        self.inner.save(credentials)

    def clear(self) -> None:
        self.inner.clear()


async def test_a_second_cli_reads_the_first_ones_refresh_instead_of_spending_its_own(
    tmp_path: Path,
) -> None:
    async with FakeBillabex(rate_limit=None) as fake:
        store = FileTokenStore(tmp_path / "credentials.json")
        store.save(await sign_in(fake))
        first = OAuthTokenProvider.from_store(store)
        second = OAuthTokenProvider.from_store(store)
        rejected = first.credentials.tokens.access_token
        token = await first.refresh(rejected)  # a 401: the first CLI refreshes and saves
        assert await second.refresh(rejected) == token  # the second reads it from the file
        assert (first.refreshes, second.refreshes) == (1, 0)
        assert token_calls(fake) == [200, 200]  # the login, one refresh


async def test_a_lost_rotation_race_continues_with_the_file(tmp_path: Path) -> None:
    async with FakeBillabex(rate_limit=None) as fake:
        path = tmp_path / "credentials.json"
        creds = await sign_in(fake)
        FileTokenStore(path).save(creds)
        winner = await rotate(fake, creds)  # the other CLI spent it; its save is on the way
        provider = OAuthTokenProvider(
            creds, store=SavedAfterFirstRead(FileTokenStore(path), winner)
        )
        token = await provider.refresh(creds.tokens.access_token)
        assert token == winner.tokens.access_token
        assert provider.credentials == winner
        assert provider.refreshes == 0
        assert token_calls(fake) == [200, 200, 400]  # the login, the winner, ours refused
        async with BillabexClient(provider, base_url=fake.url, rate_limit=None) as client:
            await client.contacts.list(fake.account_id)


async def test_a_stale_winner_is_refreshed_with_its_refresh_token(tmp_path: Path) -> None:
    async with FakeBillabex(rate_limit=None) as fake:
        path = tmp_path / "credentials.json"
        creds = await sign_in(fake)
        FileTokenStore(path).save(creds)
        winner = await rotate(fake, creds)
        # The other CLI ran long ago: its access token has expired since.
        winner = attrs.evolve(winner, tokens=attrs.evolve(winner.tokens, expires_at=time.time()))
        provider = OAuthTokenProvider(
            creds, store=SavedAfterFirstRead(FileTokenStore(path), winner)
        )
        token = await provider.refresh(creds.tokens.access_token)
        assert provider.refreshes == 1
        assert token_calls(fake) == [200, 200, 400, 200]  # ... and ours with the winner's
        stored = FileTokenStore(path).load()
        assert stored is not None
        assert stored.tokens.access_token == token


async def test_a_spent_token_and_an_unchanged_file_is_invalid_grant(tmp_path: Path) -> None:
    async with FakeBillabex(rate_limit=None) as fake:
        store = FileTokenStore(tmp_path / "credentials.json")
        creds = await sign_in(fake)
        store.save(creds)
        provider = OAuthTokenProvider.from_store(store)
        await rotate(fake, creds)  # spent by a CLI that crashed before saving
        with pytest.raises(InvalidGrantError):
            await provider.refresh(creds.tokens.access_token)
        assert store.load() == creds


async def test_another_logins_file_is_never_taken(tmp_path: Path) -> None:
    async with FakeBillabex(rate_limit=None) as fake:
        store = FileTokenStore(tmp_path / "credentials.json")
        ours = await sign_in(fake)
        store.save(attrs.evolve(await sign_in(fake), client_id="someone-else"))
        provider = OAuthTokenProvider(ours, store=store)
        token = await provider.refresh(ours.tokens.access_token)
        assert provider.refreshes == 1
        assert provider.credentials.client_id == fake.oauth_client_id
        stored = store.load()
        assert stored is not None
        assert stored.tokens.access_token == token  # ours, saved over it as before
