"""The proxy a client reads from the environment: once, with aiohttp's rules, never netrc."""

from __future__ import annotations

import pytest
from yarl import URL

from billabex_async import BillabexClient
from billabex_async._http._proxy import env_proxy

API = URL("https://api.example.com/api/public/v1")
PROXY = "http://127.0.0.1:3128"


@pytest.fixture(autouse=True)
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    return monkeypatch


def test_https_proxy_in_either_case_is_used(no_proxy_env: pytest.MonkeyPatch) -> None:
    assert env_proxy(API) is None
    no_proxy_env.setenv("HTTPS_PROXY", PROXY)
    assert env_proxy(API) == PROXY
    no_proxy_env.delenv("HTTPS_PROXY")
    no_proxy_env.setenv("https_proxy", PROXY)
    assert env_proxy(API) == PROXY


def test_http_proxy_alone_is_not_used_for_https(no_proxy_env: pytest.MonkeyPatch) -> None:
    no_proxy_env.setenv("HTTP_PROXY", PROXY)
    assert env_proxy(API) is None


def test_no_proxy_exempts_the_host(no_proxy_env: pytest.MonkeyPatch) -> None:
    no_proxy_env.setenv("HTTPS_PROXY", PROXY)
    no_proxy_env.setenv("NO_PROXY", "other.example, .example.com")
    assert env_proxy(API) is None
    no_proxy_env.setenv("NO_PROXY", "other.example")
    assert env_proxy(API) == PROXY
    no_proxy_env.setenv("NO_PROXY", "*")
    assert env_proxy(API) is None


def test_an_https_proxy_from_the_environment_is_ignored_without_echoing_it(
    no_proxy_env: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    no_proxy_env.setenv("HTTPS_PROXY", "https://user:hunter2@127.0.0.1:3128")
    assert env_proxy(API) is None
    assert "not supported" in caplog.text
    assert "hunter2" not in caplog.text


async def test_the_session_never_trusts_the_environment(
    no_proxy_env: pytest.MonkeyPatch,
) -> None:
    """aiohttp's trust_env would read ~/.netrc on every request: the proxy is resolved once."""
    no_proxy_env.setenv("HTTPS_PROXY", PROXY)
    async with BillabexClient("sk-test", rate_limit=None) as client:
        assert client._transport._sessions.get().trust_env is False
