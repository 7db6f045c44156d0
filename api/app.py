"""The FastAPI application. ``create_app()`` is the only way to build it (no module-level app, no settings read at
import time); it wires the routers — insights, incidents, topology, Alertmanager and PagerDuty webhooks, health and
metrics — the console's static files, the error mapping, the ASGI guards every request passes first
(``api/middleware``), and the start/stop of the runner and outbox worker.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from . import errors_http, middleware
from .routers import alerts, console, health, incidents, insights, otlp, topology, webhooks
from .services.backend import backend_from_settings
from .services.container import BackendFactory, build_services, start_services, stop_services
from .services.pagerduty_client import NoteSender
from .settings import Settings, get_settings

log = logging.getLogger(__name__)

VERSION = "0.1.0"


def create_app(
    settings: Settings | None = None,
    *,
    backend_factory: BackendFactory = backend_from_settings,
    note_sender: NoteSender | None = None,
) -> FastAPI:
    """Build the app. ``settings`` default to the environment (``get_settings()``); ``backend_factory`` and
    ``note_sender`` replace the data source and the PagerDuty client (tests, embedding)."""
    resolved = settings if settings is not None else get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = build_services(resolved, sender=note_sender)
        app.state.services = services
        await start_services(services, backend_factory)
        log.info("faultline API ready on %s (auth %s, data: %s)", resolved.base_url,
                 "on" if resolved.auth_required else "off (loopback demo mode)",
                 services.backend.name if services.backend else services.backend_error)
        try:
            yield
        finally:
            await stop_services(services)
            store = services.extras.pop("telemetry_store", None)
            if store is not None:
                store.close()

    app = FastAPI(
        title="faultline", version=VERSION, lifespan=lifespan, docs_url=None, redoc_url=None,
        description="Root-cause insights for AI-native applications on Kubernetes: start an insight for a symptom, "
                    "read its ranked causes, fault chain, evidence and narrative; receive Alertmanager and PagerDuty "
                    "webhooks. Send `Authorization: Bearer <token>` when tokens are configured.",
    )
    app.dependency_overrides[get_settings] = lambda: resolved
    errors_http.install(app)
    for module in (insights, incidents, topology, otlp, alerts, webhooks, health, console):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=console.STATIC_DIR), name="static")
    middleware.install(app, resolved)  # Host check, token check before the body, body guard, security headers
    # no CORS middleware: CORS stays off
    return app
