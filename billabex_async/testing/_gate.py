"""Simulator layer: the middleware every request passes — auth, rate limit, faults, log.

Order, as the real API is assumed to do it: the arrival is stamped first (it
counts against the window whatever happens next), then the token is checked
(401), the window (429, not applied), the scope (403), then latency and faults,
then the handler. Error answers are always JSON ``{"message", "code"}``.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from billabex_async.testing._core import READ_SCOPES, WRITE_SCOPE, Core, RequestRecord, Token
from billabex_async.testing._faults import Fault
from billabex_async.testing._idempotency import IDEMPOTENCY_HEADER, REPLAYED
from billabex_async.testing._ratelimit import Verdict
from billabex_async.testing._wire import ApiError, error_body

__all__ = [
    "API_PREFIX",
    "BODY",
    "MALFORMED",
    "OAUTH_PREFIX",
    "STATUS_PATH",
    "json_response",
    "make_gate",
]

logger = logging.getLogger("billabex_async.testing")

API_PREFIX = "/api/public/v1"
STATUS_PATH = API_PREFIX + "/status"
OAUTH_PREFIX = "/api/oauth/"
MALFORMED = object()
"""Stored under BODY when the request body is not JSON."""
BODY = web.RequestKey("billabex_body", object)
"""The parsed JSON body (None when empty, MALFORMED when not JSON)."""
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_response(body: bytes, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, content_type="application/json")


def _error_response(exc: ApiError) -> web.Response:
    response = json_response(error_body(exc.code, exc.message), exc.status)
    response.headers.update(exc.headers)
    return response


def _from_aiohttp(exc: web.HTTPException) -> ApiError:
    """The router's own 404/405 (and any other) as our JSON error."""
    if exc.status == 404:
        return ApiError(404, "app-core.route.not-found", "No such endpoint.")
    if exc.status == 405:
        allow = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return ApiError(405, "app-core.method.not-allowed", "Method not allowed here.", allow)
    return ApiError(exc.status, "app-core.request.rejected", exc.reason)


def _authenticate(core: Core, header: str | None) -> Token:
    if header is None:
        raise ApiError(401, "app-auth.token.missing", "Missing bearer token.")
    scheme, _, credentials = header.partition(" ")
    token = core.tokens.get(credentials.strip()) if scheme.lower() == "bearer" else None
    if token is None:
        raise ApiError(401, "app-auth.token.invalid", "Invalid or expired access token.")
    if token.expires_at is not None and core.clock() >= token.expires_at:
        raise ApiError(401, "app-auth.token.expired", "Invalid or expired access token.")
    return token


def _check_scope(token: Token, method: str) -> None:
    if method in _READ_METHODS:
        if not token.scopes & READ_SCOPES:
            raise ApiError(403, "app-auth.token.insufficient-scope", "Needs accounts:read.")
    elif WRITE_SCOPE not in token.scopes:
        raise ApiError(403, "app-auth.token.insufficient-scope", "Needs accounts:all.")


def _rate_headers(core: Core, verdict: Verdict | None, now: float) -> dict[str, str]:
    limiter = core.limiter
    if not limiter.enforced:
        return {}  # no limit, no headers: nothing true to say
    if verdict is None:  # no token to count against: the full budget
        return {
            "X-RateLimit-Limit": str(limiter.limit),
            "X-RateLimit-Remaining": str(limiter.limit),
            "X-RateLimit-Reset": str(math.ceil(core.epoch + now)),
        }
    return {
        "X-RateLimit-Limit": str(verdict.limit),
        "X-RateLimit-Remaining": str(verdict.remaining),
        # Rounded up: a client that waits until then is never early.
        "X-RateLimit-Reset": str(math.ceil(core.epoch + verdict.reset)),
    }


async def _read_json(request: web.Request) -> object:
    raw = await request.read()  # 413 past client_max_size, as an HTTPException
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError alike
        return MALFORMED


