"""Transport layer: known secrets taken out of server text before it reaches a message."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import quote, quote_plus

__all__ = ["REDACTED", "redact"]

REDACTED = "***"  # not "[redacted]": rich (the CLI) would read that as markup
# Shorter strings are not secrets worth hiding, and replacing them would
# mangle ordinary words of the server's message.
_MIN_SECRET = 4


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every occurrence of each secret replaced by ``***``.

    Their URL-encoded forms too: a server may echo the form it was sent. The
    longest go first, so a secret that contains another is hidden whole.
    """
    forms: set[str] = set()
    for secret in secrets:
        if secret and len(secret) >= _MIN_SECRET:
            forms.update((secret, quote(secret, safe=""), quote_plus(secret)))
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, REDACTED)
    return text
