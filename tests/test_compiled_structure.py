"""The compiled response hooks build exactly what the cattrs hooks build, or leave the body to them.

``structure`` first tries the function ``_response_hooks`` compiles for the
model; on any body it does not take, the cattrs hooks decide as before. The
reference here is that earlier ``structure``: the fast cattrs converter, then
the detailed one for its error.
"""

from __future__ import annotations

import uuid
from typing import Any

import attrs
import cattrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billabex_async import _converter
from billabex_async._converter import structure
from billabex_async._response_hooks import compile_hook, uuid_from_text
from billabex_async.models import Contact, ContactPage, EmailInfo, EmailStatus, PageInfo

ID = "0b6c2f4e-8d0a-4c1f-9a3e-5b7d9e1f2a3c"
USUAL = {
    "id": ID,
    "fullName": "John Smith",
    "email": {"address": "john@acme.com", "status": "Valid"},
    "language": "en",
}


def reference(data: object, cls: type) -> Any:
    """``structure`` before the compiled hooks: cattrs' fast hook, the detailed one on failure."""
    try:
        return _converter._fast_converter().structure(data, cls)
    except Exception:  # noqa: BLE001 - as structure() did: the detailed pass names the field
        return _converter.converter.structure(data, cls)


def outcome(fn: Any, data: object, cls: type) -> tuple[str, Any]:
    try:
        value = fn(data, cls)
    except cattrs.BaseValidationError as exc:
        return "error", (type(exc), cattrs.transform_error(exc))
    except Exception as exc:  # noqa: BLE001 - compared, not hidden
        return "error", (type(exc), str(exc))
    return "value", value


def _hash(value: object) -> int | str:
    try:
        return hash(value)
    except TypeError as exc:  # a page holds a list: unhashable, on both sides alike
        return str(exc)


def assert_same(got: Any, expected: Any) -> None:
    """Equal, and alike down to each value's type and identity where cattrs gives a member."""
    assert got == expected
    assert repr(got) == repr(expected)
    assert _hash(got) == _hash(expected)
    assert type(got) is type(expected)
    if attrs.has(type(expected)):
        for field in attrs.fields(type(expected)):
            assert_same(getattr(got, field.name), getattr(expected, field.name))
    elif isinstance(expected, list):
        for a, b in zip(got, expected, strict=True):
            assert_same(a, b)
    elif isinstance(expected, uuid.UUID):
        assert (got.int, got.is_safe) == (expected.int, expected.is_safe)
    elif isinstance(expected, EmailStatus) and expected in list(EmailStatus):
        assert got is expected


_hex = "0123456789abcdefABCDEF"
_uuid_texts = st.one_of(
    st.uuids().map(str),
    st.uuids().map(lambda u: str(u).upper()),
    st.uuids().map(lambda u: u.hex),
    st.uuids().map(lambda u: f"{{{u}}}"),
    st.uuids().map(lambda u: f"urn:uuid:{u}"),
    st.uuids().map(lambda u: f" {u.hex[1:]}"),
    st.uuids().map(lambda u: f"0x{u.hex[2:]}"),
    st.uuids().map(lambda u: f"{u.hex[:4]}_{u.hex[5:]}"),
    st.uuids().map(lambda u: f"+{u.hex[1:]}"),
    st.text(
        st.sampled_from([*_hex, "-", "{", "}", ":", "_", " ", "+", "x", "\u0660"]), max_size=40
    ),
)
_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6)
_statuses = st.sampled_from(["Valid", "Bounced", "Complained", "Held", "valid", ""]) | _scalars
_emails = (
    st.none()
    | st.fixed_dictionaries(
        {},
        optional={"address": st.text(max_size=8) | _scalars, "status": _statuses, "x": _scalars},
    )
    | _scalars
    | st.lists(_scalars, max_size=2)
)
_values = {
    "id": _uuid_texts | _scalars,
    "fullName": st.text(max_size=8) | _scalars,
    "language": st.sampled_from(["en", "fr"]) | _scalars,
    "email": _emails,
    "role": _scalars,
    "notes": _scalars,
    "isPrimary": _scalars,
    "readOnlyReason": _scalars,
    "brandNew": _scalars | st.dictionaries(st.text(max_size=3), _scalars, max_size=2),
}
# Each key kept as in USUAL, dropped, or given a drawn value: mostly usual bodies,
# with one or two fields off.
_contacts = st.fixed_dictionaries(
    {
        key: st.sampled_from(["keep", "drop"]) | st.tuples(st.just("set"), values)
        for key, values in _values.items()
    }
).map(
    lambda plan: {
        key: (USUAL[key] if choice == "keep" else choice[1])
        for key, choice in plan.items()
        if not (choice == "drop" or (choice == "keep" and key not in USUAL))
    }
)


