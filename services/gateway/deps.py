"""Typed dependencies: the caller's credential, the service clients, the live metrics.

Each is `async def` though none awaits anything: FastAPI runs a plain `def` dependency in a worker
thread, three thread hand-offs per request for what takes microseconds."""

from typing import Annotated

from fastapi import Cookie, Depends, Header, Request

from services.common import telemetry
from services.common.access import Credential
from services.common.errors import PermissionDenied, Unauthenticated
from services.common.grpc_server import API_KEY_HEADER
from services.common.keys import KeyRing
from services.gateway.clients import ServiceClients
from services.gateway.live_metrics import LiveQueueMetrics


class Caller:
    """The authenticated caller: its API key travels on to the services, which resolve the same tenant."""

    def __init__(self, api_key: str, credential: Credential) -> None:
        self.api_key = api_key
        self.credential = credential
        self.tenant_id = credential.tenant_id

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        """The credential, and the trace context so the service's span joins the request's trace."""
        return ((API_KEY_HEADER, self.api_key), *telemetry.inject_metadata())


# The console's session (POST /v1/session): the key in an HttpOnly cookie, so a browser's EventSource,
# which cannot set headers, is authenticated too, and no script can read the key.
SESSION_COOKIE = "cc_session"


async def caller(
    request: Request,
    x_api_key: Annotated[str, Header(description="An issued key (cck.…) or a development key.")] = "",
    session: Annotated[
        str,
        Cookie(
            alias=SESSION_COOKIE,
            max_length=500,
            description="The console's session (POST /v1/session); an X-API-Key header wins over it.",
        ),
    ] = "",
) -> Caller:
    keys: KeyRing = request.app.state.keys
    api_key = x_api_key or session
    credential = keys.authenticate(api_key)
    if credential is None:
        raise Unauthenticated(
            "invalid-api-key", "a valid X-API-Key header (or a console session) is required"
        )
    if not x_api_key and request.method not in SAFE_METHODS and not same_origin(request):
        raise PermissionDenied(
            "cross-origin-request", "a change with the session cookie must come from the console's own origin"
        )
    return Caller(api_key, credential)


# Reads may come from anywhere the cookie goes; a change made with it must come from the console itself.
# SameSite=Strict keeps other sites from sending the cookie, not another origin of the same site (another
# port, a sibling subdomain), and a body-less POST needs no preflight.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def same_origin(request: Request) -> bool:
    """The browser says the request came from a page of this origin (Sec-Fetch-Site, else Origin)."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site == "same-origin"
    origin = request.headers.get("origin")
    return origin is not None and origin == f"{request.url.scheme}://{request.headers.get('host', '')}"


async def clients(request: Request) -> ServiceClients:
    services: ServiceClients = request.app.state.clients
    return services


async def live_metrics(request: Request) -> LiveQueueMetrics:
    metrics: LiveQueueMetrics = request.app.state.live_metrics
    return metrics


AuthenticatedCaller = Annotated[Caller, Depends(caller)]
Clients = Annotated[ServiceClients, Depends(clients)]
LiveMetrics = Annotated[LiveQueueMetrics, Depends(live_metrics)]
IdempotencyKey = Annotated[
    str, Header(max_length=200, description="Retrying a write with the same key returns the first outcome.")
]
