"""redact(): known secrets never survive in server text, whatever surrounds them."""

from __future__ import annotations

from urllib.parse import quote

from hypothesis import given
from hypothesis import strategies as st

from billabex_async._redact import REDACTED, redact

# (A "secret" that is part of the marker itself would be found again in the output.)
secrets = st.text(min_size=8, max_size=40).filter(lambda s: s not in REDACTED and REDACTED not in s)


@given(st.text(max_size=50), secrets, st.text(max_size=50))
def test_a_secret_inside_any_text_is_removed(before: str, secret: str, after: str) -> None:
    out = redact(before + secret + after, [secret])
    assert secret not in out
    assert REDACTED in out


@given(secrets)
def test_the_percent_encoded_form_is_removed_too(secret: str) -> None:
    out = redact(f"refresh_token={quote(secret, safe='')}&x=1", [secret])
    assert quote(secret, safe="") not in out
    assert secret not in out


@given(st.text(max_size=80))
def test_text_without_secrets_is_unchanged(text: str) -> None:
    assert redact(text, []) == text
    assert redact(text, ["", "short"]) == text  # too short to be a real secret


def test_several_secrets_and_overlaps() -> None:
    access, refresh = "sk-access-0123456789", "sk-access-0123456789-refresh"
    out = redact(f"a={access} r={refresh}", [access, refresh])
    assert out == f"a={REDACTED} r={REDACTED}"
