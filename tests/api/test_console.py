"""The web console in real headless Chromium (Debian's, driven by Playwright) against a real ``faultline serve``.

The main test is what a person does: open the console of a server started with nothing configured (the bundled demo),
press the magic wand on the demo's symptom with the keyboard, watch the progress, and read the result: the fault
chain drawn in the graph and the top cause named. A screenshot is saved to ``test-output/``.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.helpers import write_case
from tests.servers.faultline import FaultlineServer

pytestmark = pytest.mark.integration

SYMPTOM = "user:deepseek-chat-users"


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory, demo_case_dir):
    """``faultline serve`` with no case, store or metric source configured: it must serve the bundled demo."""
    from tests.servers.faultline import _launcher

    start, servers = _launcher(tmp_path_factory.mktemp("console"), demo_case_dir)
    yield start(use_demo_case_dir=False)
    for server in servers:
        server.kill()


def test_magic_wand_on_the_demo_symptom(page, demo_server: FaultlineServer, test_output_dir: Path) -> None:
    requests: list[str] = []
    page.on("request", lambda req: requests.append(req.url))
    page.goto(demo_server.base_url + "/")
    wand = page.get_by_role("button", name=f"Run insight for {SYMPTOM}")
    wand.wait_for(timeout=20_000)
    wand.focus()
    page.keyboard.press("Enter")  # keyboard, not a mouse click: the wand is a real, focusable button

    page.wait_for_url("**/#/insights/*")
    page.locator("#result").wait_for(state="visible", timeout=60_000)
    insight_id = page.url.rsplit("/", 1)[-1]
    api = httpx.get(f"{demo_server.base_url}/v1/insights/{insight_id}").json()
    assert api["status"] == "done"

    # the top cause is shown, and it is the one the API computed
    assert page.locator("#top-cause").text_content() == api["top_cause"]
    assert page.locator("#candidates > li").first.get_attribute("data-candidate") == api["top_cause"]
    # the fault chain is drawn: exactly its entities are highlighted nodes, joined by highlighted edges
    drawn = page.evaluate("""() => {
        const cy = window.faultlineConsole.cy;
        return {
          chainNodes: cy.nodes('.chain').map(n => n.id()).sort(),
          chainEdges: cy.edges('.chain').map(e => [e.source().id(), e.target().id()]),
          top: cy.nodes('.top').map(n => n.id()),
          nodes: cy.nodes().length,
          rendered: cy.nodes('.chain').every(n => n.visible() && n.renderedPosition().x > 0),
        };
    }""")
    chain = api["chain"]
    assert drawn["chainNodes"] == sorted(chain)
    assert drawn["top"] == [api["top_cause"]]
    assert len(drawn["chainEdges"]) == len(chain) - 1
    hops = {frozenset(pair) for pair in zip(chain, chain[1:])}
    assert {frozenset(edge) for edge in drawn["chainEdges"]} == hops
    assert drawn["rendered"] and drawn["nodes"] == len(api["topology"]["entities"])
    assert page.locator("#chain-list li").count() == len(chain)
    # narrative, evidence and sparklines are on the page
    assert api["narrative"]["summary"][:40] in page.locator("#narrative-summary").text_content()
    assert page.locator("#sparklines figure svg polyline").count() == len(api["sparklines"]) > 0
    assert page.locator("#candidates .evidence li").count() > 0
    # the confidence says what it means; the rollback command is shown whole, with its namespace
    confidence = page.locator("#confidence").text_content()
    assert confidence == api["narrative"]["confidence_text"] and "the probability that" in confidence
    assert "kubectl -n prod rollout undo deployment/vllm" in page.locator("#fixes pre code").all_text_contents()

    page.screenshot(path=str(test_output_dir / "console-insight.png"), full_page=True)
    assert page.console_errors == []
    assert all(url.startswith(demo_server.base_url) or url.startswith("data:") for url in requests), \
        [u for u in requests if not u.startswith(demo_server.base_url)]


def test_wand_on_an_entity_and_progress(page, demo_server: FaultlineServer) -> None:
    with httpx.Client(base_url=demo_server.base_url) as c:
        first = c.post("/v1/insights", json={"symptom": SYMPTOM}, params={"wait": 30}).json()
    page.goto(f"{demo_server.base_url}/#/insights/{first['id']}")
    page.locator("#result").wait_for(state="visible", timeout=30_000)
    # the entity list is the keyboard way into the graph: select one, then press its wand
    page.locator('#entity-list button.pick[data-entity="app:rag-service"]').click()
    assert "app:rag-service" in page.locator("#entity-detail").text_content()
    assert page.evaluate("() => window.faultlineConsole.cy.$(':selected').map(n => n.id())") == ["app:rag-service"]
    page.locator("#entity-detail button[data-wand]").click()
    page.wait_for_function(f"() => !location.hash.endsWith('{first['id']}')")
    # progress is shown until the result replaces it
    page.wait_for_function("() => !document.getElementById('progress').hidden || "
                           "!document.getElementById('result').hidden", timeout=30_000)
    page.locator("#result").wait_for(state="visible", timeout=60_000)
    assert page.locator("#insight-symptom").text_content() == "app:rag-service"
    assert page.locator("#progress").is_hidden()
    assert page.console_errors == []


def test_entity_names_are_shown_as_text_never_run(page, demo_server: FaultlineServer, tmp_path: Path,
                                                   test_output_dir: Path) -> None:
    evil_app = "app:<script>window.__xss=1</script>"
    evil_db = 'vectordb:<img src=x onerror="window.__xss=2">'
    topology = {"entities": [{"id": evil_app, "kind": "app", "attrs": {"note": "<b>bold?</b>"}},
                             {"id": evil_db, "kind": "vectordb"}],
                "relations": [{"src": evil_app, "kind": "QUERIES", "dst": evil_db}]}
    case_dir = write_case(tmp_path / "evil", topology=topology, incident={"symptom": evil_app, "at": 1_700_000_000 + 30 * 119,
                                                                         "lookback": "30m", "title": "<i>evil</i>"})
    rows = []
    for line in (case_dir / "metrics.csv").read_text().splitlines()[1:]:
        t, entity, metric, value = line.split(",")
        entity = evil_app if entity == "app:chat" else evil_db
        rows.append({"timestamp": int(t), "entity": entity, "metric": metric, "value": float(value)})
    case = {"topology": topology, "metrics": rows, "incident": json.loads((case_dir / "incident.json").read_text())}
    with httpx.Client(base_url=demo_server.base_url) as c:
        r = c.post("/v1/insights", json={"case": case}, params={"wait": 30})
    assert r.status_code == 200 and r.json()["status"] == "done", r.text
    insight = r.json()
    page.goto(f"{demo_server.base_url}/#/insights/{insight['id']}")
    page.locator("#result").wait_for(state="visible", timeout=30_000)
    page.locator("#entity-list button.pick").first.click()
    assert page.evaluate("() => window.__xss") is None
    assert page.locator("script").count() == 2  # the two the page ships, nothing injected
    assert page.locator("img").count() == 0 and page.locator("#result b, #result i").count() == 0
    text = page.locator("#result").text_content()
    assert evil_app in text and evil_db in text
    assert page.locator("#insight-title").text_content() == "<i>evil</i>"
    page.goto(f"{demo_server.base_url}/#/")
    page.locator("#insight-rows tr").first.wait_for()
    assert evil_app in page.locator("#insight-rows").text_content()
    assert page.evaluate("() => window.__xss") is None
    page.screenshot(path=str(test_output_dir / "console-escaping.png"), full_page=True)


def test_token_prompt_when_auth_is_on(page, start_faultline) -> None:
    token = "console-token-" + "z" * 20
    server = start_faultline(FAULTLINE_API_TOKENS=json.dumps([{"name": "me", "token": token,
                                                                "scopes": ["read", "write"]}]))
    page.goto(server.base_url + "/")
    page.locator("#auth").wait_for(state="visible", timeout=20_000)
    page.fill("#auth-token", token)
    page.keyboard.press("Enter")
    page.get_by_role("button", name=f"Run insight for {SYMPTOM}").wait_for(timeout=20_000)
    assert page.evaluate("() => sessionStorage.getItem('faultline-token')") == token


def test_the_selected_candidate_shows_an_exemplar_trace_and_its_log_lines(page, tmp_path, otlp_receiver,
                                                                          start_faultline) -> None:
    from tests.telemetry_case import write_telemetry_case

    case = write_telemetry_case(tmp_path / "case", otlp_receiver)
    server = start_faultline(use_demo_case_dir=False, FAULTLINE_CASE_DIR=str(case))
    created = httpx.post(f"{server.base_url}/v1/insights", json={"symptom": "app:front"}, params={"wait": 60}).json()
    insight = server.wait_insight(created["id"])
    assert insight["candidates"][0]["entity"] == "app:cart"
    page.goto(f"{server.base_url}/#/insights/{created['id']}")
    page.locator("#result").wait_for(state="visible", timeout=60_000)
    # the evidence lists the template and the exemplar traces; a trace link opens the waterfall
    first = page.locator("#candidates > li").first
    assert "connection to postgres" in first.locator(".telemetry .template").first.text_content()
    first.locator(".traces button").first.click()
    rows = page.locator("#trace-view .waterfall li")
    rows.first.wait_for(timeout=20_000)
    assert rows.count() == 4  # front's server and client span, cart's server span and its database call
    labels = [rows.nth(i).text_content() for i in range(4)]
    assert any("front" in label and "GET /cart" in label for label in labels)
    assert page.locator("#trace-view .span-bar.err").count() == 4  # the failing request: every span in error
    # the candidate's log lines: the template and example lines
    lines = page.locator("#entity-detail .loglines li")
    assert lines.count() >= 2 and "refused" in lines.nth(1).text_content()
    # the API behind it
    trace_id = first.locator(".traces button").first.get_attribute("title")
    trace = httpx.get(f"{server.base_url}/v1/traces/{trace_id}").json()
    assert len(trace["spans"]) == 4 and trace["logs"] and "refused" in trace["logs"][0]["body"]
    assert httpx.get(f"{server.base_url}/v1/traces/{'0' * 31}1").status_code == 404
    assert httpx.get(f"{server.base_url}/v1/traces/xyz").status_code == 422
