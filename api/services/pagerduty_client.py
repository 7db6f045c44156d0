"""Posting notes to PagerDuty incidents through the REST API v2 (``POST /incidents/{id}/notes``), and reading them
back (``GET /incidents/{id}/notes``) to tell whether a note whose POST got no answer arrived after all.

Headers per PagerDuty's published schema (operation ``createIncidentNote``): ``Authorization: Token token=<key>``,
``From: <email of a user on the account>``, ``Accept: application/vnd.pagerduty+json;version=2``,
``Content-Type: application/json``; body ``{"note": {"content": "..."}}``. ``listIncidentNotes`` takes the same
Accept, Content-Type and Authorization headers and answers ``{"notes": [{"content": ...}, ...]}`` (every note of the
incident: the operation has no paging, and an incident holds at most 2,000 notes). The token is never logged:
errors name the incident and the HTTP status only.
"""

from __future__ import annotations

from typing import Protocol
from urllib.parse import quote

import httpx

from ..exceptions import NoteDeliveryError

ACCEPT = "application/vnd.pagerduty+json;version=2"
MAX_NOTE_CHARS = 25_000  # PagerDuty truncates long notes; keep well inside what its UI shows


UNCERTAIN_STATUSES = frozenset({502, 504})
"""Gateway answers: PagerDuty itself may have taken the note behind them (as with no answer at all)."""


def marker_for(insight_id: str) -> str:
    """The line that identifies faultline's note for one insight on a PagerDuty incident."""
    return f"faultline-ref: {insight_id}"


def with_marker(content: str, marker: str) -> str:
    """``content`` cut to fit PagerDuty's limit, then the marker as its last line (never cut off)."""
    if marker in content:
        return content[:MAX_NOTE_CHARS]
    tail = f"\n{marker}"
    return content[:MAX_NOTE_CHARS - len(tail)] + tail


def delivery_uncertain(exc: NoteDeliveryError) -> bool:
    """True when a failed POST may still have created the note: no answer at all, or a gateway's."""
    return exc.status is None or exc.status in UNCERTAIN_STATUSES


class NoteSender(Protocol):
    async def post_note(self, incident_id: str, content: str) -> str:
        """Post ``content`` as a note on the incident; returns the note id. ``NoteDeliveryError`` on failure."""
        ...

    async def has_note(self, incident_id: str, marker: str) -> bool:
        """Whether a note containing ``marker`` is on the incident. ``NoteDeliveryError`` when that cannot be told."""
        ...


def _error(incident_id: str, what: str, response: httpx.Response) -> NoteDeliveryError:
    retry_after = None
    if response.status_code == 429:
        try:
            retry_after = float(response.headers.get("Retry-After", ""))
        except ValueError:
            retry_after = None
    message = ""
    try:
        message = str(response.json().get("error", {}).get("message", ""))[:200]
    except (ValueError, AttributeError):
        pass
    return NoteDeliveryError(f"PagerDuty {what} for incident {incident_id}: HTTP {response.status_code} {message}".strip(),
                             status=response.status_code, retry_after=retry_after)


class PagerDutyNotes:
    """The real sender over HTTP."""

    def __init__(self, *, base_url: str, token: str, from_email: str, timeout_s: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.from_email = from_email
        self.timeout_s = timeout_s

    def __repr__(self) -> str:  # never show the token
        return f"PagerDutyNotes(base_url={self.base_url!r}, from_email={self.from_email!r})"

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Token token={self._token}", "Accept": ACCEPT, "Content-Type": "application/json"}

    def _url(self, incident_id: str) -> str:
        return f"{self.base_url}/incidents/{quote(incident_id, safe='')}/notes"

    async def post_note(self, incident_id: str, content: str) -> str:
        body = {"note": {"content": content[:MAX_NOTE_CHARS]}}
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s) as client:
                response = await client.post(self._url(incident_id), headers={**self._headers(), "From": self.from_email},
                                             json=body)
        except httpx.HTTPError as exc:
            raise NoteDeliveryError(f"PagerDuty note for incident {incident_id}: {type(exc).__name__}") from exc
        if response.status_code // 100 != 2:
            raise _error(incident_id, "note", response)
        try:
            return str(response.json()["note"].get("id", ""))
        except (ValueError, KeyError, AttributeError, TypeError):
            return ""

    async def has_note(self, incident_id: str, marker: str) -> bool:
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s) as client:
                response = await client.get(self._url(incident_id), headers=self._headers())
        except httpx.HTTPError as exc:
            raise NoteDeliveryError(f"PagerDuty notes of incident {incident_id}: {type(exc).__name__}") from exc
        if response.status_code // 100 != 2:
            raise _error(incident_id, "notes", response)
        try:
            notes = response.json()["notes"]
            return any(marker in str(note.get("content", "")) for note in notes)
        except (ValueError, KeyError, AttributeError, TypeError) as exc:
            raise NoteDeliveryError(f"PagerDuty notes of incident {incident_id}: unexpected answer") from exc
