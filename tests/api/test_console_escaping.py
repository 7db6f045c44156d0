"""The console escapes everything it renders: entity ids, titles, change messages and authors that are HTML or
script show up as text in a real browser, and nothing in them runs.

Two layers are checked separately. The page's Content-Security-Policy (``script-src 'self'``) would stop inline
script even if the console inserted markup, so "no script ran" alone would not prove escaping: the test also checks
the DOM — no element, attribute or handler was created from the hostile strings, and the strings are there as text.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import write_case

pytestmark = pytest.mark.integration

APP = "app:<script>window.__xss=1</script>"
LLM = "llm:<img src=x onerror=window.__xss=2>"
POD = "pod:prod/<svg onload=window.__xss=3>"
AUTHOR = "<b onmouseover=window.__xss=4>mallory</b>"
TITLE = "<script>window.__xss=5</script> chat slow & <i>bold</i>"
T0 = 1_795_000_000  # 2026-11-18


def hostile_case(directory: Path) -> Path:
    topology = {
        "entities": [{"id": APP, "kind": "app", "attrs": {"note": "<iframe src=javascript:window.__xss=6>"}},
                     {"id": LLM, "kind": "llm"}, {"id": POD, "kind": "pod"}],
        "relations": [{"src": APP, "kind": "CALLS", "dst": LLM, "valid_from": None, "valid_to": None},
                      {"src": LLM, "kind": "RUNS_ON", "dst": POD, "valid_from": None, "valid_to": None}],
    }
    rows = ["timestamp,entity,metric,value"]
    for i in range(120):
        t = T0 + 30 * i
        rows.append(f"{t},{APP},latency_p95_s,{1.0 + (3.0 if i >= 100 else 0.0) + 0.01 * (i % 3)}")
        rows.append(f"{t},{LLM},queue_len,{2 + (40 if i >= 96 else 0) + i % 2}")
    changes = [{"entity": POD, "kind": "rollout", "at": T0 + 30 * 94, "attrs": {
        "author": AUTHOR, "message": "</textarea><script>window.__xss=7</script>"}}]
    incident = {"symptom": APP, "metric": "latency_p95_s", "at": T0 + 30 * 119, "lookback": "60m", "title": TITLE}
    return write_case(directory, topology=topology, metrics="\n".join(rows) + "\n", incident=incident, changes=changes)


def _dom_report(page: Any) -> dict[str, Any]:
    return page.evaluate("""() => ({
        xss: window.__xss === undefined ? null : window.__xss,
        scripts: document.querySelectorAll('main script').length,
        foreign: document.querySelectorAll('main img, main iframe, main b, main i').length,
        handlers: [...document.querySelectorAll('*')].filter(e => [...e.attributes].some(
            a => /^on/i.test(a.name) || /javascript:/i.test(a.value))).length,
        text: document.querySelector('main').innerText,
    })""")


def test_hostile_names_render_as_text(start_faultline: Any, tmp_path: Path, page: Any, test_output_dir: Path) -> None:
    server = start_faultline(use_demo_case_dir=False, FAULTLINE_CASE_DIR=str(hostile_case(tmp_path / "case")))
    r = httpx.post(f"{server.base_url}/v1/insights", params={"wait": 60}, timeout=90,
                   json={"symptom": APP, "title": TITLE})
    assert r.status_code in (200, 202), r.text
    insight = server.wait_insight(r.json()["id"])
    assert insight["status"] == "done", insight.get("error")
    causes = [c["entity"] for c in insight["candidates"]]
    assert LLM in causes or POD in causes, causes
    assert json.dumps(insight).count("__xss") >= 2, "the hostile strings reached the insight (else nothing is tested)"

    page.goto(f"{server.base_url}/#/insights/{insight['id']}")
    page.wait_for_selector("#result:not([hidden])", timeout=30_000)
    page.wait_for_timeout(500)  # let the graph, sparklines and evidence finish drawing
    page.screenshot(path=str(test_output_dir / "console-hostile-names.png"), full_page=True)
    report = _dom_report(page)
    assert report["xss"] is None, f"script from data ran: window.__xss={report['xss']}"
    assert report["scripts"] == 0 and report["foreign"] == 0 and report["handlers"] == 0, report
    assert page.text_content("#insight-symptom") == APP
    assert page.text_content("#top-cause") in (LLM, POD)
    assert TITLE in report["text"], "the title shows literally, tags and all"
    assert LLM in report["text"] and POD in report["text"]
    assert not [e for e in page.console_errors if "Content Security Policy" in e], page.console_errors

    page.goto(f"{server.base_url}/#/")
    page.wait_for_selector("#incident-rows tr", timeout=30_000)
    report = _dom_report(page)
    assert report["xss"] is None and report["scripts"] == 0 and report["foreign"] == 0 and report["handlers"] == 0
    assert TITLE in report["text"] and APP in report["text"]
