"""Tokens and base URLs are checked when the client is built, and never echoed."""

from __future__ import annotations

import pytest

from billabex_async import BillabexClient, errors

from ._scripted import ACCOUNT, CONTACT, reply
from .conftest import TOKEN, ScriptedServer


@pytest.mark.parametrize("raw", [TOKEN + "\n", f"  {TOKEN}\r\n", f"\t{TOKEN} ", "\ufeff" + TOKEN])
async def test_whitespace_around_a_token_is_dropped(scripted: ScriptedServer, raw: str) -> None:
    scripted.script(reply(204))
    async with BillabexClient(raw, base_url=scripted.url, rate_limit=None) as client:
        await client.contacts.delete(ACCOUNT, CONTACT)
    assert scripted.seen[0].headers["Authorization"] == f"Bearer {TOKEN}"


async def test_a_token_from_the_environment_with_a_newline_works(
    scripted: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BILLABEX_TOKEN", TOKEN + "\n")
    scripted.script(reply(204))
    async with BillabexClient(base_url=scripted.url, rate_limit=None) as client:
        await client.contacts.delete(ACCOUNT, CONTACT)
    assert scripted.seen[0].headers["Authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("sk-te\nst-7f3a9c1e5b2d", "U+000A at position 5"),
        ("sk-test\x00-7f3a9c1e5b2d", "U+0000"),
        ("sk-test 7f3a9c1e5b2d", "U+0020"),
        ("sk-test\u200b7f3a9c1e5b2d", "U+200B"),
        ("sk-tést-7f3a9c1e5b2d", "non-ASCII character at position 4"),
    ],
)
def test_a_token_a_header_cannot_carry_is_refused_unshown(raw: str, fragment: str) -> None:
    with pytest.raises(errors.InvalidRequestError) as caught:
        BillabexClient(raw)
    assert caught.value.field == "token"
    assert fragment in str(caught.value)
    for part in ("sk-te", "7f3a9c1e5b2d", "tést"):
        assert part not in str(caught.value)


def test_a_token_of_the_wrong_type_is_refused() -> None:
    with pytest.raises(errors.InvalidRequestError, match="string or a TokenProvider"):
        BillabexClient(b"sk-test")  # type: ignore[arg-type]


class _Provider:
    """A TokenProvider whose tokens the test picks; records what refresh was given."""

    def __init__(self, *tokens: object) -> None:
        self.tokens = list(tokens)
        self.rejected: list[str] = []

    async def get_token(self) -> str:
        return self.tokens[0]  # type: ignore[return-value]

    async def refresh(self, rejected: str) -> str:
        self.rejected.append(rejected)
        self.tokens.pop(0)
        return self.tokens[0]  # type: ignore[return-value]


@pytest.mark.parametrize("bad", ["sk-bad\x01token-77", "sk-bad token-77", None, 42, ""])
async def test_a_providers_bad_token_is_refused_before_sending(
    scripted: ScriptedServer, bad: object
) -> None:
    async with BillabexClient(_Provider(bad), base_url=scripted.url, rate_limit=None) as client:
        with pytest.raises(errors.InvalidRequestError) as caught:
            await client.contacts.delete(ACCOUNT, CONTACT)
    assert caught.value.field == "token"
    assert "provider" in str(caught.value)
    assert "sk-bad" not in str(caught.value)
    assert scripted.seen == []


async def test_a_providers_token_is_stripped_and_refresh_gets_it_back(
    scripted: ScriptedServer,
) -> None:
    provider = _Provider("old-token\n", "new-token\n")
    scripted.script(reply(401, {"message": "expired"}), reply(204))
    async with BillabexClient(provider, base_url=scripted.url, rate_limit=None) as client:
        await client.contacts.delete(ACCOUNT, CONTACT)
    assert [s.headers["Authorization"] for s in scripted.seen] == [
        "Bearer old-token",
        "Bearer new-token",
    ]
    assert provider.rejected == ["old-token\n"]  # the provider's own string


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("https://admin:hunter2@next.billabex.com", "user name or password"),
        ("https://:hunter2@next.billabex.com", "user name or password"),
        ("http://admin:hunter2@127.0.0.1:8080", "user name or password"),
        ("https://next.billabex.com/?tenant=1", "query or fragment"),
        ("https://next.billabex.com/#top", "query or fragment"),
        ("https://next.billabex.com/api?", "query or fragment"),
        ("http://[bad", "not a valid URL"),
        ("https://next.billabex.com:99999", "not a valid URL"),
        ("https://next billabex.com", "spaces or control characters"),
        ("https://next.billabex.com/\x00", "spaces or control characters"),
        ("ftp://next.billabex.com", "http(s) URL"),
        ("next.billabex.com", "http(s) URL"),
        ("http://next.billabex.com", "https"),
        ("http://127.0.0.1.nip.io", "https"),
    ],
)
def test_bad_base_urls_are_refused_without_their_password(url: str, fragment: str) -> None:
    with pytest.raises(errors.InvalidRequestError) as caught:
        BillabexClient("t", base_url=url)
    assert caught.value.field == "base_url"
    assert fragment in str(caught.value)
    assert "hunter2" not in str(caught.value)
    assert "admin" not in str(caught.value)


def test_loopback_http_and_surrounding_whitespace_are_fine() -> None:
    for url in ("http://127.0.0.2:8080", "http://localhost", " https://next.billabex.com/\n"):
        BillabexClient("t", base_url=url)
    client = BillabexClient("t", base_url=" https://next.billabex.com/\n")
    assert client.base_url == "https://next.billabex.com"
