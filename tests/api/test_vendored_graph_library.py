"""The vendored cytoscape.js loads and lays out a graph in real headless Chromium, with no network beyond loopback."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

STATIC = Path(__file__).resolve().parents[2] / "api" / "static"


@pytest.fixture
def static_server() -> Iterator[str]:
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(STATIC))
    handler.log_message = lambda *a, **k: None  # type: ignore[method-assign]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_vendored_files_present() -> None:
    vendor = STATIC / "vendor" / "cytoscape"
    assert (vendor / "LICENSE").read_text().startswith("Copyright")
    assert "VENDORED" not in (vendor / "cytoscape.min.js").read_text()[:10]
    assert "npm pack cytoscape@" in (vendor / "VENDORED.txt").read_text()


def test_cytoscape_draws_in_chromium(page, static_server: str) -> None:
    requests: list[str] = []
    page.on("request", lambda req: requests.append(req.url))
    page.set_content(
        f'<div id="g" style="width:400px;height:300px"></div>'
        f'<script src="{static_server}/vendor/cytoscape/cytoscape.min.js"></script>'
    )
    page.wait_for_function("typeof window.cytoscape === 'function'")
    count = page.evaluate(
        """() => {
            const cy = cytoscape({container: document.getElementById('g'),
              elements: [{data: {id: 'a'}}, {data: {id: 'b'}}, {data: {id: 'ab', source: 'a', target: 'b'}}],
              layout: {name: 'breadthfirst', directed: true, roots: '#a'}});
            return [cy.nodes().length, cy.edges().length, cy.$id('a').position().y !== cy.$id('b').position().y];
        }"""
    )
    assert count == [2, 1, True]
    assert all(url.startswith(static_server) or url.startswith("about:") for url in requests), requests
    assert page.console_errors == []
