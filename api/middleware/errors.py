"""Error answers sent by the ASGI middleware itself, before (or instead of) the application: same JSON shape as the
app's own (``api.schemas.errors``)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from ..schemas.errors import error_body

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


async def send_error(send: Send, status: int, detail: str, *, close: bool = False,
                     headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    """Answer ``status`` with the error body. ``close``: ask the server to drop the connection afterwards — for a
    request whose body was not (fully) read, so the unread bytes are never taken for a next request."""
    body = json.dumps(error_body(detail), separators=(",", ":")).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *headers]
    if close:
        raw.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def header(scope: Scope, name: bytes) -> bytes | None:
    """The first value of header ``name`` (lower-case), or ``None``."""
    for key, value in scope.get("headers", ()):
        if key == name:
            return value
    return None


def has_body(scope: Scope) -> bool:
    """The request announces a body (a non-zero ``Content-Length`` or a chunked transfer)."""
    for name, value in scope.get("headers", ()):
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() not in (b"0", b"")):
            return True
    return False
