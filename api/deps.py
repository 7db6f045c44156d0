"""FastAPI dependencies as ``Annotated`` aliases: settings, the app's services, and access checks."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from .auth import Principal, authenticate
from .services.container import Services
from .settings import Settings, get_settings

SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


def _reader(settings: SettingsDep, authorization: Annotated[str | None, Header()] = None) -> Principal:
    return authenticate(settings, authorization, "read")


def _writer(settings: SettingsDep, authorization: Annotated[str | None, Header()] = None) -> Principal:
    return authenticate(settings, authorization, "write")


ReadAccess = Annotated[Principal, Depends(_reader)]
WriteAccess = Annotated[Principal, Depends(_writer)]
