"""FastAPI dependencies as ``Annotated`` aliases: settings, the app's services, and access checks.

The token itself is checked by ``api.middleware.access`` before the body is read; ``ReadAccess``/``WriteAccess``
take the caller it found and check the scope again (a route the middleware's table got wrong still fails closed).
Their ``Authorization`` header parameter is what documents the token in OpenAPI.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from .auth import Principal, authenticate
from .middleware import principal_of
from .services.container import Services
from .settings import Scope, Settings, get_settings

SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


def _access(request: Request, settings: Settings, authorization: str | None, scope: Scope) -> Principal:
    principal = principal_of(request.scope)
    if principal is not None and principal.allows(scope):
        return principal
    return authenticate(settings, authorization, scope)


def _reader(request: Request, settings: SettingsDep,
            authorization: Annotated[str | None, Header()] = None) -> Principal:
    return _access(request, settings, authorization, "read")


def _writer(request: Request, settings: SettingsDep,
            authorization: Annotated[str | None, Header()] = None) -> Principal:
    return _access(request, settings, authorization, "write")


def caller(request: Request) -> Principal | None:
    """Who is calling, if they showed a valid token (or anyone, in token-less mode); ``None`` on a public route
    called without one."""
    return principal_of(request.scope)


ReadAccess = Annotated[Principal, Depends(_reader)]
WriteAccess = Annotated[Principal, Depends(_writer)]
CallerDep = Annotated[Principal | None, Depends(caller)]
