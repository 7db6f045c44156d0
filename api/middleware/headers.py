"""Security headers on every answer — JSON, errors from any layer, static files, the console, ``/docs``.

A route that needs a looser policy sets its own ``Content-Security-Policy`` (the console page, ``/docs``); every
other answer gets ``default-src 'none'``: an API answer is data, and if a browser is ever tricked into rendering one
as a page (an old browser sniffing, a proxy changing the type), nothing in it can run, load, or be framed.
``Cache-Control: no-store`` keeps insights and incidents out of shared caches unless a route says otherwise.
"""

from __future__ import annotations

from .errors import ASGIApp, Message, Receive, Scope, Send

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"content-security-policy", API_CSP.encode()),
    (b"cache-control", b"no-store"),
)


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", ())}
                message["headers"] = [*message.get("headers", ()),
                                      *((name, value) for name, value in HEADERS if name not in present)]
            await send(message)

        await self.app(scope, receive, with_headers)
