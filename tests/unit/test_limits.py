"""The contracts' limits (issue 6): every text field and list a client can send has a maximum, the gRPC
edge names each field over it, REST allows no more than the contract, and the gateway refuses a body
above the request limit before any route reads it."""

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from buf.validate import validate_pb2
from cc.analytics.v1 import analytics_pb2
from cc.routing.v1 import events_pb2 as routing_events
from cc.routing.v1 import routing_pb2
from cc.telephony.v1 import telephony_pb2
from cc.ticketing.v1 import ticketing_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from pydantic import BaseModel, ValidationError
from starlette.types import Message, Receive, Scope, Send

from services.common.errors import InvalidArgument
from services.common.settings import PlatformSettings
from services.common.validation import check_request
from services.gateway import models
from services.gateway.body_limit import BodyLimit

SERVICES = [
    telephony_pb2.DESCRIPTOR.services_by_name["TelephonyService"],
    routing_pb2.DESCRIPTOR.services_by_name["RoutingService"],
    ticketing_pb2.DESCRIPTOR.services_by_name["TicketingService"],
    analytics_pb2.DESCRIPTOR.services_by_name["AnalyticsService"],
]


def rules_of(field: FieldDescriptor) -> validate_pb2.FieldRules:
    return field.GetOptions().Extensions[validate_pb2.field]


def unbounded(message: Descriptor, path: str = "") -> Iterator[str]:
    """Every text field and list reachable from `message` with no maximum size."""
    for field in message.fields:
        name, rules = f"{path}{field.name}", rules_of(field)
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            entry = field.message_type.fields_by_name
            bounded = rules.map.HasField("max_pairs") and all(
                side.string.HasField("max_len")
                for side, kind in ((rules.map.keys, entry["key"]), (rules.map.values, entry["value"]))
                if kind.type == FieldDescriptor.TYPE_STRING  # a number has a size of its own
            )
            if not bounded:
                yield f"{name}{{}}"
            continue
        repeated = field.is_repeated
        if repeated and not rules.repeated.HasField("max_items"):
            yield name
        text = field.type in (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BYTES)
        items = rules.repeated.items if repeated else rules
        if text and not (items.string.HasField("max_len") or items.bytes.HasField("max_len")):
            yield f"{name}[]" if repeated else name
        if field.message_type is not None and not field.message_type.full_name.startswith("google.protobuf"):
            yield from unbounded(field.message_type, f"{name}.")


def test_every_text_field_and_list_a_client_sends_has_a_maximum() -> None:
    missing = [
        f"{method.input_type.name}.{name}"
        for service in SERVICES
        for method in service.methods
        for name in unbounded(method.input_type)
    ]
    assert missing == []


def test_a_request_over_its_limits_is_refused_naming_each_field() -> None:
    request = routing_pb2.LogInAgentRequest(
        agent_id="a" * 201,
        site_id="seoul",
        skills=[routing_events.Skill(name="general"), routing_events.Skill(name="s" * 201)],
    )
    with pytest.raises(InvalidArgument) as refused:
        check_request(request)
    assert [v.field for v in refused.value.field_violations] == ["agent_id", "skills[1].name"]
    assert refused.value.message.startswith("agent_id must be at most 200 characters")


def test_a_list_over_its_limit_is_refused_and_one_at_it_is_not() -> None:
    skills = [routing_events.Skill(name=f"skill-{i}") for i in range(51)]
    with pytest.raises(InvalidArgument) as refused:
        check_request(routing_pb2.LogInAgentRequest(agent_id="a", skills=skills))
    assert [v.field for v in refused.value.field_violations] == ["skills"]
    check_request(routing_pb2.LogInAgentRequest(agent_id="a", skills=skills[:50]))


def test_limits_count_characters_not_bytes() -> None:
    check_request(telephony_pb2.OfferCallRequest(ani="한" * 200, dnis="1588"))  # 600 bytes of UTF-8
    with pytest.raises(InvalidArgument):
        check_request(telephony_pb2.OfferCallRequest(ani="한" * 201, dnis="1588"))


def test_many_violations_are_all_in_the_details_and_summarised_in_the_message() -> None:
    skills = [routing_events.Skill(name="s" * 201) for _ in range(8)]
    with pytest.raises(InvalidArgument) as refused:
        check_request(routing_pb2.LogInAgentRequest(agent_id="a", skills=skills))
    assert len(refused.value.field_violations) == 8
    assert refused.value.message.endswith("; and 3 more")


def test_a_request_limit_that_could_make_an_event_too_large_is_refused_at_start() -> None:
    assert PlatformSettings().cc_max_request_bytes <= PlatformSettings().cc_max_event_bytes
    with pytest.raises(ValidationError, match="CC_MAX_REQUEST_BYTES"):
        PlatformSettings(cc_max_request_bytes=900 * 1024)


@pytest.mark.parametrize(
    ("body", "request_type"),
    [
        (models.OfferCallBody, telephony_pb2.OfferCallRequest),
        (models.AnswerBody, telephony_pb2.AnswerCallRequest),
        (models.LogInBody, routing_pb2.LogInAgentRequest),
        (models.Skill, routing_events.Skill),
        (models.AgentStateBody, routing_pb2.SetAgentStateRequest),
        (models.TransitionBody, ticketing_pb2.TransitionTicketRequest),
        (models.NoteBody, ticketing_pb2.AddTicketNoteRequest),
    ],
)
def test_rest_allows_no_more_than_the_contract(body: type[BaseModel], request_type: type) -> None:
    properties = body.model_json_schema()["properties"]
    compared = 0
    for field in request_type.DESCRIPTOR.fields:
        schema = properties.get(field.name)
        if schema is None:
            continue
        rules = rules_of(field)
        if "maxLength" in schema:
            assert schema["maxLength"] <= rules.string.max_len, field.name
            compared += 1
        if "maxItems" in schema:
            assert schema["maxItems"] <= rules.repeated.max_items, field.name
            compared += 1
    assert compared  # the pair shares at least one bounded field


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    """An app that answers with the body it read."""
    body, more = b"", True
    while more:
        message: Message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
async def limited() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=BodyLimit(echo, max_bytes=10))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        yield client


async def test_a_body_within_the_limit_reaches_the_route_whole(limited: httpx.AsyncClient) -> None:
    response = await limited.post("/v1/calls", content=b"0123456789")
    assert (response.status_code, response.content) == (200, b"0123456789")


async def test_a_declared_body_over_the_limit_is_refused(limited: httpx.AsyncClient) -> None:
    response = await limited.post("/v1/calls", content=b"01234567890")
    assert response.status_code == 413
    assert response.json()["error_id"] == "request-too-large"


async def test_a_streamed_body_over_the_limit_is_refused(limited: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield b"01234"

    response = await limited.post("/v1/calls", content=chunks())  # chunked: no Content-Length
    assert (response.status_code, response.json()["error_id"]) == (413, "request-too-large")
