"""Settings: validated at start-up, secrets never printed, tokens required off loopback."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from api.auth import AuthFailure, authenticate
from api.settings import Settings

TOKENS = [{"name": "ops", "token": "w" * 32, "scopes": ["read", "write"]},
          {"name": "viewer", "token": "r" * 32, "scopes": ["read"]}]


def test_defaults_are_loopback_demo_mode() -> None:
    s = Settings(_env_file=None)
    assert (s.host, s.port, s.auth_required) == ("127.0.0.1", 8080, False)


def test_public_host_without_tokens_is_refused() -> None:
    with pytest.raises(ValidationError, match="API tokens are required"):
        Settings(host="0.0.0.0")


def test_env_json_tokens_and_secrets_are_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAULTLINE_API_TOKENS", json.dumps(TOKENS))
    monkeypatch.setenv("FAULTLINE_PAGERDUTY_WEBHOOK_SECRET", "sekrit-one-1234567,sekrit-two-7654321")
    monkeypatch.setenv("FAULTLINE_PAGERDUTY_API_TOKEN", "pd-rest-token-abcdef")
    s = Settings()
    assert s.auth_required
    assert s.pagerduty_secrets() == [b"sekrit-one-1234567", b"sekrit-two-7654321"]
    text = repr(s) + str(s) + s.model_dump_json()
    for secret in ("w" * 32, "r" * 32, "sekrit-one", "pd-rest-token"):
        assert secret not in text


def test_short_tokens_rejected() -> None:
    with pytest.raises(ValidationError, match="at least 16"):
        Settings(api_tokens=[{"name": "x", "token": "short", "scopes": ["read"]}])


def test_scopes() -> None:
    s = Settings(api_tokens=TOKENS)
    assert authenticate(s, "Bearer " + "w" * 32, "write").name == "ops"
    assert authenticate(s, "Bearer " + "r" * 32, "read").name == "viewer"
    with pytest.raises(AuthFailure) as info:
        authenticate(s, "Bearer " + "r" * 32, "write")
    assert info.value.status == 403
    for header in (None, "Bearer", "Basic abc", "Bearer " + "x" * 32, "Bearer " + "w" * 31):
        with pytest.raises(AuthFailure) as info:
            authenticate(s, header, "read")
        assert info.value.status == 401