@settings(max_examples=1500)
@given(_contacts)
def test_a_contact_body_structures_as_cattrs_structures_it(data: dict[str, Any]) -> None:
    got, expected = outcome(structure, data, Contact), outcome(reference, data, Contact)
    assert got[0] == expected[0]
    if got[0] == "value":
        assert_same(got[1], expected[1])
    else:
        assert got[1] == expected[1]


_pages = st.fixed_dictionaries(
    {"nodes": st.lists(_contacts, max_size=3) | _scalars},
    optional={
        "pageInfo": st.none()
        | st.fixed_dictionaries({}, optional={"endCursor": _scalars})
        | _scalars,
    },
) | st.lists(_contacts, max_size=1)


@settings(max_examples=500)
@given(_pages)
def test_a_page_body_structures_as_cattrs_structures_it(data: Any) -> None:
    got, expected = outcome(structure, data, ContactPage), outcome(reference, data, ContactPage)
    assert got[0] == expected[0]
    if got[0] == "value":
        assert_same(got[1], expected[1])
    else:
        assert got[1] == expected[1]


@settings(max_examples=1000)
@given(_uuid_texts)
def test_the_uuid_shortcut_gives_what_uuid_gives_or_declines(text: str) -> None:
    try:
        got = uuid_from_text(text)
    except Exception:  # noqa: BLE001 - declined: structure() then asks cattrs
        return
    assert_same(got, uuid.UUID(text))


def test_the_usual_bodies_never_reach_cattrs(monkeypatch: pytest.MonkeyPatch) -> None:
    # The point of the compiled hooks: a body of the usual shape is read by them alone.
    structure(USUAL, Contact)  # compiled now, before cattrs is taken away

    def no_cattrs(*args: object) -> None:
        raise AssertionError("the usual body went to cattrs")

    monkeypatch.setattr(_converter, "_fast_converter", no_cattrs)
    monkeypatch.setattr(_converter, "_detailed", no_cattrs)
    contact = structure(USUAL | {"isPrimary": False, "role": None, "extra": [1]}, Contact)
    assert contact.id == uuid.UUID(ID)
    assert contact.email == EmailInfo(address="john@acme.com", status=EmailStatus.valid)
    page = structure({"nodes": [USUAL], "pageInfo": {"endCursor": "c"}}, ContactPage)
    assert page == ContactPage(nodes=[contact.__class__(**{
        **attrs.asdict(contact, recurse=False), "is_primary": None, "role": None})],
        page_info=PageInfo(end_cursor="c"))  # fmt: skip


def test_the_instances_behave_as_built_by_init() -> None:
    contact = structure(USUAL, Contact)
    built = Contact(
        id=uuid.UUID(ID),
        full_name="John Smith",
        language="en",
        email=EmailInfo(address="john@acme.com", status=EmailStatus.valid),
    )
    assert_same(contact, built)
    assert attrs.evolve(contact, full_name="Ada") == attrs.evolve(built, full_name="Ada")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        contact.full_name = "Ada"  # type: ignore[misc]


@attrs.frozen(kw_only=True)
class _Validated:
    name: str = attrs.field(validator=attrs.validators.min_len(1), metadata={"wire": "name"})


@attrs.frozen(kw_only=True)
class _PostInit:
    name: str = attrs.field(metadata={"wire": "name"})

    def __attrs_post_init__(self) -> None:
        if not self.name:
            raise ValueError("empty")


@attrs.define(kw_only=True, slots=False)
class _NotSlotted:
    name: str = attrs.field(metadata={"wire": "name"})


@attrs.frozen(kw_only=True, cache_hash=True)
class _CachedHash:
    name: str = attrs.field(metadata={"wire": "name"})


@attrs.frozen(kw_only=True)
class _OtherDefault:
    name: str = attrs.field(default="x", metadata={"wire": "name"})


@pytest.mark.parametrize("cls", [_Validated, _PostInit, _NotSlotted, _CachedHash, _OtherDefault])
def test_a_model_init_does_more_for_gets_no_compiled_hook(cls: type) -> None:
    assert compile_hook(cls) is None
    # cattrs then builds it through __init__, which runs what the class adds.
    if cls in (_Validated, _PostInit):
        with pytest.raises(cattrs.ClassValidationError):
            structure({"name": ""}, cls)
    assert structure({"name": "a"}, cls) == cls(name="a")
