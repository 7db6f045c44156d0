"""The web console: one static page and its assets, shipped in the package (no CDN, no build step).

The page holds no data; it reads everything through the API with the user's token (when tokens are required it asks
for one and keeps it in ``sessionStorage``). Strict security headers: scripts only from this origin, no inline script,
no framing. Inline *styles* are allowed because cytoscape.js sets them on its canvas container; they cannot run code.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"

router = APIRouter(include_in_schema=False)

CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")


@router.get("/")
async def console_page() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html", headers={
        "Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache"})


@router.get("/docs")
async def api_docs() -> FileResponse:
    """Swagger UI from the vendored swagger-ui-dist (FastAPI's default page would load it from a CDN, and starts it
    with an inline script that a strict CSP forbids: ``docs.js`` does that here)."""
    return FileResponse(STATIC_DIR / "docs.html", media_type="text/html", headers={
        "Content-Security-Policy": CSP, "Cache-Control": "no-cache"})
