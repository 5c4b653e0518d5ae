"""Converter layer: every wire rule between JSON and the generated models.

One ``configure_converter`` function, in the manner of cattrs' preconf
modules, so the rules live in one place:

- attribute names are snake_case, wire names camelCase: each generated field
  carries its wire name in ``metadata["wire"]``;
- ``format: uuid`` strings become ``uuid.UUID`` and back;
- enums are ``OpenStrEnum``: an unknown value from the server is kept, never
  an error (a new email status must not break a list call);
- unknown response fields are ignored (the server may add fields);
- request models (those with UNSET defaults): a field left at UNSET is not
  sent; a field whose default is None and whose value is None is not sent
  either (create/upsert ``email=None`` means "no email", never "clear it");
  any other None is sent as JSON null (PATCH ``email=None`` clears it).
  Request models are only ever unstructured: nothing reads them from JSON.

``structure`` first tries the function ``_response_hooks`` compiles for the
response model, which takes only the bodies cattrs would read unchanged; any
other body goes through the cattrs hooks these rules configure.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, get_args
from uuid import UUID

import attrs

from billabex_async._request_bodies import compile_writer
from billabex_async._response_hooks import compile_hook
from billabex_async._types import UNSET, OpenStrEnum

if TYPE_CHECKING:
    import cattrs

__all__ = ["body_text", "configure_converter", "converter", "structure", "unstructure"]

T = TypeVar("T")

# cattrs (about 10 ms to import) and the two converters built on it load on
# the first structure or unstructure, not with the client: a process that
# imports the SDK and sends nothing never pays for them.
converter: cattrs.Converter  # the detailed one, built on first read (see __getattr__)
_fast: cattrs.Converter | None = None
# The response models' own functions for their usual bodies, by class
# (``_response_hooks``); None: cattrs only. Compiled on first use.
_compiled: dict[type, Callable[[Any], Any] | None] = {}
# The request models' JSON writers (``_request_bodies``), by class; None: none.
_writers: dict[type, Callable[[Any], str | None] | None] = {}
# Hooks by class, looked up in one dict probe instead of cattrs' dispatch.
_structure_hooks: dict[type, Callable[[Any, Any], Any]] = {}
_unstructure_hooks: dict[type, Callable[[Any], Any]] = {}


def _wire_name(field: attrs.Attribute[Any]) -> str:
    wire = field.metadata.get("wire")
    return wire if isinstance(wire, str) else field.name


def _is_request_model(cls: type) -> bool:
    return any(f.default is UNSET for f in attrs.fields(cls))


def _is_generated(cls: Any) -> bool:
    return attrs.has(cls) and any("wire" in f.metadata for f in attrs.fields(cls))


def _optional(tp: Any) -> bool:
    """``X | None`` for one ``X``: a contact's email, role, notes, flags."""
    args = get_args(tp)
    return (
        typing.get_origin(tp) in (typing.Union, types.UnionType)
        and len(args) == 2
        and type(None) in args
    )


# Types cattrs structures by calling them (``str(value)``): called directly.
_CALLED = frozenset({str, bool, int, float})


def _structure_uuid(value: Any, _: object) -> UUID:
    # No str() round trip for the str every response carries.
    return UUID(value) if type(value) is str else UUID(str(value))


def _structure_enum(value: Any, tp: type[OpenStrEnum]) -> OpenStrEnum:
    # A known value straight from the member map: Enum's __call__ costs a
    # microsecond, and this runs for every email of every response.
    member = tp._value2member_map_.get(value) if type(value) is str else None
    return tp(value) if member is None else member  # type: ignore[return-value]


