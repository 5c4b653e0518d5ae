"""Griffe extension for the API reference: reST literal markers read as Markdown.

The docstrings end a paragraph with ``::`` before an indented example (the
reST way, which ``help()`` shows as is). Markdown already reads the indented
block as code; only the marker would show, so the reference drops one colon.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

# "text::" at the end of a line that an indented block follows; a "::" alone
# on its line (the errors module's tree) goes entirely.
_ALONE = re.compile(r"^[ \t]*::[ \t]*$", flags=re.M)
_TRAILING = re.compile(r"(?<=\S)::[ \t]*$", flags=re.M)


class ReSTLiterals(griffe.Extension):
    """Rewrites each docstring's ``::`` markers before it is parsed."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None and "::" in obj.docstring.value:
            text = _ALONE.sub("", obj.docstring.value)
            obj.docstring.value = _TRAILING.sub(":", text)
