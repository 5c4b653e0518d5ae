"""Public models: re-exports of the generated wire classes users touch."""

from billabex_async._generated.models import (
    Contact,
    ContactCreate,
    ContactPage,
    ContactUpdate,
    ContactUpsert,
    EmailInfo,
    EmailStatus,
    PageInfo,
)

__all__ = [
    "Contact",
    "ContactCreate",
    "ContactPage",
    "ContactUpdate",
    "ContactUpsert",
    "EmailInfo",
    "EmailStatus",
    "PageInfo",
]
