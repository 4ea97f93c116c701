"""gRPC server bootstrap shared by every service: health (NOT_SERVING until the service has rebuilt its
state), reflection (so grpcurl works), one interceptor that resolves the credential (tenant and role)
from the API key, checks the request against its contract's limits and the role's permissions, and
maps PlatformError to a status with details, and graceful shutdown on SIGTERM. With metrics exported,
the interceptor counts and times every unary call per method (services/common/request_metrics.py)."""

import asyncio
import contextlib
import contextvars
import logging
import signal
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from grpc_status import rpc_status
from opentelemetry import trace

from services.common import request_metrics, telemetry
from services.common.access import Credential, authorize
from services.common.envelope import new_id
from services.common.errors import PlatformError, Unauthenticated, Unavailable
from services.common.keys import KeyRing
from services.common.request_metrics import RequestMetrics
from services.common.runtime import arm_stop_deadline
from services.common.validation import check_request

log = logging.getLogger(__name__)
API_KEY_HEADER = "x-api-key"
ERROR_DOMAIN = "cc.platform"
_credential: contextvars.ContextVar[Credential] = contextvars.ContextVar("credential")
_OPEN_SERVICES = ("/grpc.health.v1.Health/", "/grpc.reflection.")
_tracer = telemetry.tracer(__name__)
READINESS_POLL_SECONDS = 0.1
# The statuses that count as the server's fault in the RPC error rate; the others are the caller's
# (a bad request, a missing resource, an illegal transition, a version conflict).
SERVER_FAULTS = frozenset(
    {
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.DATA_LOSS,
    }
)
# Who a presented key belongs to, or None (services/common/keys.py: KeyRing.authenticate).
Authenticate = Callable[[str], Credential | None]


def current_tenant() -> str:
    """The tenant of the RPC being served, as resolved by the interceptor from its credential."""
    return _credential.get().tenant_id


def current_credential() -> Credential:
    """Who sends the RPC being served: tenant, role, agent and the actor its events record."""
    return _credential.get()


def status_of(error: PlatformError) -> status_pb2.Status:
    info = any_pb2.Any()
    info.Pack(error_details_pb2.ErrorInfo(reason=error.error_id, domain=ERROR_DOMAIN))
    details = [info]
    if error.field_violations:
        bad_request = any_pb2.Any()
        bad_request.Pack(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
                    for v in error.field_violations
                ]
            )
        )
        details.append(bad_request)
    return status_pb2.Status(code=error.grpc_code.value[0], message=error.message, details=details)


class TenantAndErrorsInterceptor(grpc.aio.ServerInterceptor):
    """Resolves the tenant from the API key, refuses RPCs while the service is not ready, and maps a
    PlatformError to a status with details. The guarded handler of each method is built once, not per
    call: the credential and the trace context are read from the call's own metadata. Given `metrics`,
    each unary call is counted and timed (a server-streaming one is a subscription: its duration says
    nothing about the service)."""

    def __init__(
        self, authenticate: Authenticate, ready: Callable[[], bool], metrics: RequestMetrics | None = None
    ) -> None:
        self._authenticate = authenticate
        self._ready = ready
        self._metrics = metrics
        self._guarded: dict[str, grpc.RpcMethodHandler] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        method: str = handler_call_details.method
        guarded = self._guarded.get(method)
        if guarded is not None:
            return guarded
        handler = await continuation(handler_call_details)
        if handler is None or method.startswith(_OPEN_SERVICES):
            return handler
        if handler.unary_unary is not None:
            guarded = grpc.unary_unary_rpc_method_handler(
                self._measured(method, self._guard(method, handler.unary_unary)),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        elif handler.unary_stream is not None:
            guarded = grpc.unary_stream_rpc_method_handler(
                self._guard_stream(method, handler.unary_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        else:  # no client-streaming methods: none would be served unguarded
            raise NotImplementedError(f"{method}: only unary requests are guarded")
        self._guarded[method] = guarded
        return guarded

    def _admit(self, method: str, request: Any, metadata: dict[str, Any]) -> None:
        """Who calls, whether the request keeps its contract and the role may send it, and whether the
        service can answer yet; raises the PlatformError that answers the call otherwise."""
        credential = self._authenticate(str(metadata.get(API_KEY_HEADER, "")))
        if credential is None:
            raise Unauthenticated("invalid-api-key", f"a valid {API_KEY_HEADER} metadata entry is required")
        _credential.set(credential)
        check_request(request)
        authorize(credential, method, request)
        if not self._ready():  # a read model still replaying would answer wrongly (404, [])
            raise Unavailable("service-not-ready", "the service is rebuilding its state; retry shortly")

    def _guard(
        self, method: str, inner: Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]
    ) -> Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]:
        async def guarded(request: Any, context: grpc.aio.ServicerContext) -> Any:
            metadata = dict(context.invocation_metadata() or ())
            with _tracer.start_as_current_span(
                method, context=telemetry.extract_metadata(metadata), kind=trace.SpanKind.SERVER
            ):
                try:
                    self._admit(method, request, metadata)
                    return await inner(request, context)
                except Exception as error:  # every failure becomes a status
                    await _abort(method, error, context)

        return guarded

    def _measured(
        self, method: str, handler: Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]
    ) -> Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]:
        """The handler itself without metrics; else the handler, each call counted and timed under its
        method and status."""
        red = self._metrics
        if red is None:
            return handler
        service, _, name = method.lstrip("/").partition("/")
        by_status: dict[grpc.StatusCode, dict[str, str | int]] = {}

        async def measured(request: Any, context: grpc.aio.ServicerContext) -> Any:
            started = time.perf_counter()
            try:
                return await handler(request, context)
            finally:
                status = context.code() or grpc.StatusCode.OK  # None: nothing set, the call succeeded
                attributes = by_status.get(status)
                if attributes is None:
                    attributes = by_status[status] = {
                        "rpc.system": "grpc",
                        "rpc.service": service,
                        "rpc.method": name,
                        "rpc.grpc.status_code": status.value[0],
                    }
                red.record(attributes, time.perf_counter() - started, status in SERVER_FAULTS)

        return measured

    def _guard_stream(
        self, method: str, inner: Callable[[Any, grpc.aio.ServicerContext], AsyncGenerator[Any, None]]
    ) -> Callable[[Any, grpc.aio.ServicerContext], AsyncGenerator[Any, None]]:
        """The same guard for a server-streaming method; a failure after the first message still ends
        the stream with a status of its own. The span covers the admission only: a span kept current
        across a `yield` would be detached in another context when the client cancels mid-stream. The
        handler's stream is closed as soon as the call ends, a cancelled one included."""

        async def guarded(request: Any, context: grpc.aio.ServicerContext) -> AsyncGenerator[Any, None]:
            metadata = dict(context.invocation_metadata() or ())
            try:
                with _tracer.start_as_current_span(
                    method, context=telemetry.extract_metadata(metadata), kind=trace.SpanKind.SERVER
                ):
                    self._admit(method, request, metadata)
                async with contextlib.aclosing(inner(request, context)) as responses:
                    async for response in responses:
                        yield response
            except Exception as error:  # every failure becomes a status
                await _abort(method, error, context)

        return guarded


