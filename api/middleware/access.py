"""Who may send what to which route, decided from the request line and headers alone — before a byte of the body.

Why not (only) FastAPI dependencies: FastAPI reads and parses a request's body before it runs the route's
dependencies, so a token check there comes after the memory and CPU are spent (sixteen unauthenticated 16 MiB bodies
took a server from 279 MB to 2.4 GB, each still ending in 401). Here the token is checked as soon as the headers are
in, and a refused request's body is never read: the answer carries ``Connection: close`` and the server drops it.

The policy is one table, fail-closed: a few public pages, one signed webhook, and everything else needs a token —
``read`` for GET/HEAD, ``write`` for any other method. Routes keep their ``ReadAccess``/``WriteAccess`` dependencies
(they document the header in OpenAPI and re-check the principal this middleware found); a test walks every route and
checks that this table is at least as strict as its dependency.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..auth import AuthFailure, Principal, authenticate, identify
from ..settings import Settings
from .errors import ASGIApp, Receive, Scope, Send, has_body, header, send_error

Need = Literal["public", "signature", "read", "write"]

PUBLIC_PAGES = frozenset({"/", "/healthz", "/docs", "/openapi.json"})
PUBLIC_PREFIXES = ("/static/",)
PAGERDUTY_WEBHOOK = "/v1/webhooks/pagerduty"
PAGERDUTY_MAX_BODY_BYTES = 256 * 1024  # PagerDuty drops webhooks over 256 KB; anything larger is not from it
READ_METHODS = frozenset({"GET", "HEAD"})


@dataclass(frozen=True)
class RoutePolicy:
    """What a request needs before its body is read, and how large that body may be (0: none accepted)."""

    need: Need
    max_body: int


def route_policy(method: str, path: str, settings: Settings) -> RoutePolicy:
    if method in READ_METHODS:
        public = path in PUBLIC_PAGES or path.startswith(PUBLIC_PREFIXES)
        return RoutePolicy("public" if public else "read", 0)
    if method == "POST" and path == PAGERDUTY_WEBHOOK:
        return RoutePolicy("signature", min(PAGERDUTY_MAX_BODY_BYTES, settings.max_body_bytes))
    return RoutePolicy("write", settings.max_body_bytes)


def principal_of(scope: Scope) -> Principal | None:
    """The caller this middleware authenticated (``None``: no valid token, on a public or signed route)."""
    return scope.get("state", {}).get("principal")


class AccessMiddleware:
    """401/403 from the headers alone; the caller found is left in ``scope["state"]["principal"]``."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = route_policy(scope["method"], scope["path"], self.settings)
        raw = header(scope, b"authorization")
        authorization = raw.decode("latin-1") if raw is not None else None
        principal: Principal | None
        if policy.need in ("read", "write"):
            try:
                principal = authenticate(self.settings, authorization, policy.need)
            except AuthFailure as exc:
                extra = ((b"www-authenticate", b"Bearer"),) if exc.status == 401 else ()
                await send_error(send, exc.status, str(exc), close=has_body(scope), headers=extra)
                return
        else:
            principal = identify(self.settings, authorization)
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)