def _injected(status: int) -> ApiError:
    """The error a scripted or random fault answers with."""
    if status == 429:  # a scripted 429 looks like the limiter's own
        retry = {"Retry-After": "1"}
        return ApiError(429, "app-core.rate-limit.exceeded", "Too many requests.", retry)
    if status == 503:
        return ApiError(503, "app-core.service.unavailable", "Simulated failure (503).")
    code = "app-core.internal-error" if status >= 500 else "app-core.simulated-error"
    return ApiError(status, code, f"Simulated failure ({status}).")


def _drop(request: web.Request) -> web.Response:
    """Abort the connection with no response: the client sees a reset."""
    if request.transport is not None:
        request.transport.abort()
    # aiohttp fails to write this to the aborted transport and drops it quietly.
    return web.Response(status=500)


def make_gate(core: Core) -> Middleware:
    """The middleware, bound to one simulator's state."""

    async def admit_and_handle(
        request: web.Request, handler: Handler, now: float, headers: dict[str, str]
    ) -> tuple[web.StreamResponse | None, Fault | None]:
        path, method = request.path, request.method
        headers.update(_rate_headers(core, None, now))
        # The authorization server and its metadata: no bearer, no window.
        if path.startswith((OAUTH_PREFIX, "/.well-known/")):
            return await handler(request), None
        if not path.startswith(API_PREFIX + "/"):
            raise ApiError(404, "app-core.route.not-found", "No such endpoint.")
        if path == STATUS_PATH:  # unauthenticated, never rate-limited nor faulted
            return await handler(request), None
        token = _authenticate(core, request.headers.get("Authorization"))
        verdict = core.limiter.arrive(token.label, now)
        headers.update(_rate_headers(core, verdict, now))
        if not verdict.allowed:
            retry = {"Retry-After": str(verdict.retry_after)}
            raise ApiError(429, "app-core.rate-limit.exceeded", "Too many requests.", retry)
        _check_scope(token, method)
        if core.latency or core.jitter:
            await core.sleep(core.latency + core.rng.uniform(0.0, core.jitter))
        fault = core.injector.choose(method, path)
        if fault is None:
            return await handler(request), None
        if fault.kind == "status":
            return _error_response(_injected(fault.status)), fault
        if fault.kind == "reset_before":
            return None, fault
        if fault.kind == "delay":
            await core.sleep(fault.delay)
        response = await handler(request)
        if fault.kind == "reset_after":
            return None, fault
        if fault.kind == "status_after":
            return _error_response(_injected(fault.status)), fault
        return response, fault

    @web.middleware
    async def gate(request: web.Request, handler: Handler) -> web.StreamResponse:
        now = core.clock()  # the arrival, before any other processing
        core.stats.requests += 1
        request_id = core.next_request_id()
        headers = {"X-Request-Id": request_id}
        body: object = None
        fault: Fault | None = None
        response: web.StreamResponse | None
        try:
            try:
                request[BODY] = body = await _read_json(request)
                response, fault = await admit_and_handle(request, handler, now, headers)
            except web.HTTPException as exc:
                raise _from_aiohttp(exc) from None
        except ApiError as exc:
            response = _error_response(exc)
        except Exception:  # a simulator bug: still a JSON answer, and a traceback in the log
            logger.exception("FakeBillabex failed on %s %s", request.method, request.path)
            response = _error_response(ApiError(500, "app-core.internal-error", "Simulator bug."))
        status = None if response is None else response.status
        core.log.append(
            RequestRecord(
                time=now,
                method=request.method,
                path=request.path,
                query=dict(request.query) if request.query_string else {},
                body=None if body is MALFORMED else body,
                status=status,
                request_id=request_id,
                fault=None if fault is None else fault.kind,
                idempotency_key=request.headers.get(IDEMPOTENCY_HEADER),
                replayed=request.get(REPLAYED, False),
            )
        )
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s %s -> %s (%s)", request.method, request.path, status, request_id)
        if response is None:
            return _drop(request)
        response.headers.update(headers)
        return response

    return gate
