"""Simulator layer: the contacts endpoints, one handler each, and the aiohttp app."""

from __future__ import annotations

import logging

import attrs
from aiohttp import web

from billabex_async._types import UNSET
from billabex_async.testing._core import Core
from billabex_async.testing._gate import API_PREFIX, BODY, MALFORMED, json_response, make_gate
from billabex_async.testing._idempotency import make_idempotency
from billabex_async.testing._oauth import OAuthServer
from billabex_async.testing._store import Account, Record
from billabex_async.testing._wire import (
    ApiError,
    canonical_uuid,
    decode_cursor,
    dumps,
    encode_cursor,
    parse_first,
    validate_write,
)

__all__ = ["build_app"]

logger = logging.getLogger("billabex_async.testing")

_MAX_BODY = 1024 * 1024
_STATUS_BODY = dumps({"status": "ok"})


def _writable(record: Record) -> None:
    if record.read_only_reason is not None:
        raise ApiError(
            403,
            "app-contacts.contact.read-only",
            f"This contact is read-only: {record.read_only_reason}",
        )


def _json_body(request: web.Request) -> object:
    body = request[BODY]
    if body is None or body is MALFORMED:
        raise ApiError(400, "app-core.request.malformed-json", "The body must be valid JSON.")
    return body


class _Api:
    """The endpoint handlers, bound to one simulator's state."""

    def __init__(self, core: Core) -> None:
        self.core = core

    def _account(self, request: web.Request) -> Account:
        raw = request.match_info["account_id"]
        accounts = self.core.store.accounts
        # Fast path: ids are sent back as we wrote them, canonical.
        account = accounts.get(raw)
        if account is None:
            key = canonical_uuid(raw)
            account = None if key is None else accounts.get(key)
        if account is None:
            raise ApiError(404, "app-contacts.account.not-found", "No such account.")
        return account

    def _record(self, request: web.Request, account: Account) -> Record:
        raw = request.match_info["contact_id"]
        record = account.by_id.get(raw)
        if record is None:
            key = canonical_uuid(raw)
            record = None if key is None else account.by_id.get(key)
        if record is None:
            raise ApiError(404, "app-contacts.contact.not-found", "No such contact.")
        return record

    async def status(self, request: web.Request) -> web.Response:
        return json_response(_STATUS_BODY)

    async def list_contacts(self, request: web.Request) -> web.Response:
        account = self._account(request)
        first = parse_first(request.query.get("first"), self.core.default_page_size)
        after = request.query.get("after")
        after_seq = 0 if after is None else decode_cursor(after, account.id, first)
        nodes = self.core.reads.page(account, after_seq, min(first, self.core.max_page_size))
        # The cursor records the requested `first`, not the capped one: the
        # same query (same `first`) may go on with it.
        end = encode_cursor(account.id, nodes[-1][0], first) if nodes else None
        body = b"".join(
            (
                b'{"nodes":[',
                b",".join(wire for _, wire in nodes),
                b'],"pageInfo":{"endCursor":',
                dumps(end),
                b"}}",
            )
        )
        return json_response(body)

    async def create_contact(self, request: web.Request) -> web.Response:
        account = self._account(request)
        fields = validate_write(_json_body(request), required=True)
        record = self.core.store.insert(account, fields)
        self.core.reads.written(account, record.seq, None)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("created contact %s %r", record.id, record.full_name)
        return json_response(record.wire(), 201)

    async def upsert_contact(self, request: web.Request) -> web.Response:
        account = self._account(request)
        fields = validate_write(_json_body(request), required=True)
        if fields.email is None:  # an upsert never clears an address
            fields = attrs.evolve(fields, email=UNSET)
        assert isinstance(fields.full_name, str)
        email = fields.email if isinstance(fields.email, str) else None
        match = account.matcher.find(fields.full_name, email)
        if match is None:
            record = self.core.store.insert(account, fields)
            self.core.reads.written(account, record.seq, None)
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug("upsert created %s %r", record.id, record.full_name)
            return json_response(record.wire(), 201)
        record = account.by_id[match]
        _writable(record)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "upsert matched %s %r <- %r", record.id, record.full_name, fields.full_name
            )
        before = record.wire() if self.core.reads.lag else None
        self.core.store.apply(account, record, fields)
        self.core.reads.written(account, record.seq, before)
        return json_response(record.wire(), 200)

    async def get_contact(self, request: web.Request) -> web.Response:
        account = self._account(request)
        return json_response(self._record(request, account).wire())

    async def update_contact(self, request: web.Request) -> web.Response:
        account = self._account(request)
        record = self._record(request, account)
        fields = validate_write(_json_body(request), required=False)
        _writable(record)
        before = record.wire() if self.core.reads.lag else None
        self.core.store.apply(account, record, fields)
        self.core.reads.written(account, record.seq, before)
        return json_response(record.wire(), 200)

    async def upsert_other_method(self, request: web.Request) -> web.Response:
        # Without this, the {contact_id} routes would take "upsert" for an id:
        # a 404 "no such contact", or a 405 whose Allow lists their methods.
        raise ApiError(
            405, "app-core.method.not-allowed", "Method not allowed here.", {"Allow": "PUT"}
        )

    async def delete_contact(self, request: web.Request) -> web.Response:
        account = self._account(request)
        record = self._record(request, account)
        _writable(record)
        before = record.wire() if self.core.reads.lag else None
        self.core.store.delete(account, record)
        self.core.reads.written(account, record.seq, before)
        return web.Response(status=204)


def build_app(core: Core, oauth: OAuthServer) -> web.Application:
    """The aiohttp application: the API under /api/public/v1, OAuth under /api/oauth."""
    api = _Api(core)
    # Keys are honoured inside the gate: after auth, the window and faults, so
    # an injected reset after the write still loses the (remembered) answer.
    middlewares = [make_gate(core), make_idempotency(core.idempotency)]
    app = web.Application(middlewares=middlewares, client_max_size=_MAX_BODY)
    contacts = API_PREFIX + "/accounts/{account_id}/contacts"
    router = app.router
    router.add_get(API_PREFIX + "/status", api.status, allow_head=False)
    router.add_get(contacts, api.list_contacts, allow_head=False)
    router.add_post(contacts, api.create_contact)
    # Registered before {contact_id}, which would otherwise swallow "upsert".
    router.add_put(contacts + "/upsert", api.upsert_contact)
    router.add_route("*", contacts + "/upsert", api.upsert_other_method)
    router.add_get(contacts + "/{contact_id}", api.get_contact, allow_head=False)
    router.add_patch(contacts + "/{contact_id}", api.update_contact)
    # Billabex's NetSuite connector updates with PUT where the guide says
    # PATCH; the simulator accepts both, with PATCH's semantics.
    router.add_put(contacts + "/{contact_id}", api.update_contact)
    router.add_delete(contacts + "/{contact_id}", api.delete_contact)
    oauth.add_routes(app)
    return app
