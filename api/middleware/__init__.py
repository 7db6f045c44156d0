"""The ASGI layers every request passes before FastAPI sees it, outermost first:

1. ``SecurityHeadersMiddleware`` — security headers on every answer, the refusals below included;
2. ``HostCheckMiddleware`` — 421 for a ``Host`` faultline is not known by (DNS rebinding);
3. ``AccessMiddleware`` — 401/403 from the headers alone, before the body;
4. ``BodyGuardMiddleware`` — per-route body caps while streaming, stalled uploads timed out, nesting depth checked.
"""

from __future__ import annotations

from fastapi import FastAPI

from ..settings import Settings
from .access import AccessMiddleware, RoutePolicy, principal_of, route_policy
from .body import BodyGuardMiddleware
from .headers import SecurityHeadersMiddleware
from .hosts import HostCheckMiddleware, host_allowed

__all__ = ["RoutePolicy", "host_allowed", "install", "principal_of", "route_policy"]


def install(app: FastAPI, settings: Settings) -> None:
    """Wrap ``app`` in the layers above (Starlette applies the last one added outermost)."""
    app.add_middleware(BodyGuardMiddleware, settings=settings)
    app.add_middleware(AccessMiddleware, settings=settings)
    app.add_middleware(HostCheckMiddleware, settings=settings)
    app.add_middleware(SecurityHeadersMiddleware)
