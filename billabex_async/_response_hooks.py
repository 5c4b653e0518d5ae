"""Converter layer: structure functions compiled for the usual shape of each response model.

cattrs' generated hook for ``Contact`` gathers the optional fields in a dict,
calls one small hook per field and builds the instance through ``__init__``
with keywords; for the body every write gets back, that is most of the
client's own CPU per request. ``compile_hook`` writes, once per model, a
function that reads the wire keys straight into the instance's slots, and
takes only the bodies whose every value is already of the field's exact type
(a ``str`` for a ``str``, ``True``/``False``/``None`` for a ``bool | None``, a
known enum value...). For those, cattrs would build an equal instance from the
same values, unchanged. Anything else (a missing key, ``5`` for a name, an
unknown email status, a UUID in another spelling) raises ``Unusual`` or a
plain error, and the caller structures the body with cattrs as before, so
the wire rules and every error stay cattrs'. Unknown keys are never read.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from typing import Any, get_args, get_origin
from uuid import UUID, SafeUUID

import attrs

from billabex_async._types import OpenStrEnum

__all__ = ["Unusual", "compile_hook"]

Hook = Callable[[Any], Any]

_new = object.__new__
_setattr = object.__setattr__
_UUID_SLOTS = ("int", "is_safe", "__weakref__")  # what UUID.__init__ sets, on 3.11 to 3.14


class Unusual(Exception):
    """The body is not in the shape a compiled hook takes: cattrs structures it instead."""


def uuid_from_text(text: str) -> UUID:
    """``UUID(text)`` for a ``str``, without its Python-level parsing, or ``Unusual``.

    ``UUID()`` strips ``urn:``, ``uuid:`` and braces, removes the dashes and
    calls ``int(hex, 16)`` on the 32 characters left. ``int`` refuses ``:``,
    ``{`` and ``}``, so whenever it accepts the text without dashes, ``UUID()``
    would have stripped nothing else and read the same integer.
    """
    digits = text.replace("-", "")
    if len(digits) != 32:
        raise Unusual
    value = _new(UUID)
    _setattr(value, "int", int(digits, 16))
    _setattr(value, "is_safe", SafeUUID.unknown)
    return value


def _optional_inner(tp: Any) -> Any | None:
    """``X`` for ``X | None``, else None."""
    args = get_args(tp)
    if (
        get_origin(tp) in (typing.Union, types.UnionType)
        and len(args) == 2
        and None.__class__ in args
    ):
        return next(a for a in args if a is not None.__class__)
    return None


def _plain(cls: type) -> bool:
    """Built by ``__init__`` setting each field's slot, and nothing else: safe to fill directly."""
    if not isinstance(cls, type) or not attrs.has(cls) or cls.__new__ is not object.__new__:
        return False
    if hasattr(cls, "__attrs_post_init__") or hasattr(cls, "__attrs_pre_init__"):
        return False
    fields = attrs.fields(cls)
    names = {f.name for f in fields}
    slots = set(getattr(cls, "__slots__", ())) - {"__weakref__"}
    if slots != names:  # not slotted, or a hidden slot such as a cached hash
        return False
    return all(
        f.init
        and f.validator is None
        and f.converter is None
        and isinstance(cls.__dict__.get(f.name), types.MemberDescriptorType)
        for f in fields
    )


class _Writer:
    """The source of one compiled function and the names it closes over."""

    def __init__(self, hooks: dict[type, Hook | None]) -> None:
        self.hooks = hooks  # compiled so far, by class (None: cattrs only)
        self.names: dict[str, object] = {"Unusual": Unusual, "_new": _new}
        self.lines: list[str] = []

    def bind(self, name: str, value: object) -> str:
        self.names[name] = value
        return name

    def check(self, tp: Any, var: str, where: str, indent: str) -> bool:
        """Lines that check ``var`` is ``tp`` as is, or make it one; False if ``tp`` is unknown."""
        add = self.lines.append
        if tp is str:
            add(f"{indent}if type({var}) is not str: raise Unusual")
        elif tp is bool:
            add(f"{indent}if {var} is not True and {var} is not False: raise Unusual")
        elif tp is UUID:
            if UUID.__slots__ != _UUID_SLOTS:  # pragma: no cover - a future UUID layout
                return False
            add(f"{indent}if type({var}) is not str: raise Unusual")
            add(f"{indent}{var} = {self.bind('_uuid', uuid_from_text)}({var})")
        elif get_origin(tp) is list and len(get_args(tp)) == 1:
            hook = self.nested(get_args(tp)[0])
            if hook is None:
                return False
            add(f"{indent}if type({var}) is not list: raise Unusual")
            add(f"{indent}{var} = [{self.bind(f'_hook_{where}', hook)}(x) for x in {var}]")
        elif isinstance(tp, type) and issubclass(tp, OpenStrEnum):
            members = self.bind(f"_members_{where}", tp._value2member_map_)
            add(f"{indent}if type({var}) is not str: raise Unusual")
            # A value cattrs would keep as a new pseudo-member: left to cattrs.
            add(f"{indent}{var} = {members}[{var}]")
        else:
            hook = self.nested(tp)
            if hook is None:
                return False
            add(f"{indent}{var} = {self.bind(f'_hook_{where}', hook)}({var})")
        return True

    def nested(self, tp: Any) -> Hook | None:
        if not isinstance(tp, type):
            return None
        if tp not in self.hooks:
            compile_hook(tp, self.hooks)
        return self.hooks[tp]


def compile_hook(cls: type, hooks: dict[type, Hook | None] | None = None) -> Hook | None:
    """A function from a JSON-decoded body to a ``cls``, for bodies of the usual shape.

    It raises (``Unusual``, ``KeyError``, ``ValueError``...) on any other body;
    the caller then structures it with cattrs. None when ``cls`` has a field
    this cannot handle, or is not a plain slotted attrs class: cattrs only.
    ``hooks`` caches the functions by class (nested models reuse theirs).
    """
    hooks = {} if hooks is None else hooks
    hooks[cls] = None  # until compiled: a model that contains itself goes to cattrs
    if not _plain(cls):
        return None
    attrs.resolve_types(cls)  # the generated module uses postponed annotations
    writer = _Writer(hooks)
    add = writer.lines.append
    add("if type(o) is not dict: raise Unusual")
    add(f"c = _new({writer.bind('cls', cls)})")
    for field in attrs.fields(cls):
        wire = field.metadata.get("wire", field.name)
        if not isinstance(wire, str):
            return None
        name = field.name
        setter = writer.bind(f"_set_{name}", cls.__dict__[name].__set__)
        inner = _optional_inner(field.type)
        if field.default is attrs.NOTHING:
            add(f"v = o[{wire!r}]")  # a missing key: KeyError, and cattrs names it
        elif field.default is None and inner is not None:
            add(f"v = o.get({wire!r})")  # absent or null: the default
        else:
            return None
        if inner is None:
            if not writer.check(field.type, "v", name, ""):
                return None
        else:
            add("if v is not None:")
            if not writer.check(inner, "v", name, "    "):
                return None
        add(f"{setter}(c, v)")
    add("return c")
    body = "\n".join(f"    {line}" for line in writer.lines)
    source = f"def structure_{cls.__name__}(o):\n{body}\n"
    namespace = dict(writer.names)
    filename = f"<compiled structure {cls.__module__}.{cls.__qualname__}>"
    exec(compile(source, filename, "exec"), namespace)  # noqa: S102 - our own source, from the model
    hook = typing.cast("Hook", namespace[f"structure_{cls.__name__}"])
    hooks[cls] = hook
    return hook
