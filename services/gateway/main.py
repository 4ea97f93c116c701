"""The REST gateway for integrators: FastAPI app factory with a lifespan that opens the gRPC channels,
tails the live metrics topic and follows the API keys."""

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from aiokafka.errors import KafkaError
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from services.common import request_metrics, telemetry
from services.common.keys import KeyRing
from services.common.settings import PlatformSettings, get_settings
from services.common.topics import ensure_topics
from services.gateway import errors, readiness
from services.gateway.body_limit import BodyLimit
from services.gateway.clients import ServiceClients
from services.gateway.live_metrics import LiveQueueMetrics
from services.gateway.routers import (
    agents,
    caller_list,
    calls,
    campaigns,
    contacts,
    customers,
    exports,
    insights,
    keys,
    lines,
    queues,
    session,
    templates,
    ticket_groups,
    tickets,
)
from services.gateway.tracing import TraceRequests
from services.gateway.twilio import routes as twilio_routes
from services.gateway.twilio.accounts import TwilioAccounts
from services.gateway.twilio.dialer import Dialer
from services.gateway.twilio.flows import FlowCache

log = logging.getLogger(__name__)
CONSOLE = Path(__file__).parent / "console"
TOPICS_RETRY_SECONDS = 1.0


async def follow(
    settings: PlatformSettings, live_metrics: LiveQueueMetrics, keys: KeyRing, dialer: Dialer | None
) -> None:
    """Follow the live metrics and the API keys once their topics are served. On a fresh broker the
    gateway can start before any service has created them, and a reader assigned to a topic that does not
    exist yet reads nothing, ever; so the gateway makes sure of them itself, retrying while the broker is
    away. Until then /readyz says not ready."""
    while True:
        try:
            await ensure_topics(
                settings.kafka_bootstrap_servers,
                settings.cc_partitions,
                replication_factor=settings.cc_replication_factor,
                outcome_window_ms=settings.outcome_window_ms,
            )
            break
        except (KafkaError, OSError, TimeoutError):
            log.warning("the platform's topics are not served yet; retrying in %ss", TOPICS_RETRY_SECONDS)
            await asyncio.sleep(TOPICS_RETRY_SECONDS)
    try:
        await asyncio.gather(live_metrics.run(), keys.run(), *([dialer.run()] if dialer else []))
    except Exception:
        # A gateway whose key ring stopped would let revoked keys in: stop it, as a service whose
        # background loop stops does, and let whatever runs it start it again.
        log.exception("the gateway stopped following its topics: stopping")
        os.kill(os.getpid(), signal.SIGTERM)
        raise


def create_app(settings: PlatformSettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    twilio_accounts = TwilioAccounts.parse(settings.cc_twilio_accounts)  # a bad entry stops the start

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.clients = ServiceClients.connect(settings)
        app.state.live_metrics = LiveQueueMetrics(settings.kafka_bootstrap_servers)
        app.state.keys = KeyRing(settings.credentials(), settings.kafka_bootstrap_servers)
        app.state.settings = settings
        app.state.twilio_accounts = twilio_accounts
        app.state.twilio_flows = FlowCache()
        app.state.dialer = Dialer(settings, twilio_accounts, app.state.clients) if twilio_accounts else None
        following = asyncio.create_task(
            follow(settings, app.state.live_metrics, app.state.keys, app.state.dialer)
        )
        try:
            yield
        finally:
            following.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await following
            await app.state.clients.close()

    app = FastAPI(
        title="Contact centre platform API",
        version="1.0.0",
        description="Calls, agents, tickets, customer journeys and live queue metrics. "
        "Every request carries an `X-API-Key` that decides the tenant.",
        lifespan=lifespan,
        # The request's span and metrics are TraceRequests': FastAPI's own telemetry would wrap it in a
        # second server span, add spans of its own for every dependency and the serialization, and
        # continue a trace any caller names, where the platform's traces start at its edge.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    errors.install(app)
    app.add_middleware(BodyLimit, max_bytes=settings.cc_max_request_bytes)
    if telemetry.tracing() or telemetry.metering():  # else nothing to record: no middleware at all
        app.add_middleware(
            TraceRequests,
            tracer=telemetry.tracer(__name__),
            metrics=request_metrics.exported("http", "http.server.request.duration"),
        )

    for router in (
        calls.router,
        agents.router,
        agents.statistics_router,
        queues.router,
        lines.router,
        caller_list.router,
        campaigns.router,
        contacts.router,
        tickets.router,
        customers.router,
        customers.screen_pop_router,
        templates.router,
        ticket_groups.router,
        insights.router,
        exports.router,
        keys.router,
        session.router,
        twilio_routes.router,
    ):
        app.include_router(router)

    # The web console (issue "Web console"): static pages from the same origin as the API.
    app.mount("/console", StaticFiles(directory=CONSOLE, html=True), name="console")

    @app.get("/healthz", tags=["health"], summary="Liveness of the gateway process")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["health"],
        summary="Readiness: every service SERVING and the live metrics followed (503 with what is not)",
        responses={503: {"description": "Not ready; `checks` says what is missing"}},
    )
    async def readyz(request: Request) -> JSONResponse:
        state = request.app.state
        found = await readiness.checks(state.clients, state.live_metrics, state.keys, state.dialer)
        ready = all(found.values())
        return JSONResponse(
            status_code=200 if ready else 503,
            content={"ready": ready, "checks": found},
            headers=None if ready else {"Retry-After": str(errors.RETRY_AFTER_SECONDS)},
        )

    return app