def configure_converter(conv: cattrs.Converter) -> None:
    """Install the Billabex wire rules (see the module docstring) on ``conv``."""
    from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

    conv.register_structure_hook(UUID, _structure_uuid)
    conv.register_unstructure_hook(UUID, str)
    # Registered by class, not predicate: cattrs' str hook (singledispatch) would
    # otherwise win for these str subclasses.
    conv.register_structure_hook(OpenStrEnum, _structure_enum)
    conv.register_unstructure_hook(OpenStrEnum, lambda value: str(value.value))

    # `X | None` (a contact's email, role, notes...): the inner hook looked up
    # once, not dispatched again for every value as cattrs' optional hook does.
    def structure_optional(tp: Any) -> Any:
        inner = next(a for a in get_args(tp) if a is not type(None))
        if inner in _CALLED:
            return lambda value, _: None if value is None else inner(value)
        handler = conv.get_structure_hook(inner)
        return lambda value, _: None if value is None else handler(value, inner)

    conv.register_structure_hook_factory(_optional, structure_optional)

    def structure_factory(cls: type) -> Any:
        attrs.resolve_types(cls)  # the generated module uses postponed annotations
        overrides = {f.name: override(rename=_wire_name(f)) for f in attrs.fields(cls)}
        return make_dict_structure_fn(cls, conv, **overrides)  # type: ignore[arg-type]

    def unstructure_factory(cls: type) -> Any:
        attrs.resolve_types(cls)
        if not _is_request_model(cls):
            overrides = {f.name: override(rename=_wire_name(f)) for f in attrs.fields(cls)}
            return make_dict_unstructure_fn(cls, conv, **overrides)  # type: ignore[arg-type]
        # omit_if_default drops exactly the fields still at their default:
        # UNSET ("not given"), or None where None is the default.
        overrides = {
            f.name: override(rename=_wire_name(f), omit_if_default=True) for f in attrs.fields(cls)
        }
        return make_dict_unstructure_fn(cls, conv, **overrides)  # type: ignore[arg-type]

    conv.register_structure_hook_factory(_is_generated, structure_factory)
    conv.register_unstructure_hook_factory(_is_generated, unstructure_factory)


def _build(*, detailed: bool) -> cattrs.Converter:
    import cattrs

    conv = cattrs.Converter(detailed_validation=detailed)
    configure_converter(conv)
    return conv


def _fast_converter() -> cattrs.Converter:
    """The rules without cattrs' per-field error collection, for the hot path.

    A body that does not fit is structured again by ``converter``, whose
    ClassValidationError names every field that is wrong. Unstructuring is the
    same in both, so this one does it.
    """
    global _fast
    if _fast is None:
        _fast = _build(detailed=False)
    return _fast


def _detailed() -> cattrs.Converter:
    """``converter``, built on first need: a bad body, or a caller reading it."""
    conv: cattrs.Converter | None = globals().get("converter")
    if conv is None:
        conv = globals()["converter"] = _build(detailed=True)
    return conv


def __getattr__(name: str) -> object:
    # PEP 562: only a name missing from the globals lands here.
    if name == "converter":
        return _detailed()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def structure(data: object, cls: type[T]) -> T:
    """JSON-decoded data -> model. Raises cattrs' ClassValidationError on a mismatch."""
    if cls not in _compiled:
        compile_hook(cls, _compiled)
    compiled = _compiled[cls]
    if compiled is not None:
        try:
            return compiled(data)  # type: ignore[no-any-return]
        except Exception:  # noqa: BLE001, S110 - a body of another shape: cattrs' rules decide
            pass
    hook = _structure_hooks.get(cls)
    if hook is None:
        hook = _structure_hooks[cls] = _fast_converter().get_structure_hook(cls)
    try:
        return hook(data, cls)  # type: ignore[no-any-return]
    except Exception:  # noqa: BLE001 - bare KeyError/TypeError: the detailed pass says which field
        return _detailed().structure(data, cls)


def unstructure(model: object) -> dict[str, Any]:
    """Model -> JSON-ready dict with wire names, UNSET fields left out."""
    cls = model.__class__
    hook = _unstructure_hooks.get(cls)
    if hook is None:
        hook = _unstructure_hooks[cls] = _fast_converter().get_unstructure_hook(cls)
    data = hook(model)
    assert isinstance(data, dict)
    return data


def body_text(model: object) -> str | None:
    """The JSON text ``unstructure(model)`` encodes to, written directly; None when it cannot tell.

    None for a model that is not a request model, or holds a value other than
    a ``str``, ``None``, ``True`` or ``False`` (or ``UNSET`` at its default):
    the caller then encodes ``unstructure(model)``.
    """
    cls = model.__class__
    writer = _writers.get(cls, _no_writer)
    if writer is _no_writer:
        writer = _writers[cls] = compile_writer(cls)
    return None if writer is None else writer(model)


def _no_writer(model: object) -> str | None:  # pragma: no cover - a marker, never called
    raise AssertionError("not compiled yet")
