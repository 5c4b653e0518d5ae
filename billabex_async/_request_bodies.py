"""Converter layer: a request model's JSON text, written by a function compiled for the model.

Every write sends ``encode_json(unstructure(model))``: cattrs' hook builds a
dict of the fields not at their default, and the JSON encoder walks it. For
the values a checked write holds (``str``, ``None``, ``True``, ``False``,
``UNSET`` where it is the default), ``compile_writer`` gives a function that
writes the same text directly: each field in attrs order, left out at its
default, strings escaped by the very function the encoder uses
(``encode_basestring_ascii``), keys and separators as ``encode_json`` writes
them. It returns None for any other value (a ``str`` subclass, a number, a
misplaced ``UNSET``), and the caller takes the general path.
"""

from __future__ import annotations

from collections.abc import Callable
from json.encoder import encode_basestring_ascii
from typing import Any

import attrs

from billabex_async._types import UNSET

__all__ = ["compile_writer"]

Writer = Callable[[Any], "str | None"]


def compile_writer(cls: type) -> Writer | None:
    """The JSON text of a request model (``UNSET`` defaults), or None where it cannot tell.

    None (no function at all) for a class that is not a request model, or
    has a default other than ``UNSET`` or ``None``.
    """
    if not attrs.has(cls):
        return None
    fields = attrs.fields(cls)
    if not any(f.default is UNSET for f in fields):
        return None  # a response model: unstructured with every field, nested ones too
    names: dict[str, object] = {"_esc": encode_basestring_ascii, "UNSET": UNSET}
    lines = ["s = ''"]
    for field in fields:
        wire = field.metadata.get("wire", field.name)
        if not isinstance(wire, str) or not field.name.isidentifier():
            return None
        lines.append(f"v = m.{field.name}")
        indent = ""
        if field.default is UNSET or field.default is None:
            # cattrs leaves a field out when it equals its default; for the
            # values taken here, equal to UNSET or None means being it.
            lines.append(f"if v is not {'UNSET' if field.default is UNSET else 'None'}:")
            indent = "    "
        elif field.default is not attrs.NOTHING:
            return None
        lines += [
            f"{indent}if type(v) is str: v = _esc(v)",
            f"{indent}elif v is None: v = 'null'",
            f"{indent}elif v is True: v = 'true'",
            f"{indent}elif v is False: v = 'false'",
            f"{indent}else: return None",
            f"{indent}s += {',' + encode_basestring_ascii(wire) + ':'!r} + v",
        ]
    lines.append("return '{' + s[1:] + '}'")  # s[1:]: without the first field's comma
    body = "\n".join(f"    {line}" for line in lines)
    source = f"def body_{cls.__name__}(m):\n{body}\n"
    filename = f"<compiled body {cls.__module__}.{cls.__qualname__}>"
    exec(compile(source, filename, "exec"), names)  # noqa: S102 - our own source, from the model
    writer: Writer = names[f"body_{cls.__name__}"]  # type: ignore[assignment]
    return writer
