"""The metrics a service exports, without a network: every unary RPC counted and timed per method and
status, the server's faults counted as errors and the caller's not; and consumer lag per group and
topic, measured by each member no more than every few seconds and only while metrics are exported."""

import contextlib
from types import SimpleNamespace
from typing import Any

import grpc
import pytest
from aiokafka import TopicPartition
from aiokafka.errors import IllegalStateError
from cc.telephony.v1 import telephony_pb2
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from services.common import consumer_lag, telemetry
from services.common.access import parse_api_keys
from services.common.consumer_lag import MEASURE_SECONDS, MeasuredLag, summed
from services.common.errors import NotFound, Unavailable
from services.common.grpc_server import TenantAndErrorsInterceptor
from services.common.request_metrics import RequestMetrics

METHOD = "/cc.telephony.v1.TelephonyService/GetCall"


class Context:
    """What the interceptor uses of a grpc.aio.ServicerContext; an abort sets the call's status."""

    def __init__(self) -> None:
        self._code: grpc.StatusCode | None = None

    def invocation_metadata(self) -> list[tuple[str, str]]:
        return [("x-api-key", "key")]

    async def abort_with_status(self, status: Any) -> None:
        self._code = status.code
        raise grpc.aio.AbortError()

    def code(self) -> grpc.StatusCode | None:
        return self._code


async def test_each_unary_rpc_is_counted_and_timed_per_method_and_status() -> None:
    reader = InMemoryMetricReader()
    metrics = RequestMetrics(MeterProvider(metric_readers=[reader]).get_meter("test"), "rpc", "rpc.duration")
    interceptor = TenantAndErrorsInterceptor(parse_api_keys("key:acme").get, lambda: True, metrics)
    outcomes = iter(
        [None, NotFound("call-not-found", "no such call"), Unavailable("event-store-unavailable", "")]
    )

    async def get_call(request: Any, context: Any) -> telephony_pb2.Call:
        failure = next(outcomes)
        if failure is not None:
            raise failure
        return telephony_pb2.Call(call_id=request.call_id)

    async def continuation(details: Any) -> grpc.RpcMethodHandler:
        return grpc.unary_unary_rpc_method_handler(get_call)

    handler = await interceptor.intercept_service(continuation, SimpleNamespace(method=METHOD))
    for _ in range(3):
        with contextlib.suppress(grpc.aio.AbortError):  # a refusal: its status is the context's
            await handler.unary_unary(telephony_pb2.GetCallRequest(call_id="call-1"), Context())

    points = _points(reader)
    ok, not_found, unavailable = (grpc.StatusCode.OK, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNAVAILABLE)
    assert points["rpc.server.requests"] == {ok.value[0]: 1, not_found.value[0]: 1, unavailable.value[0]: 1}
    assert points["rpc.server.errors"] == {unavailable.value[0]: 1}  # a missing call is the caller's
    assert sum(points["rpc.duration"].values()) == 3


def _points(reader: InMemoryMetricReader) -> dict[str, dict[int, int]]:
    """metric name -> gRPC status code -> a counter's value or a histogram's count, for METHOD only."""
    found: dict[str, dict[int, int]] = {}
    data = reader.get_metrics_data()
    assert data is not None
    for metric in data.resource_metrics[0].scope_metrics[0].metrics:
        for point in metric.data.data_points:
            attributes = point.attributes or {}
            assert (attributes["rpc.system"], attributes["rpc.service"], attributes["rpc.method"]) == (
                "grpc",
                "cc.telephony.v1.TelephonyService",
                "GetCall",
            )
            count = getattr(point, "value", None) or getattr(point, "count", 0)
            found.setdefault(metric.name, {})[int(attributes["rpc.grpc.status_code"])] = count
    return found


def test_lag_is_each_partition_s_end_minus_position_summed_per_topic() -> None:
    partitions = [("calls", 10, 7), ("calls", 5, 5), ("calls", 3, 4), ("agents", 9, 1), ("agents", None, 0)]
    # a position past the end it last fetched counts for nothing, an end not fetched yet neither
    assert summed([*partitions, ("tickets", 4, -1001)]) == {"calls": 3, "agents": 8}


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_a_member_measures_its_lag_only_while_metrics_are_exported_and_not_too_often(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = Clock()
    calls = TopicPartition("telephony.call.events.v1", 0)

    async def position(tp: TopicPartition) -> int:
        return 4

    lag = MeasuredLag("analytics.sink", clock)
    try:
        assert not lag.due()  # metrics are not exported: nothing is measured
        monkeypatch.setattr(telemetry._on, "metering", True)
        assert lag.due()
        await lag.measure([calls], lambda tp: 10, position)
        assert lag.latest == {"telephony.call.events.v1": 6}
        clock.now += MEASURE_SECONDS / 2
        assert not lag.due()  # measured a moment ago
        clock.now += MEASURE_SECONDS / 2
        assert lag.due()

        async def moved_away(tp: TopicPartition) -> int:
            raise IllegalStateError("not assigned")

        await lag.measure([calls], lambda tp: 12, moved_away)
        assert lag.latest == {"telephony.call.events.v1": 6}  # a rebalance leaves the latest measure
        assert _observed() == {("analytics.sink", "telephony.call.events.v1"): 6}
    finally:
        lag.close()
    assert ("analytics.sink", "telephony.call.events.v1") not in _observed()


def test_the_gauge_sums_the_members_of_a_group_per_topic() -> None:
    members = [MeasuredLag("telephony.policies"), MeasuredLag("telephony.policies"), MeasuredLag("other")]
    try:
        members[0].update([("routing.decisions.v1", 5, 2)])
        members[1].update([("routing.decisions.v1", 9, 8), ("routing.agent.events.v1", 3, 0)])
        members[2].update([("routing.decisions.v1", 1, 0)])
        observed = _observed()
        assert observed[("telephony.policies", "routing.decisions.v1")] == 4
        assert observed[("telephony.policies", "routing.agent.events.v1")] == 3
        assert observed[("other", "routing.decisions.v1")] == 1
    finally:
        for member in members:
            member.close()


def _observed() -> dict[tuple[str, str], int]:
    """What the lag gauge reports now, by (group, topic)."""
    return {
        (
            str(o.attributes["messaging.consumer.group.name"]),
            str(o.attributes["messaging.destination.name"]),
        ): int(o.value)
        for o in consumer_lag._observe(SimpleNamespace())  # type: ignore[arg-type]
        if o.attributes is not None
    }
