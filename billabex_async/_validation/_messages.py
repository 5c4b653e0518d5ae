"""Validation layer: how a rejected value is shown in an error message."""

from __future__ import annotations

import reprlib

from billabex_async.errors import InvalidRequestError

__all__ = ["fail", "show"]

_SHOWN = 40  # characters of a rejected value quoted in a message


def show(value: object) -> str:
    """``repr(value)``, cut to a readable length for an error message."""
    if not isinstance(value, str):
        return reprlib.repr(value)  # bounded even for a huge list
    text = repr(value[:_SHOWN])
    if len(text) > 2 * _SHOWN:  # escapes (\x00) take four characters each
        text = text[: 2 * _SHOWN]
    if len(text) < len(repr(value)):
        text += f"... ({len(value)} characters)"
    return text


def fail(field: str, problem: str, value: object) -> InvalidRequestError:
    return InvalidRequestError(f"{field} {problem}, got {show(value)}", field=field)
