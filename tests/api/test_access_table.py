"""The access table of ``api.middleware.access`` (checked before the body is read) against the routes' own
``ReadAccess``/``WriteAccess`` dependencies (checked after): for every route and method the table must be at least as
strict, and the set of routes reachable without a token is exactly the reviewed one."""

from __future__ import annotations

import re

from fastapi import routing
from fastapi.routing import APIRoute
from starlette.routing import Mount

from api import deps
from api.app import create_app
from api.middleware import route_policy
from api.settings import Settings

PUBLIC = {("GET", "/"), ("GET", "/docs"), ("GET", "/healthz"), ("GET", "/openapi.json"),
          ("POST", "/v1/webhooks/pagerduty")}
STRICTNESS = {"public": 0, "signature": 0, "read": 1, "write": 2}


def _needs(route: APIRoute) -> str:
    calls = set()
    stack = [route.dependant]
    while stack:
        node = stack.pop()
        calls.add(node.call)
        stack.extend(node.dependencies)
    if deps._writer in calls:
        return "write"
    if deps._reader in calls:
        return "read"
    return "public"


def _routes(app: object) -> list[object]:
    """Every route of the app, routers included (FastAPI >= 0.16x wraps included routers; older ones flatten them)."""
    if hasattr(routing, "iter_route_contexts"):
        return [context.route for context in routing.iter_route_contexts(app.routes)]  # type: ignore[attr-defined]
    return list(app.routes)  # type: ignore[attr-defined]


def test_the_table_is_at_least_as_strict_as_every_route() -> None:
    settings = Settings()
    app = create_app(settings)
    seen_public = set()
    checked = 0
    for route in _routes(app):
        if isinstance(route, Mount):
            assert route.path == "/static"
            assert route_policy("GET", "/static/console.js", settings).need == "public"
            continue
        if not isinstance(route, APIRoute):
            continue
        path = re.sub(r"\{[^}]+\}", "some-id", route.path)
        for method in route.methods:
            needed = _needs(route)
            policy = route_policy(method, path, settings)
            assert STRICTNESS[policy.need] >= STRICTNESS[needed], (method, route.path, policy, needed)
            if needed == "public":
                seen_public.add((method, route.path))
            if method in ("GET", "HEAD"):
                assert policy.max_body == 0, (method, route.path)
            checked += 1
    seen_public |= {("GET", "/openapi.json")}  # FastAPI's own route (a plain Starlette one): public by design
    assert seen_public == PUBLIC, "a route reachable without a token was added or removed: review it, then this list"
    assert checked >= 10


def test_unknown_routes_and_methods_fail_closed() -> None:
    settings = Settings()
    assert route_policy("GET", "/v1/not-a-route", settings).need == "read"
    assert route_policy("DELETE", "/v1/insights/x", settings).need == "write"
    assert route_policy("OPTIONS", "/v1/insights", settings).need == "write"
    assert route_policy("PUT", "/healthz", settings).need == "write"
    assert route_policy("POST", "/v1/webhooks/pagerduty/x", settings).need == "write"
    assert route_policy("POST", "/v1/webhooks/pagerduty", settings).max_body == 256 * 1024
    assert route_policy("POST", "/v1/webhooks/pagerduty", Settings(max_body_bytes=2048)).max_body == 2048
    assert route_policy("POST", "/v1/insights", settings).max_body == settings.max_body_bytes
