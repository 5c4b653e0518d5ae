"""What the delete question shows of a name: every character visible, nothing interpreted."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from billabex_async.cli._consent import printable


@given(st.text())
def test_a_shown_name_holds_no_control_character(name: str) -> None:
    shown = printable(name)
    assert shown.isprintable()
    assert len(shown) >= len(name)


@given(st.text(st.characters(categories=["L", "M", "N", "P", "S"]) | st.just(" ")))
def test_a_printable_name_is_shown_as_it_is(name: str) -> None:
    assert printable(name) == name


def test_escapes_are_spelled_out() -> None:
    assert printable("Evil \x1b[31mName\n") == "Evil \\x1b[31mName\\n"
    assert printable("Zoë\u202eevil") == "Zoë\\u202eevil"  # a right-to-left override
