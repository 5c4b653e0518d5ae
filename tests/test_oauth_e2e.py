"""OAuth end to end against the simulator: the browser login, then a bulk run
that outlives its access tokens, refreshing once per expiry."""

from __future__ import annotations

import random
import string
import time
from pathlib import Path

import pytest

from billabex_async import BillabexClient, ContactUpsert, RateLimit, errors
from billabex_async.auth import (
    Credentials,
    FileTokenStore,
    InvalidGrantError,
    OAuthError,
    OAuthTokenProvider,
    refresh_tokens,
)
from billabex_async.testing import FakeBillabex, VirtualClock

from ._login import Browser, sign_in


async def _login(fake: FakeBillabex, browser: Browser) -> Credentials:
    return await sign_in(fake, browser)


def _people(n: int) -> list[ContactUpsert]:
    rng = random.Random(5)
    return [
        ContactUpsert(
            full_name="".join(rng.choices(string.ascii_lowercase, k=12)).title(),
            language="en",
            email=f"p{i}@acme.test",
        )
        for i in range(n)
    ]


async def test_login_then_a_run_that_outlives_its_tokens(tmp_path: Path) -> None:
    # One virtual clock for the simulator, the client and the provider (which
    # reads unix seconds): the 1.5 s tokens expire in virtual time.
    clock = VirtualClock()
    epoch = time.time()
    async with FakeBillabex(
        rate_limit=RateLimit(40, 1.0), access_token_ttl=1.5, clock=clock
    ) as fake:
        browser = Browser()
        credentials = await _login(fake, browser)
        assert browser.landed == [200]
        assert credentials.tokens.refresh_token is not None

        store = FileTokenStore(tmp_path / "credentials.json")
        store.save(credentials)
        provider = OAuthTokenProvider.from_store(
            store, refresh_margin=0.5, clock=lambda: epoch + clock.time()
        )
        async with BillabexClient(
            provider, base_url=fake.url, rate_limit=RateLimit(40, 1.0), clock=clock
        ) as client:
            report = await client.contacts.bulk_upsert(fake.account_id, _people(160))
        # 160 requests at 40/s take about 4 s: the 1.5 s tokens expired several times.
        assert clock.time() >= 3.0
        assert report.succeeded == 160
        assert not report.failed
        assert fake.oauth.refreshes >= 2
        assert provider.refreshes == fake.oauth.refreshes  # one refresh per expiry
        assert 401 not in {r.status for r in fake.requests}  # refreshed ahead of expiry
        assert len(fake.contacts(fake.account_id)) == 160

        # The rotated refresh token was stored; the first one is dead.
        stored = store.load()
        assert stored is not None
        assert stored.tokens.refresh_token != credentials.tokens.refresh_token
        assert credentials.tokens.refresh_token is not None
        with pytest.raises(InvalidGrantError):
            await refresh_tokens(
                fake.url,
                client_id=fake.oauth_client_id,
                client_secret=fake.oauth_client_secret,
                refresh_token=credentials.tokens.refresh_token,
            )


async def test_an_expired_token_is_refreshed_once_on_401() -> None:
    async with FakeBillabex(rate_limit=None, access_token_ttl=0.0) as fake:
        credentials = await _login(fake, Browser())
        # A margin of 0 never refreshes ahead: the 401 path does the work.
        provider = OAuthTokenProvider(credentials, refresh_margin=-1e9)
        async with BillabexClient(provider, base_url=fake.url, rate_limit=None) as client:
            with pytest.raises(errors.AuthenticationError):
                # Tokens that are born expired: refresh once, replay, fail.
                await client.contacts.list(fake.account_id)
        assert fake.oauth.refreshes == 1
        api = [r.status for r in fake.requests if r.path.startswith("/api/public/")]
        assert api == [401, 401]


async def test_a_forged_state_aborts_the_login() -> None:
    async with FakeBillabex() as fake:
        browser = Browser(tamper_state=True)
        with pytest.raises(OAuthError, match="state"):
            await _login(fake, browser)
        assert browser.landed == [400]


async def test_denied_consent_is_a_clear_error() -> None:
    async with FakeBillabex() as fake:
        fake.oauth.deny = True
        with pytest.raises(OAuthError, match="consent was denied") as caught:
            await _login(fake, Browser())
        assert caught.value.error == "access_denied"
        assert fake.oauth_client_secret not in str(caught.value)
