"""Validation layer: checks run on user input before anything is sent.

Each check raises ``InvalidRequestError`` naming the field, with the value
shown as a truncated ``repr`` (so an invisible character is visible in the
message). A value that passes is sent exactly as given: nothing here rewrites
contact data, so what was checked is what goes on the wire.
"""

from billabex_async._validation._messages import show
from billabex_async._validation.connection import check_base_url, check_token
from billabex_async._validation.contact import (
    MAX_EMAIL_LENGTH,
    MAX_IDEMPOTENCY_KEY_LENGTH,
    MAX_NAME_LENGTH,
    MAX_NOTES_LENGTH,
    MAX_ROLE_LENGTH,
    check_contact,
    check_email,
    check_first,
    check_full_name,
    check_id,
    check_idempotency_key,
    check_is_primary,
    check_language,
    check_notes,
    check_role,
)

__all__ = [
    "MAX_EMAIL_LENGTH",
    "MAX_IDEMPOTENCY_KEY_LENGTH",
    "MAX_NAME_LENGTH",
    "MAX_NOTES_LENGTH",
    "MAX_ROLE_LENGTH",
    "check_base_url",
    "check_contact",
    "check_email",
    "check_first",
    "check_full_name",
    "check_id",
    "check_idempotency_key",
    "check_is_primary",
    "check_language",
    "check_notes",
    "check_role",
    "check_token",
    "show",
]
