"""Resources layer: one class per API resource; they describe requests, the transport sends them."""

from billabex_async.resources.contacts import ContactsResource

__all__ = ["ContactsResource"]