async def _abort(method: str, error: Exception, context: grpc.aio.ServicerContext) -> None:
    """Answer a failed call: a PlatformError with its status and details, a bug with INTERNAL and an
    incident id to find it in the log by; a handler's own abort stands."""
    if isinstance(error, grpc.aio.AbortError):
        raise error
    if not isinstance(error, PlatformError):
        incident = new_id()
        log.error("%s failed unexpectedly (incident %s)", method, incident, exc_info=error)
        error = PlatformError("internal-error", f"an unexpected error; incident {incident}")
    await context.abort_with_status(rpc_status.to_status(status_of(error)))


Registration = tuple[Callable[[Any, grpc.aio.Server], None], Any, str]


async def serve(
    *,
    address: str,
    keys: KeyRing,
    registrations: Sequence[Registration],
    background: Sequence[Awaitable[None]],
    ready: Callable[[], bool],
    max_request_bytes: int,
) -> None:
    """Run the server and its background loops until SIGTERM/SIGINT or until a loop fails. Health says
    SERVING while `ready()` holds (state rebuilt, nothing failed) and NOT_SERVING otherwise, and RPCs
    are answered UNAVAILABLE while it does not. A request above `max_request_bytes` is refused by gRPC
    itself (RESOURCE_EXHAUSTED) before it is decoded. Callers are checked against `keys`, which this
    server follows too: it is not ready before its key ring has read every key."""

    def able() -> bool:
        return keys.ready() and ready()

    metrics = request_metrics.exported("rpc", "rpc.server.call.duration")
    server = grpc.aio.server(
        interceptors=[TenantAndErrorsInterceptor(keys.authenticate, able, metrics)],
        options=[("grpc.max_receive_message_length", max_request_bytes)],
    )
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = [name for _, _, name in registrations]
    for add, servicer, _ in registrations:
        add(servicer, server)
    reflection.enable_server_reflection([*names, health.SERVICE_NAME, reflection.SERVICE_NAME], server)
    for name in ["", *names]:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    server.add_insecure_port(address)
    await server.start()
    log.info("gRPC listening on %s (NOT_SERVING until state is rebuilt)", address)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        if not stop.is_set():
            arm_stop_deadline()
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    tasks: list[asyncio.Future[Any]] = [asyncio.ensure_future(work) for work in [keys.run(), *background]]

    async def follow_readiness() -> None:
        serving = False
        while True:
            if able() != serving:
                serving = not serving
                status = (
                    health_pb2.HealthCheckResponse.SERVING
                    if serving
                    else health_pb2.HealthCheckResponse.NOT_SERVING
                )
                for name in ["", *names]:
                    await health_servicer.set(name, status)
                log.info("%s %s", "SERVING" if serving else "NOT_SERVING", ", ".join(names))
            await asyncio.sleep(READINESS_POLL_SECONDS)

    readiness = asyncio.ensure_future(follow_readiness())
    stopper = asyncio.ensure_future(stop.wait())
    # Background loops run forever: one that returns or raises ends the process, never left half-alive.
    done, _ = await asyncio.wait([stopper, *tasks], return_when=asyncio.FIRST_COMPLETED)
    failed = [t for t in done if t is not stopper]
    tasks.extend([readiness, stopper])
    await health_servicer.enter_graceful_shutdown()
    await server.stop(grace=3)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    if failed:
        raise RuntimeError("a background loop stopped") from failed[0].exception()
