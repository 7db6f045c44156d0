"""The one error shape and the security headers, from the layers a running server seldom reaches: an unexpected
exception (500, answered by Starlette's outermost layer, outside the headers middleware) and Starlette's own 404/405.
In-process (``TestClient``, no lifespan: nothing here needs the services)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings


def _client() -> TestClient:
    app = create_app(Settings())

    async def boom() -> None:
        raise ZeroDivisionError("secret internals")

    app.add_api_route("/v1/boom", boom)
    return TestClient(app, raise_server_exceptions=False, base_url="http://127.0.0.1")


def test_an_unexpected_error_is_a_bare_500_with_the_headers() -> None:
    r = _client().get("/v1/boom")
    assert r.status_code == 500
    assert r.json() == {"detail": "internal error", "problems": []}
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]


def test_routing_errors_have_the_shape() -> None:
    client = _client()
    for r, status in ((client.get("/v1/nowhere"), 404), (client.put("/v1/insights", json={}), 405)):
        assert r.status_code == status
        assert set(r.json()) == {"detail", "problems"} and r.json()["problems"] == []
        assert r.headers["x-frame-options"] == "DENY"
