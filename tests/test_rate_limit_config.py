"""RateLimit refuses bad settings when it is built, and no repr, log line or error
shows the password of its storage URL."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from billabex_async import BillabexClient, RateLimit
from billabex_async._types import redact_url
from billabex_async.errors import BillabexError, InvalidRequestError, RateLimiterUnavailableError

from ._redis import closed_port_url

TOKEN = "sk-test-config-5d1e"
PASSWORD = "hunter2-s3cret"


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ((0, 1.0), "requests"),
        ((-5, 1.0), "requests"),
        ((1.5, 1.0), "requests"),
        (("300", 60.0), "requests"),
        ((True, 60.0), "requests"),
        ((float("inf"), 60.0), "requests"),
        ((300, 0), "window"),
        ((300, -1.0), "window"),
        ((300, float("nan")), "window"),
        ((300, float("inf")), "window"),
        ((300, "60"), "window"),
        ((300, None), "window"),
    ],
)
def test_bad_bounds_are_refused_when_built(args: tuple[Any, Any], field: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        RateLimit(*args)
    assert caught.value.field == field
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, BillabexError)


@pytest.mark.parametrize(
    "storage",
    [
        "http://localhost:6379/0",
        "redis://",
        "redis://host:port/0",
        "redis://host:99999/0",
        "redis://host/zero",
        "unix://",
        "Memory",
        "",
        f"redis://:{PASSWORD}@host:notaport/0",
    ],
)
def test_bad_storage_is_refused_when_built_and_the_message_hides_the_password(
    storage: str,
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        RateLimit(300, 60.0, storage=storage)
    assert caught.value.field == "storage"
    assert PASSWORD not in str(caught.value)


@pytest.mark.parametrize(
    "storage",
    ["memory", "redis://localhost:6379/0", "rediss://u:p@h:6380", "unix:///run/redis.sock"],
)
def test_usable_storage_is_accepted(storage: str) -> None:
    assert RateLimit(300, 60.0, storage=storage).storage == storage


def test_a_redis_option_redis_py_cannot_read_is_refused_when_the_client_is_built() -> None:
    pytest.importorskip("redis")
    storage = f"redis://:{PASSWORD}@cache.internal:6379/0?socket_timeout=soon"
    with pytest.raises(InvalidRequestError) as caught:
        BillabexClient(TOKEN, rate_limit=RateLimit(storage=storage))
    assert caught.value.field == "storage"
    assert PASSWORD not in str(caught.value)
    assert caught.value.__cause__ is None


def test_a_bad_storage_error_setting_is_refused() -> None:
    with pytest.raises(InvalidRequestError, match="on_storage_error"):
        RateLimit(on_storage_error="ignore")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "storage",
    [
        f"redis://:{PASSWORD}@cache.internal:6379/0",
        f"rediss://default:{PASSWORD}@cache.internal:6380/1",
        f"redis://cache.internal:6379/0?password={PASSWORD}",
    ],
)
def test_reprs_hide_the_storage_password(storage: str) -> None:
    rate_limit = RateLimit(300, 60.0, storage=storage)
    client = BillabexClient(TOKEN, rate_limit=rate_limit)
    for text in (repr(rate_limit), str(rate_limit), repr(client), repr(client.limiter)):
        assert PASSWORD not in text
        assert "cache.internal" in text  # still says where the window lives
    assert rate_limit.storage == storage  # the setting itself is intact


@given(password=st.text(min_size=1), user=st.sampled_from(["", "default", "ops"]))
def test_redact_url_never_shows_a_userinfo_password(password: str, user: str) -> None:
    quoted = quote(password, safe="")
    assume(len(quoted) >= 6)  # shorter ones may be part of the host or port by chance
    shown = redact_url(f"redis://{user}:{quoted}@cache.internal:6379/0")
    assert quoted not in shown
    assert shown == f"redis://{user}:***@cache.internal:6379/0"


def test_redact_url_leaves_urls_without_secrets_alone() -> None:
    for url in ("https://next.billabex.com", "redis://h:6379/0?db=1", "unix:///tmp/r.sock"):
        assert redact_url(url) == url


async def test_redis_errors_and_warnings_hide_the_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pytest.importorskip("redis")
    from billabex_async._ratelimit.redis.limiter import RedisLimiter

    url = closed_port_url().replace("redis://", f"redis://:{PASSWORD}@")
    caplog.set_level(logging.DEBUG, logger="billabex_async")
    raising = RedisLimiter(url, 5, 1.0, key="k" * 64, on_error="raise")
    falling_back = RedisLimiter(url, 5, 1.0, key="k" * 64)
    try:
        with pytest.raises(RateLimiterUnavailableError) as caught:
            await raising.acquire()
        await falling_back.acquire()  # on the local fallback, with one warning
        falling_back.release()
        with pytest.raises(RateLimiterUnavailableError) as probed:
            await falling_back.used()
    finally:
        await raising.aclose()
        await falling_back.aclose()
    assert "unreachable" in caplog.text
    for text in (str(caught.value), str(probed.value), caplog.text, repr(falling_back)):
        assert PASSWORD not in text


@pytest.mark.parametrize("bad", [300, "300/60", (300, 60.0)])
def test_a_rate_limit_that_is_not_a_rate_limit_is_a_typed_error(bad: object) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        BillabexClient("t", rate_limit=bad)  # type: ignore[arg-type]
    assert caught.value.field == "rate_limit"
