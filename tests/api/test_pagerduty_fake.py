"""The schema-checking PagerDuty stand-in must itself reject what PagerDuty's schema rejects.

If it accepted anything, the PagerDuty enrichment tests would prove nothing; these tests show each check can fail.
"""

from __future__ import annotations

import httpx
import pytest

from tests.servers.pagerduty import FakePagerDuty

pytestmark = pytest.mark.integration


def _headers(pd: FakePagerDuty, **overrides: str) -> dict[str, str]:
    headers = {
        "Accept": "application/vnd.pagerduty+json;version=2",
        "Content-Type": "application/json",
        "From": "oncall@example.com",
        "Authorization": f"Token token={pd.token}",
    }
    headers.update(overrides)
    return {k: v for k, v in headers.items() if v != ""}


def test_valid_note_is_accepted_and_stored(pagerduty_api: FakePagerDuty) -> None:
    r = httpx.post(f"{pagerduty_api.base_url}/incidents/PT4KHLK/notes", headers=_headers(pagerduty_api),
                   json={"note": {"content": "root cause: image swap"}})
    assert r.status_code == 200, r.text
    assert r.json()["note"]["content"] == "root cause: image swap"
    assert pagerduty_api.notes["PT4KHLK"][0]["content"] == "root cause: image swap"
    assert pagerduty_api.violations == []


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ({"Accept": "application/json"}, "accept"),
        ({"From": ""}, "'from' is a required property"),
        ({"From": "not-an-email"}, "from"),
        ({"Authorization": "Bearer abc"}, "authorization"),
        ({"Authorization": ""}, "'authorization' is a required property"),
    ],
)
def test_bad_headers_are_rejected(pagerduty_api: FakePagerDuty, override: dict[str, str], needle: str) -> None:
    r = httpx.post(f"{pagerduty_api.base_url}/incidents/P1/notes", headers=_headers(pagerduty_api, **override),
                   json={"note": {"content": "x"}})
    assert r.status_code == 400
    assert any(needle in problem for problem in r.json()["error"]["errors"]), r.json()
    assert len(pagerduty_api.violations) == 1


@pytest.mark.parametrize("body", [{}, {"note": {}}, {"note": {"content": 5}}, {"content": "x"}])
def test_bad_bodies_are_rejected(pagerduty_api: FakePagerDuty, body: dict) -> None:
    r = httpx.post(f"{pagerduty_api.base_url}/incidents/P1/notes", headers=_headers(pagerduty_api), json=body)
    assert r.status_code == 400
    assert pagerduty_api.violations


def test_wrong_path_or_method_is_rejected(pagerduty_api: FakePagerDuty) -> None:
    assert httpx.post(f"{pagerduty_api.base_url}/incidents/P1/note", headers=_headers(pagerduty_api),
                      json={"note": {"content": "x"}}).status_code == 404
    assert httpx.put(f"{pagerduty_api.base_url}/incidents/P1/notes", headers=_headers(pagerduty_api),
                     json={"note": {"content": "x"}}).status_code == 404
    assert len(pagerduty_api.violations) == 2


def test_wrong_token_is_401(pagerduty_api: FakePagerDuty) -> None:
    r = httpx.post(f"{pagerduty_api.base_url}/incidents/P1/notes",
                   headers=_headers(pagerduty_api, Authorization="Token token=wrong"), json={"note": {"content": "x"}})
    assert r.status_code == 401


def test_injected_failures(pagerduty_api: FakePagerDuty) -> None:
    pagerduty_api.fail_next(1, 503)
    pagerduty_api.fail_next(1, 0)
    url = f"{pagerduty_api.base_url}/incidents/P1/notes"
    assert httpx.post(url, headers=_headers(pagerduty_api), json={"note": {"content": "x"}}).status_code == 503
    with pytest.raises(httpx.TransportError):
        httpx.post(url, headers=_headers(pagerduty_api), json={"note": {"content": "x"}})
    assert httpx.post(url, headers=_headers(pagerduty_api), json={"note": {"content": "x"}}).status_code == 200


def test_listing_notes_follows_the_published_schema(pagerduty_api: FakePagerDuty) -> None:
    """``listIncidentNotes``: the notes posted so far, and the operation's own header rules (no From needed,
    Content-Type required even without a body, as the published operation declares)."""
    url = f"{pagerduty_api.base_url}/incidents/PLIST01/notes"
    get_headers = {k: v for k, v in _headers(pagerduty_api).items() if k != "From"}
    empty = httpx.get(url, headers=get_headers)
    assert empty.status_code == 200 and empty.json() == {"notes": []}
    httpx.post(url, headers=_headers(pagerduty_api), json={"note": {"content": "first"}})
    listed = httpx.get(url, headers=get_headers).json()["notes"]
    assert [n["content"] for n in listed] == ["first"] and listed[0]["channel"]["summary"]
    assert pagerduty_api.violations == []
    missing = httpx.get(url, headers={k: v for k, v in get_headers.items() if k != "Content-Type"})
    assert missing.status_code == 400 and "'content-type' is a required property" in missing.text
    assert httpx.get(url, headers={**get_headers, "Authorization": "Token token=wrong"}).status_code == 401
    assert len(pagerduty_api.violations) == 1
