"""CLI layer: text from the server or a file made safe for a terminal: no escapes, no markup.

Contact names, error messages and notes come from the server or the user's
file. A terminal would obey the escape sequences inside them (colours,
cursor moves, a window title, a hyperlink) and rich would read ``[/x]`` as
markup. Every such text goes through ``clean`` and is printed as a ``Text``,
never as a markup string.
"""

from __future__ import annotations

import json
import re

from rich.text import Text

__all__ = ["clean", "json_line", "label", "plain"]

# Whole sequences first, so no half of one (``[31m``) is left on the screen:
# CSI (ESC [ or the 8-bit 0x9B) with its parameters and final byte; OSC, DCS,
# SOS, PM and APC strings up to their terminator (BEL or ST) or the end of the
# text; then any other two-character ESC sequence.
_SEQUENCES = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f]).*?(?:\x07|\x1b\\|\x9c|$)"
    r"|\x1b[ -~]?",
    re.DOTALL,
)
# What is left: C0 and C1 controls, DEL, and the bidirectional overrides
# that reorder how a line reads (Trojan Source). Tabs and line breaks become
# spaces, so one record stays on one line.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_BREAKS = str.maketrans({"\t": " ", "\n": " ", "\r": " "})
_TABS = str.maketrans({"\t": " ", "\r": ""})
# JSON escapes C0 itself; these it leaves raw with ensure_ascii=False.
_JSON_ESCAPES = {code: f"\\u{code:04x}" for code in (*range(0x7F, 0xA0), *range(0x202A, 0x202F))}
_JSON_ESCAPES.update({code: f"\\u{code:04x}" for code in range(0x2066, 0x206A)})


def clean(text: object, *, lines: bool = False) -> str:
    """``str(text)`` without terminal escape sequences or control characters.

    On one line, unless ``lines`` keeps its line breaks (a list of problems).
    """
    text = str(text).translate(_TABS if lines else _BREAKS)
    return _CONTROLS.sub("", _SEQUENCES.sub("", text))


def plain(text: object, style: str = "") -> Text:
    """``text`` cleaned, as a rich ``Text``: printed as it is, never read as markup."""
    return Text(clean(text), style=style)


def label(head: str, detail: object, style: str = "red", *, lines: bool = False) -> Text:
    """``head`` styled, then ``detail`` cleaned: an error line with the data kept inert.

    With ``lines``, ``detail`` keeps its line breaks and starts on the next line.
    """
    return Text.assemble((head, style), "\n" if lines else " ", clean(detail, lines=lines))


def json_line(value: object) -> str:
    """``value`` as one line of JSON; characters a terminal could obey are ``\\u`` escapes.

    The JSON means the same (a parser reads the escapes back): only the bytes
    that reach the terminal change.
    """
    return json.dumps(value, ensure_ascii=False).translate(_JSON_ESCAPES)
