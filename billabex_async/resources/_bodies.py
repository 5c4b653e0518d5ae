"""Resources layer: the request model a write sends, and the typed model a response reads as."""

from __future__ import annotations

from operator import is_
from typing import TypeVar

from billabex_async._converter import body_text, structure, unstructure
from billabex_async._http import Response
from billabex_async._http._idempotency import encode_json
from billabex_async._types import UNSET
from billabex_async._validation import check_contact
from billabex_async.errors import APIResponseValidationError, InvalidRequestError
from billabex_async.models import ContactCreate, ContactUpdate, ContactUpsert

__all__ = ["FIELDS", "REQUIRED", "check_write", "parse", "request_model", "write_body"]

T = TypeVar("T")

# The keyword form of a write, in this order: create, update and upsert take these.
FIELDS = ("full_name", "language", "email", "role", "notes", "is_primary")
REQUIRED = ("full_name", "language")  # of a create or an upsert
_NOTHING_GIVEN = (UNSET,) * len(FIELDS)  # compared by identity, in C: no frame per field


def parse(response: Response, cls: type[T]) -> T:
    """The body as ``cls``; ``APIResponseValidationError`` when it is not JSON or does not fit."""
    data = response.json()
    try:
        return structure(data, cls)
    except Exception as exc:
        import cattrs  # structure() loaded it; at module level it would load with the client

        if not isinstance(exc, (cattrs.BaseValidationError, ValueError, TypeError)):
            raise
        details = cattrs.transform_error(exc) if isinstance(exc, cattrs.BaseValidationError) else []
        message = f"the {response.status} response does not fit {cls.__name__}: " + (
            "; ".join(details) or str(exc)
        )
        text = response.body.decode("utf-8", "replace")
        if response.redact(text) == text:
            raise APIResponseValidationError(message, status=response.status, body=data) from exc
        # The server echoed a secret: keep neither it nor the cause quoting it.
        raise APIResponseValidationError(
            response.redact(message), status=response.status, body=response.text()
        ) from None


def write_body(model: ContactCreate | ContactUpsert | ContactUpdate) -> str:
    """The exact JSON text a write of ``model`` sends (the same bytes on every attempt)."""
    text = body_text(model)  # the usual values, written directly: the text below, cheaper
    return encode_json(unstructure(model)) if text is None else text


def check_write(model: ContactCreate | ContactUpsert | ContactUpdate) -> None:
    """Check every field, types included, before anything is sent.

    The models are plain attrs classes without validators, so ``role=5`` or
    ``is_primary="yes"`` would otherwise be sent.
    """
    check_contact(model)


def request_model(
    cls: type[T], data: T | None, values: tuple[object, ...], *, required: tuple[str, ...] = ()
) -> T:
    """The request model of a write: ``data`` as given, or built from ``values`` (``FIELDS``).

    Either a model or keyword fields, not both; ``InvalidRequestError`` otherwise,
    or when a ``required`` field is missing.
    """
    if data is not None and isinstance(data, cls) and all(map(is_, values, _NOTHING_GIVEN)):
        return data  # the bulk path: a model and no keywords, nothing to merge
    given = {k: v for k, v in zip(FIELDS, values, strict=True) if v is not UNSET}
    if data is not None:
        if given:
            raise InvalidRequestError(
                f"pass either a {cls.__name__} or keyword fields, not both "
                f"(got {', '.join(sorted(given))})"
            )
        if not isinstance(data, cls):
            raise InvalidRequestError(f"expected a {cls.__name__}, got {type(data).__name__}")
        return data
    missing = [name for name in required if name not in given]
    if missing:
        raise InvalidRequestError(
            f"missing required field(s): {', '.join(missing)}", field=missing[0]
        )
    return cls(**given)
