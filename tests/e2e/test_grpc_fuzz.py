"""Every gRPC method of every service under hypothesis (issue 6): requests built from the contracts'
descriptors with valid, empty, huge, unicode, negative and overflowing values, unknown enum numbers and
long lists. Whatever comes, the answer is a status a client can act on (never INTERNAL or UNKNOWN), bad
input is INVALID_ARGUMENT naming its fields, and every service is still serving afterwards."""

from collections import Counter
from typing import Any

import grpc
from cc.analytics.v1 import analytics_pb2
from cc.gateway.v1 import keys_pb2
from cc.routing.v1 import routing_pb2
from cc.telephony.v1 import telephony_pb2
from cc.ticketing.v1 import ticketing_pb2
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.platform import Platform
from tests.e2e.support import violated_fields

SERVICES = [
    (telephony_pb2.DESCRIPTOR.services_by_name["TelephonyService"], "telephony_port"),
    (routing_pb2.DESCRIPTOR.services_by_name["RoutingService"], "routing_port"),
    (ticketing_pb2.DESCRIPTOR.services_by_name["TicketingService"], "ticketing_port"),
    (analytics_pb2.DESCRIPTOR.services_by_name["AnalyticsService"], "analytics_port"),
    (keys_pb2.DESCRIPTOR.services_by_name["ApiKeyService"], "keys_port"),
]
# What a caller can act on: done, fix the request, no such thing, not now, try again.
ANSWERS = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}
MD = (("x-api-key", "e2e-grpc-fuzz"),)

TEXT = st.one_of(
    st.text(max_size=20),
    st.text(min_size=190, max_size=260),
    st.sampled_from(["", " ", "\x00", "\u200b", "😀" * 201, "+821012345678", "1", "9", "#*", "한국어"]),
    st.text(alphabet="0123456789*#", max_size=30),
)
INT64 = st.one_of(st.integers(-(2**63), 2**63 - 1), st.sampled_from([0, -1, 1, 2**53, 2**63 - 1, -(2**63)]))
INT32 = st.one_of(st.integers(-(2**31), 2**31 - 1), st.sampled_from([0, -1, 1, 20, 2**31 - 1]))
SCALARS: dict[int, st.SearchStrategy[Any]] = {
    FieldDescriptor.TYPE_STRING: TEXT,
    FieldDescriptor.TYPE_BYTES: st.binary(max_size=300),
    FieldDescriptor.TYPE_INT64: INT64,
    FieldDescriptor.TYPE_SINT64: INT64,
    FieldDescriptor.TYPE_INT32: INT32,
    FieldDescriptor.TYPE_SINT32: INT32,
    FieldDescriptor.TYPE_UINT32: st.integers(0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: st.integers(0, 2**64 - 1),
    FieldDescriptor.TYPE_BOOL: st.booleans(),
    FieldDescriptor.TYPE_DOUBLE: st.floats(allow_nan=True, allow_infinity=True),
    FieldDescriptor.TYPE_FLOAT: st.floats(width=32, allow_nan=True, allow_infinity=True),
    FieldDescriptor.TYPE_ENUM: st.integers(-3, 12),  # proto3 enums are open: unknown numbers arrive too
}


def value_of(field: FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return message_of(field.message_type, depth + 1)
    return SCALARS[field.type]


def message_of(descriptor: Descriptor, depth: int = 0) -> st.SearchStrategy[Message]:
    """Any message of this type: each field set or not, lists up to past their limits."""
    cls = message_factory.GetMessageClass(descriptor)
    if depth > 3:
        return st.just(cls())
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for field in descriptor.fields:
        entry = field.message_type
        if entry is not None and entry.GetOptions().map_entry:  # map<string, string>: keys and values
            key, item = (value_of(entry.fields_by_name[side], depth) for side in ("key", "value"))
            fields[field.name] = st.dictionaries(key, item, max_size=30)
            continue
        one = value_of(field, depth)
        fields[field.name] = st.lists(one, max_size=60) if field.is_repeated else st.one_of(st.none(), one)

    def build(values: dict[str, Any]) -> Message:
        message = cls()
        for name, value in values.items():
            if value is None:
                continue
            target = getattr(message, name)
            field = descriptor.fields_by_name[name]
            if isinstance(value, dict):
                target.update(value)
            elif field.is_repeated:
                if field.type == FieldDescriptor.TYPE_MESSAGE:
                    for item in value:
                        target.add().CopyFrom(item)
                else:
                    target.extend(value)
            elif field.type == FieldDescriptor.TYPE_MESSAGE:
                target.CopyFrom(value)
            else:
                setattr(message, name, value)
        return message

    return st.fixed_dictionaries(fields).map(build)


def fuzz(channel: grpc.Channel, method: MethodDescriptor, answers: Counter[str]) -> None:
    path = f"/{method.containing_service.full_name}/{method.name}"
    kind = channel.unary_stream if method.server_streaming else channel.unary_unary
    rpc = kind(
        path,
        request_serializer=lambda message: message.SerializeToString(),
        response_deserializer=message_factory.GetMessageClass(method.output_type).FromString,
    )

    def call(request: Message, **options: object) -> object:
        """A unary answer, or every message of a stream (an export) read to its end."""
        answer = rpc(request, **options)
        return list(answer) if method.server_streaming else answer

    @given(request=message_of(method.input_type))
    @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def answers_sensibly(request: Message) -> None:
        try:
            call(request, metadata=MD, timeout=30)
            answers["OK"] += 1
        except grpc.RpcError as error:
            code = error.code()
            answers[code.name] += 1
            assert code in ANSWERS, f"{path} answered {code.name}: {error.details()} for {request}"
            if code == grpc.StatusCode.INVALID_ARGUMENT:
                assert violated_fields(error), f"{path}: INVALID_ARGUMENT names no field for {request}"

    answers_sensibly()


def test_every_grpc_method_answers_any_request_sensibly_and_the_services_stay_up(platform: Platform) -> None:
    answers: Counter[str] = Counter()
    methods = 0
    for service, port_field in SERVICES:
        address = platform.settings.address(getattr(platform.settings, port_field))
        with grpc.insecure_channel(address) as channel:
            for method in service.methods:
                fuzz(channel, method, answers)
                methods += 1
            health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
            assert health.status == health_pb2.HealthCheckResponse.SERVING
    assert all(platform.running(name) for name in platform.names())
    print(f"fuzzed {methods} methods with {answers.total()} requests: {dict(answers.most_common())}")
