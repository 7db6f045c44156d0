"""The ``Host`` check that stops DNS rebinding.

The attack: a web page on ``rebind.attacker.example`` makes its name resolve to 127.0.0.1, and its script's
same-origin requests then reach faultline on loopback — the browser sees no cross-origin request, so CORS being off
does not help, and in token-less demo mode nothing else stops it. The request still says where the browser thinks it
goes: ``Host: rebind.attacker.example``. Answering only to names faultline is known by closes the hole.

Allowed: loopback names (``localhost``, ``*.localhost``), any IP address literal, the host of ``public_url``, and
``allowed_hosts`` (exact names or ``*.domain``; ``*`` switches the check off). IP literals are safe because rebinding
needs a *name* the attacker controls: a page whose URL is an IP address is on that address and nowhere else. That
also keeps Kubernetes probes working (the kubelet sends the pod IP as ``Host``). A request without ``Host`` (HTTP/1.0)
comes from no browser, so it is let through.

Refused requests get 421 Misdirected Request ("this server is not the one that name points to") before their body is
read. Starlette's ``TrustedHostMiddleware`` does the name matching but answers 400 in plain text and knows nothing of
IP literals or loopback names, hence this small class.
"""

from __future__ import annotations

import ipaddress

from ..settings import Settings
from .errors import ASGIApp, Receive, Scope, Send, has_body, header, send_error

LOOPBACK_NAMES = ("localhost", "localhost.localdomain")


def host_name(value: str) -> str:
    """The host part of a ``Host`` header value: no port, no brackets, lower case, no trailing dot."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:value.find("]")] if "]" in value else value[1:]
    if value.count(":") == 1:
        value = value.split(":", 1)[0]
    return value.rstrip(".")


def is_ip_literal(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def allowed_names(settings: Settings) -> tuple[str, ...]:
    names = [n.strip().lower().rstrip(".") for n in settings.allowed_hosts if n.strip()]
    if settings.public_host:
        names.append(settings.public_host.lower())
    if settings.host not in ("0.0.0.0", "::", ""):
        names.append(host_name(settings.host))
    return tuple(dict.fromkeys(names))


def host_allowed(name: str, allowed: tuple[str, ...]) -> bool:
    """Whether a request addressed to ``name`` (already through ``host_name``) may be served."""
    if "*" in allowed or name in LOOPBACK_NAMES or name.endswith(".localhost") or is_ip_literal(name):
        return True
    for pattern in allowed:
        if pattern == name or (pattern.startswith("*.") and name.endswith(pattern[1:]) and name != pattern[2:]):
            return True
    return False


class HostCheckMiddleware:
    """421 for a request addressed to a name faultline is not known by (see the module docstring)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.allowed = allowed_names(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            raw = header(scope, b"host")
            if raw is not None:
                name = host_name(raw.decode("latin-1"))
                if not host_allowed(name, self.allowed):
                    if scope["type"] == "websocket":
                        await send({"type": "websocket.close", "code": 1008})
                        return
                    await send_error(send, 421, f"this server does not answer to the host name {name[:100]!r}; "
                                     "add it to FAULTLINE_ALLOWED_HOSTS if it is really this server",
                                     close=has_body(scope))
                    return
        await self.app(scope, receive, send)
