"""API tokens: who is calling, and may they read or write.

Tokens come as ``Authorization: Bearer <token>``. Every configured token is compared with ``hmac.compare_digest`` and
all comparisons run, so timing reveals neither which token matched nor how much of one. The token itself is never
logged or echoed; a caller is known by the token's ``name``. With auth off (loopback-only demo mode) every caller
is the anonymous reader-writer. Webhooks do not use tokens: PagerDuty's is authenticated by its signature alone.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from .settings import ApiToken, Scope, Settings


@dataclass(frozen=True)
class Principal:
    name: str
    scopes: tuple[Scope, ...]

    def allows(self, scope: Scope) -> bool:
        return scope in self.scopes or (scope == "read" and "write" in self.scopes)


ANONYMOUS = Principal("anonymous", ("read", "write"))


class AuthFailure(Exception):
    """401 (no or unknown token) or 403 (token lacks the scope)."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


def bearer_token(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def match_token(presented: str, tokens: tuple[ApiToken, ...]) -> ApiToken | None:
    raw = presented.encode("utf-8", "replace")
    found: ApiToken | None = None
    for token in tokens:
        if hmac.compare_digest(raw, token.token.get_secret_value().encode("utf-8")):
            found = token
    return found


def identify(settings: Settings, authorization: str | None) -> Principal | None:
    """The caller behind ``authorization``, or ``None`` (no token, or not a known one) — never a failure: for public
    pages that only show more to a known caller (``/healthz``). With auth off every caller is ``ANONYMOUS``."""
    if not settings.auth_required:
        return ANONYMOUS
    presented = bearer_token(authorization)
    token = match_token(presented, settings.api_tokens) if presented is not None else None
    return Principal(token.name, token.scopes) if token is not None else None


def authenticate(settings: Settings, authorization: str | None, scope: Scope) -> Principal:
    if not settings.auth_required:
        return ANONYMOUS
    presented = bearer_token(authorization)
    if presented is None:
        raise AuthFailure(401, "missing API token: send 'Authorization: Bearer <token>'")
    token = match_token(presented, settings.api_tokens)
    if token is None:
        raise AuthFailure(401, "invalid API token")
    principal = Principal(token.name, token.scopes)
    if not principal.allows(scope):
        raise AuthFailure(403, f"token {token.name!r} lacks the {scope!r} scope")
    return principal
