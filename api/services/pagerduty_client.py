"""Posting notes to PagerDuty incidents through the REST API v2 (``POST /incidents/{id}/notes``).

Headers per PagerDuty's published schema (operation ``createIncidentNote``): ``Authorization: Token token=<key>``,
``From: <email of a user on the account>``, ``Accept: application/vnd.pagerduty+json;version=2``,
``Content-Type: application/json``; body ``{"note": {"content": "..."}}``. The token is never logged: errors name the
incident and the HTTP status only.
"""

from __future__ import annotations

from typing import Protocol
from urllib.parse import quote

import httpx

from ..exceptions import NoteDeliveryError

ACCEPT = "application/vnd.pagerduty+json;version=2"
MAX_NOTE_CHARS = 25_000  # PagerDuty truncates long notes; keep well inside what its UI shows


class NoteSender(Protocol):
    async def post_note(self, incident_id: str, content: str) -> str:
        """Post ``content`` as a note on the incident; returns the note id. ``NoteDeliveryError`` on failure."""
        ...


class PagerDutyNotes:
    """The real sender over HTTP."""

    def __init__(self, *, base_url: str, token: str, from_email: str, timeout_s: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.from_email = from_email
        self.timeout_s = timeout_s

    def __repr__(self) -> str:  # never show the token
        return f"PagerDutyNotes(base_url={self.base_url!r}, from_email={self.from_email!r})"

    async def post_note(self, incident_id: str, content: str) -> str:
        url = f"{self.base_url}/incidents/{quote(incident_id, safe='')}/notes"
        headers = {
            "Authorization": f"Token token={self._token}",
            "From": self.from_email,
            "Accept": ACCEPT,
            "Content-Type": "application/json",
        }
        body = {"note": {"content": content[:MAX_NOTE_CHARS]}}
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s) as client:
                response = await client.post(url, headers=headers, json=body)
        except httpx.HTTPError as exc:
            raise NoteDeliveryError(f"PagerDuty note for incident {incident_id}: {type(exc).__name__}") from exc
        if response.status_code // 100 != 2:
            retry_after = None
            if response.status_code == 429:
                try:
                    retry_after = float(response.headers.get("Retry-After", ""))
                except ValueError:
                    retry_after = None
            message = ""
            try:
                message = str(response.json().get("error", {}).get("message", ""))[:200]
            except ValueError:
                pass
            raise NoteDeliveryError(
                f"PagerDuty note for incident {incident_id}: HTTP {response.status_code} {message}".strip(),
                status=response.status_code, retry_after=retry_after,
            )
        try:
            return str(response.json()["note"].get("id", ""))
        except (ValueError, KeyError, AttributeError, TypeError):
            return ""
