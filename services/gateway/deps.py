"""Typed dependencies: the caller's credential, the service clients, the live metrics."""

from typing import Annotated

from fastapi import Depends, Header, Request

from services.common import telemetry
from services.common.errors import Unauthenticated
from services.common.grpc_server import API_KEY_HEADER
from services.common.keys import KeyRing
from services.gateway.clients import ServiceClients
from services.gateway.live_metrics import LiveQueueMetrics


class Caller:
    """The authenticated caller: its API key travels on to the services, which resolve the same tenant."""

    def __init__(self, api_key: str, tenant_id: str) -> None:
        self.api_key = api_key
        self.tenant_id = tenant_id

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        """The credential, and the trace context so the service's span joins the request's trace."""
        return ((API_KEY_HEADER, self.api_key), *telemetry.inject_metadata())


def caller(
    request: Request,
    x_api_key: Annotated[str, Header(description="An issued key (cck.…) or a development key.")] = "",
) -> Caller:
    keys: KeyRing = request.app.state.keys
    credential = keys.authenticate(x_api_key)
    if credential is None:
        raise Unauthenticated("invalid-api-key", "a valid X-API-Key header is required")
    return Caller(x_api_key, credential.tenant_id)


def clients(request: Request) -> ServiceClients:
    services: ServiceClients = request.app.state.clients
    return services


def live_metrics(request: Request) -> LiveQueueMetrics:
    metrics: LiveQueueMetrics = request.app.state.live_metrics
    return metrics


AuthenticatedCaller = Annotated[Caller, Depends(caller)]
Clients = Annotated[ServiceClients, Depends(clients)]
LiveMetrics = Annotated[LiveQueueMetrics, Depends(live_metrics)]
IdempotencyKey = Annotated[
    str, Header(max_length=200, description="Retrying a write with the same key returns the first outcome.")
]
