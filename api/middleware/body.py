"""Request bodies: capped per route while they stream in, timed out when they stall, and checked for nesting depth
before anything parses them.

Why below FastAPI: FastAPI reads a whole JSON body before the handler runs, so a handler-level check comes after the
memory is spent, and a chunked upload has no ``Content-Length`` to look at first. This middleware runs after the
access check (``access.py``), so only a caller allowed to send a body gets this far, and then:

* 413 at once when ``Content-Length`` is over the route's cap (``route_policy``: ``FAULTLINE_MAX_BODY_BYTES`` for
  writes, 256 KiB for the PagerDuty webhook, none for GET), and 413 as soon as a chunked body passes it — nothing
  beyond the cap is read;
* 408 when the client sends nothing for ``FAULTLINE_BODY_IDLE_TIMEOUT_S``, or has not finished after
  ``FAULTLINE_BODY_TIMEOUT_S`` (a slow drip), so a stalled upload does not hold a connection and its buffer forever;
* 400 when the body holds a NUL byte (never valid JSON text; it would also make ``json.loads`` guess UTF-16) or nests
  deeper than ``FAULTLINE_MAX_JSON_DEPTH`` — measured on the bytes by ``json_depth.max_depth``, before any recursive
  parser, validator or serialiser can overflow on it.

The body is then handed to the application in one piece (a limit enforced inside the app's own reading would surface
through FastAPI's body parsing as a generic 400). Memory per request is bounded by the route's cap.
"""

from __future__ import annotations

import asyncio

from ..settings import Settings
from .access import PAGERDUTY_WEBHOOK, route_policy
from .errors import ASGIApp, Message, Receive, Scope, Send, has_body, header, send_error
from .json_depth import max_depth

SCAN_IN_THREAD_BYTES = 256 * 1024  # smaller bodies are measured on the event loop (well under a millisecond)


def _json_text(scope: Scope) -> bool:
    """Is the body JSON text this middleware can check? Not a binary body (OTLP protobuf) nor a compressed one (gzip
    OTLP): the route that accepts those decodes them under its own caps (``api/otlp_http.py``)."""
    headers = dict(scope.get("headers") or ())
    encoding = headers.get(b"content-encoding", b"identity").strip().lower()
    ctype = headers.get(b"content-type", b"").lower()
    return encoding in (b"", b"identity") and (not ctype or b"json" in ctype)


class BodyGuardMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not has_body(scope):
            await self.app(scope, receive, send)
            return
        limit = route_policy(scope["method"], scope["path"], self.settings).max_body
        declared = _content_length(scope)
        if limit == 0:
            await send_error(send, 413, f"{scope['method']} {scope['path'][:200]} takes no request body", close=True)
            return
        if declared is not None and declared > limit:
            await send_error(send, 413, self._too_large(scope, limit), close=True)
            return
        body = await self._read(scope, receive, send, limit)
        if body is None:
            return
        if isinstance(body, dict):  # the client went away mid-body: let the app see the disconnect
            first: Message = body
        else:
            problem = await self._problem(body) if _json_text(scope) else None
            if problem is not None:
                await send_error(send, 400, problem)
                return
            first = {"type": "http.request", "body": body, "more_body": False}
        pending = [first]

        async def replay() -> Message:
            return pending.pop() if pending else await receive()

        await self.app(scope, replay, send)

    async def _read(self, scope: Scope, receive: Receive, send: Send, limit: int) -> bytes | Message | None:
        """The whole body; a disconnect message when the client left; ``None`` when an error was already sent."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.body_timeout_s
        chunks: list[bytes] = []
        received = 0
        while True:
            left = deadline - loop.time()
            stalled = left > self.settings.body_idle_timeout_s  # which limit this wait ends at
            try:
                message = await asyncio.wait_for(receive(), timeout=max(min(self.settings.body_idle_timeout_s, left),
                                                                        0.001))
            except asyncio.TimeoutError:
                await send_error(send, 408, (
                    f"request body stalled: nothing received for {self.settings.body_idle_timeout_s:g} s "
                    "(FAULTLINE_BODY_IDLE_TIMEOUT_S)" if stalled else
                    f"request body not complete after {self.settings.body_timeout_s:g} s (FAULTLINE_BODY_TIMEOUT_S)"),
                    close=True)
                return None
            if message["type"] != "http.request":
                return message
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > limit:
                await send_error(send, 413, self._too_large(scope, limit), close=True)
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _problem(self, body: bytes) -> str | None:
        if b"\x00" in body:
            return "request body is not JSON text: it holds a NUL byte"
        depth_limit = self.settings.max_json_depth
        if len(body) > SCAN_IN_THREAD_BYTES:
            depth = await asyncio.to_thread(max_depth, body, stop_above=depth_limit)
        else:
            depth = max_depth(body, stop_above=depth_limit)
        if depth > depth_limit:
            return f"request body nests deeper than {depth_limit} levels (FAULTLINE_MAX_JSON_DEPTH)"
        return None

    def _too_large(self, scope: Scope, limit: int) -> str:
        pagerduty = scope["path"] == PAGERDUTY_WEBHOOK and limit < self.settings.max_body_bytes
        why = "PagerDuty never sends more" if pagerduty else "FAULTLINE_MAX_BODY_BYTES"
        return f"request body larger than {limit} bytes ({why})"


def _content_length(scope: Scope) -> int | None:
    raw = header(scope, b"content-length")
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        return None
