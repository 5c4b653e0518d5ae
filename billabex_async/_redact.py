"""Base layer: removing known secrets from text that came from elsewhere (a server)."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import quote

__all__ = ["REDACTED", "redact"]

REDACTED = "[REDACTED]"

# Shorter "secrets" would blank ordinary words; real tokens are far longer.
_MIN_SECRET_LENGTH = 8


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of each secret replaced by ``[REDACTED]``.

    A server that echoes what it received (``invalid token sk-...``) must not
    put the secret into our messages. Each secret is also matched in its
    percent-encoded form, as it appears in an echoed form body or URL.
    Secrets shorter than 8 characters are ignored.
    """
    forms: set[str] = set()
    for secret in secrets:
        if len(secret) >= _MIN_SECRET_LENGTH:
            forms.update((secret, quote(secret, safe=""), quote(secret, safe="/")))
    # Longest first, so a secret that contains another is replaced whole.
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, REDACTED)
    return text
