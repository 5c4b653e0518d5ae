"""A request body written directly is the text the general path encodes, byte for byte."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billabex_async import UNSET, ContactCreate, ContactUpdate, ContactUpsert, EmailStatus
from billabex_async._converter import body_text, unstructure
from billabex_async._http._idempotency import encode_json
from billabex_async.models import Contact
from billabex_async.resources._bodies import write_body

MODELS = (ContactCreate, ContactUpsert, ContactUpdate)
FIELDS = ("full_name", "language", "email", "role", "notes", "is_primary")

_usual = st.none() | st.just(UNSET) | st.booleans() | st.text(max_size=8)
_odd = (
    st.integers()
    | st.floats(allow_nan=True)
    | st.just(EmailStatus.valid)  # a str subclass
    | st.lists(st.text(max_size=2), max_size=2)
)


def general(model: object) -> str:
    return encode_json(unstructure(model))


def result(write: Any, model: object) -> tuple[str, str]:
    try:
        return "text", write(model)
    except (TypeError, ValueError) as exc:  # UNSET in a required field: not JSON
        return "error", f"{type(exc).__name__}: {exc}"


@settings(max_examples=1500)
@given(
    st.sampled_from(MODELS),
    st.fixed_dictionaries({}, optional=dict.fromkeys(FIELDS, _usual | _odd)),
)
def test_the_written_body_is_the_encoded_one(cls: type, values: dict[str, Any]) -> None:
    values.setdefault("full_name", "A")  # create and upsert need these two
    values.setdefault("language", "en")
    model = cls(**values)
    assert result(write_body, model) == result(general, model)
    text = body_text(model)
    assert text is None or text == general(model)


@settings(max_examples=500)
@given(
    st.sampled_from(MODELS),
    st.fixed_dictionaries({}, optional=dict.fromkeys(FIELDS, _usual)),
)
def test_the_usual_values_are_written_directly(cls: type, values: dict[str, Any]) -> None:
    values.setdefault("full_name", "Ada")
    values.setdefault("language", "en")
    model = cls(**values)
    # UNSET where it is not the default (a required field, or None's place) is
    # left to the general path, which sends or refuses it as before.
    misplaced = any(
        values.get(f.name) is UNSET and f.default is not UNSET for f in attrs.fields(cls)
    )
    assert (body_text(model) is None) == misplaced
    if not misplaced:
        assert body_text(model) == general(model)


@pytest.mark.parametrize(
    "model",
    [
        ContactUpsert(full_name='Zoë "Z" \\ \u2028 \ud800 \x00', language="en", email=None),
        ContactUpdate(),
        ContactUpdate(email=None, is_primary=False),
        ContactCreate(full_name="A", language="en", role=None, notes="x\ny", is_primary=True),
    ],
)
def test_escapes_omissions_and_nulls_as_encoded(model: object) -> None:
    assert body_text(model) == general(model)


def test_a_response_model_is_not_written_directly() -> None:
    import uuid

    contact = Contact(id=uuid.uuid4(), full_name="A", language="en")
    assert body_text(contact) is None
