"""The REST resources: request bodies validated at the edge, responses mapped from the services' protos.
Enum values are lower-case words (`queued`, `not-ready`) rather than protobuf constant names."""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from cc.analytics.v1 import analytics_pb2
from cc.gateway.v1 import keys_pb2
from cc.routing.v1 import events_pb2 as routing_events
from cc.routing.v1 import routing_pb2
from cc.telephony.v1 import events_pb2 as telephony_events
from cc.telephony.v1 import telephony_pb2
from cc.ticketing.v1 import events_pb2 as ticket_events
from cc.ticketing.v1 import ticketing_pb2
from fastapi import Path, Query
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import BaseModel, ConfigDict, Field

from services.common import categories
from services.common.access import Credential
from services.common.envelope import timestamp
from services.common.errors import FieldViolation, InvalidArgument

# The services' text rule (services.common.errors.text_problem) as OpenAPI patterns: no control
# characters (notes may hold tabs and line breaks) and at least one visible character.
_LINE = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
_LINES = (
    r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"
)
Text = Annotated[str, Field(min_length=1, max_length=200, pattern=_LINE)]
MultilineText = Annotated[str, Field(min_length=1, max_length=10_000, pattern=_LINES)]
OptionalText = Annotated[str, Field(max_length=200, pattern=r"^[^\x00-\x1f\x7f-\x9f]*$")]
PathId = Annotated[str, Path(min_length=1, max_length=200, pattern=_LINE)]
PhoneNumber = Annotated[str, Path(pattern=r"^\+?[0-9]{2,20}$", examples=["+821012345678"])]
QueryId = Annotated[str, Query(min_length=1, max_length=200, pattern=_LINE)]


def enum_word(message: Message, field: str, prefix: str) -> str:
    descriptor = message.DESCRIPTOR.fields_by_name[field].enum_type
    assert descriptor is not None
    return (
        descriptor.values_by_number[getattr(message, field)]
        .name.removeprefix(prefix)
        .lower()
        .replace("_", "-")
    )


def number(message: Message, field: str) -> float | None:
    """An `optional` numeric proto field: None when the service left it unset (no data to compute it from)."""
    return float(getattr(message, field)) if message.HasField(field) else None


def moment(message: Message, field: str) -> datetime | None:
    if not message.HasField(field):
        return None
    stamp: Timestamp = getattr(message, field)
    return stamp.ToDatetime(tzinfo=UTC)


def given_timestamp(value: datetime, field: str) -> Timestamp:
    """A client's datetime as a Timestamp; 422 naming `field` for one beyond what a Timestamp holds
    (year 10000 in UTC)."""
    try:
        return timestamp(value)
    except (OverflowError, ValueError):
        raise InvalidArgument(
            "invalid-argument", f"{field} is out of range", [FieldViolation(field, "before 9999")]
        ) from None


class WriteOptions(BaseModel):
    """Optimistic concurrency: refused (409, version-conflict) unless the resource is at this version."""

    # 2**53 is exact in a JSON number (a double); no aggregate gets near it.
    expected_version: int | None = Field(default=None, ge=0, le=2**53)


# --- calls --------------------------------------------------------------------------------------
class OfferCallBody(BaseModel):
    ani: Text = Field(description="The caller's number (ANI).", examples=["+821012345678"])
    dnis: Text = Field(description="The dialled service number (DNIS).", examples=["1588-1234"])
    customer_id: OptionalText = Field(
        default="",
        description="Known customer id; if empty, the profile with the ANI's number, else one from it.",
    )
    priority: int = Field(
        default=0, ge=0, le=10, description="0 (none) to 10: a VIP or urgency the adapter knows (RT-4)."
    )
    carrier_ref: OptionalText = Field(
        default="", description="The carrier's own id of the call, for an adapter acting on the live call."
    )


class OutboundCallBody(BaseModel):
    agent_id: Text = Field(description="The agent who calls; an agent's key calls as itself.")
    number: Annotated[str, Field(pattern=r"^\+?[0-9 ().-]{2,30}$")] = Field(
        description="The customer's number.", examples=["+821055550101"]
    )
    line_id: Text = Field(description="The line of business that calls: its hours are the calling hours.")
    caller_id: Annotated[str, Field(pattern=r"^(\+?[0-9 ().-]{2,30})?$")] = Field(
        default="", description="One of the line's numbers, shown to the customer; empty for its first."
    )


class DigitsBody(WriteOptions):
    digits: Annotated[
        str,
        Field(
            pattern=r"^[0-9*#]{0,32}$",
            examples=["1"],
            description="At a masked collect node (a card number) kept nowhere: only count and Luhn check. "
            "Empty: the caller pressed nothing before the carrier's timeout, a miss like an unknown entry.",
        ),
    ]


class VoicemailBody(WriteOptions):
    recording_ref: Annotated[str, Field(min_length=1, max_length=2000, pattern=_LINE)] = Field(
        description="Where the carrier keeps the recording: a URL or its own id."
    )
    duration_seconds: int = Field(ge=1, le=600, description="At most the voicemail node's max_seconds.")


class AnswerBody(WriteOptions):
    agent_id: Text


class TransferBody(WriteOptions):
    """A blind transfer by the agent on the call (TEL-1)."""

    agent_id: Text = Field(description="The agent on the call, who transfers it and then wraps up.")
    target: Literal["queue", "agent", "number"] = Field(
        description="queue: it waits there as a new offer; agent: it waits for that agent, then for anyone "
        "in its queue; number: the carrier connects the caller to it and the call ends here."
    )
    to: Text = Field(description="The queue id, the agent id or the phone number.")


class ConsultBody(WriteOptions):
    """The agent on the call consults an outside number or another agent, the caller on hold (TEL-1)."""

    agent_id: Text = Field(description="The agent on the call, who consults.")
    number: OptionalText = Field(
        default="", description="The outside number to consult: an expert, a partner, an interpreter."
    )
    consulted_agent_id: OptionalText = Field(
        default="",
        description="Or the agent to consult (a supervisor, a specialist), who must be logged in and free.",
    )
    queue_id: OptionalText = Field(
        default="", description="Or a queue: whoever of it routing would give its next contact is consulted."
    )


class ConsultView(BaseModel):
    number: str = Field(description="The outside number the agent consults.")
    agent_id: str = Field(default="", description="Or the agent it consults.")
    joined: bool = Field(
        default=False, description="The agent consulted is on the call: it may be conferenced or given it."
    )
    conference: bool = Field(description="Whether the three of them are in a conference.")


class CallbackBody(WriteOptions):
    """The caller waiting in a queue accepts a callback (TEL-5)."""

    number: Annotated[str, Field(pattern=r"^\+?[0-9 ().-]{2,30}$")] | None = Field(
        default=None, description="The number to call back; null for the caller's own."
    )
    at: datetime | None = Field(
        default=None,
        description="A time slot 1 minute to 14 days ahead; null to keep the caller's place in the queue.",
    )


class CallbackOutcomeBody(WriteOptions):
    outcome: Literal["connected", "no-answer", "busy", "failed", "ringing"] = Field(
        description="What became of the outbound leg: `ringing` (not an outcome: the carrier placed it and "
        "names it in `carrier_ref`), then connected, no-answer, busy or failed."
    )
    carrier_ref: OptionalText = Field(
        default="",
        description="The carrier's own id of the leg that connected: the call's carrier_ref from then on.",
    )


class CallbackView(BaseModel):
    number: str
    attempts: int = Field(description="Outbound legs placed so far.")
    due_at: datetime | None = Field(description="While waiting out of its queue: when it goes back.")
    connected: bool = Field(description="Whether the caller answered an attempt.")


class HangUpBody(WriteOptions):
    party: Literal["caller", "agent"]


# --- contacts of other channels (RT-7) ------------------------------------------------------------
class OfferContactBody(BaseModel):
    channel: Literal["chat", "email", "task"] = Field(
        description="A voice contact is a call: POST /v1/calls."
    )
    queue_id: Text = Field(description="A queue an admin defined for the same channel.")
    priority: int = Field(default=0, ge=0, le=10, description="0 (none) to 10 (RT-4).")
    customer_id: OptionalText = ""


class ContactAgentBody(BaseModel):
    agent_id: Text


class DeclineContactBody(ContactAgentBody):
    reason: OptionalText = ""


class Contact(BaseModel):
    contact_id: str
    channel: str
    queue_id: str
    priority: int
    customer_id: str
    status: str = Field(description="queued, offered (to agent_id), accepted or closed.")
    agent_id: str
    abandoned: bool = Field(description="Closed before any agent accepted it.")
    enqueued_at: datetime | None
    version: int

    @staticmethod
    def of(contact: routing_pb2.Contact) -> "Contact":
        return Contact(
            contact_id=contact.contact_id,
            channel=contact.channel,
            queue_id=contact.queue_id,
            priority=contact.priority,
            customer_id=contact.customer_id,
            status=enum_word(contact, "status", "CONTACT_STATUS_"),
            agent_id=contact.agent_id,
            abandoned=contact.abandoned,
            enqueued_at=moment(contact, "enqueued_at"),
            version=contact.version,
        )


class Call(BaseModel):
    call_id: str
    ani: str
    dnis: str
    customer_id: str
    status: str
    queue_id: str
    agent_id: str
    ivr_digits: list[str]
    ended_by: str
    end_reason: str
    offered_at: datetime | None
    enqueued_at: datetime | None
    answered_at: datetime | None
    ended_at: datetime | None
    line_id: str = Field(description="The line of business its DNIS reached; empty for the default line.")
    flow_version: int = Field(description="The version of the line's IVR flow the call walks; 0 the default.")
    node_id: str = Field(description="In the IVR: the flow node waiting for the caller's digits.")
    priority: int
    attributes: dict[str, str] = Field(description="What the flow's set-attribute and collect nodes set.")
    caller_flag: str = Field(
        description="Why the caller's number is flagged on the caller list; empty if not."
    )
    on_hold: bool
    hold_seconds: float = Field(description="On hold so far, the hold in progress counted to its start.")
    transfers: int = Field(description="How many times an agent transferred the call.")
    callback: CallbackView | None = Field(description="Set once the caller accepted a callback.")
    recording_segments: int = Field(description="Recording segments started so far (a pause ends one).")
    recording_paused: str = Field(
        description="Why the recording is paused now: pci (a masked entry), agent; empty while recording."
    )
    heard: list[str] = Field(
        description="What the caller was told since their last entry, in order: the announcements, then "
        "the prompt the call waits on. A carrier adapter plays these."
    )
    carrier_ref: str = Field(description="The carrier's own id of the call (Twilio's CallSid); may be empty.")
    consult: ConsultView | None = Field(description="Set while the agent consults an outside number.")
    transferred_to: str = Field(
        description="The outside number the call was transferred to, by its agent or its flow's transfer node"
    )
    direction: str = Field(
        description="inbound, or outbound (TEL-8: `dnis` is the customer called, `ani` the line's number)."
    )
    campaign_id: str = Field(description="The outbound campaign whose contact the call is (TEL-8), if any.")
    version: int

    @staticmethod
    def of(call: telephony_pb2.Call) -> "Call":
        return Call(
            call_id=call.call_id,
            ani=call.ani,
            dnis=call.dnis,
            customer_id=call.customer_id,
            status=enum_word(call, "status", "CALL_STATUS_"),
            queue_id=call.queue_id,
            agent_id=call.agent_id,
            ivr_digits=list(call.ivr_digits),
            ended_by=enum_word(call, "ended_by", "PARTY_"),
            end_reason=enum_word(call, "end_reason", "END_REASON_"),
            offered_at=moment(call, "offered_at"),
            enqueued_at=moment(call, "enqueued_at"),
            answered_at=moment(call, "answered_at"),
            ended_at=moment(call, "ended_at"),
            line_id=call.line_id,
            flow_version=call.flow_version,
            node_id=call.node_id,
            priority=call.priority,
            attributes=dict(call.attributes),
            caller_flag=call.caller_flag,
            on_hold=call.on_hold,
            hold_seconds=call.hold_seconds,
            transfers=call.transfers,
            callback=CallbackView(
                number=call.callback.number,
                attempts=call.callback.attempts,
                due_at=moment(call.callback, "due_at"),
                connected=call.callback.connected,
            )
            if call.HasField("callback")
            else None,
            recording_segments=call.recording_segments,
            recording_paused=call.recording_paused,
            heard=list(call.heard),
            carrier_ref=call.carrier_ref,
            transferred_to=call.transferred_to,
            campaign_id=call.campaign_id,
            consult=ConsultView(
                number=call.consult.number,
                agent_id=call.consult.agent_id,
                joined=call.consult.joined,
                conference=call.consult.conference,
            )
            if call.HasField("consult")
            else None,
            direction=enum_word(call, "direction", "CALL_DIRECTION_"),
            version=call.version,
        )


# --- lines of business and their IVR flows -----------------------------------------------------
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
Spans = Annotated[
    str,
    Field(
        max_length=200,
        pattern=r"^[0-9:, -]*$",
        description='Local opening times: "09:00-18:00", several separated by commas; "" closed.',
        examples=["09:00-12:00,13:00-18:00"],
    ),
]
IsoDate = Annotated[str, Field(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", examples=["2026-12-24"])]
NodeId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
FlowText = Annotated[str, Field(max_length=1000, pattern=r"^[^\x00-\x1f\x7f-\x9f]*$")]


class BusinessHours(BaseModel):
    """A line's business calendar (TEL-4, CAL-1); a day's hours follow the zone's clock."""

    time_zone: Text = Field(examples=["Asia/Seoul"], description="An IANA time zone.")
    weekly: dict[Weekday, Spans] = Field(default={}, description="A weekday not listed is closed.")
    holiday_country: Annotated[str, Field(max_length=2, pattern=r"^([A-Z]{2})?$")] = Field(
        default="", description='Closed on this country\'s public holidays ("KR"); "" for none.'
    )
    holiday_subdivision: Annotated[str, Field(max_length=20, pattern=r"^[A-Za-z0-9-]*$")] = ""
    special_days: dict[IsoDate, Spans] = Field(
        default={},
        max_length=400,
        description="Days with hours of their own over holidays and weekdays.",
        # every key is a date: pydantic says so with patternProperties, which alone would allow others
        json_schema_extra={"additionalProperties": False},
    )

    def to_proto(self) -> telephony_events.BusinessHours:
        return telephony_events.BusinessHours(
            time_zone=self.time_zone,
            weekly={str(day): spans for day, spans in self.weekly.items()},
            holiday_country=self.holiday_country,
            holiday_subdivision=self.holiday_subdivision,
            special_days=self.special_days,
        )

    @staticmethod
    def of(hours: telephony_events.BusinessHours) -> "BusinessHours":
        return BusinessHours(
            time_zone=hours.time_zone,
            weekly=dict(hours.weekly),  # type: ignore[arg-type]
            holiday_country=hours.holiday_country,
            holiday_subdivision=hours.holiday_subdivision,
            special_days=dict(hours.special_days),
        )


TicketPriorityKey = Literal["low", "normal", "high", "urgent"]
ScreenPopUrl = Annotated[str, Field(max_length=2000, pattern=r"^(https?://[^\s\x00-\x1f\x7f-\x9f]+)?$")]
TargetMinutes = Annotated[int, Field(ge=1, le=365 * 24 * 60)]


class TicketSla(BaseModel):
    """The line's ticket SLA targets (TKT-6) in minutes by priority; a priority not listed has none."""

    first_response_minutes: dict[TicketPriorityKey, TargetMinutes] = Field(
        default={}, examples=[{"urgent": 60, "normal": 480}]
    )
    resolution_minutes: dict[TicketPriorityKey, TargetMinutes] = Field(default={})
    all_hours: bool = Field(default=False, description="Count every hour, not only the line's hours.")

    def to_proto(self) -> telephony_events.TicketSla:
        return telephony_events.TicketSla(
            first_response_minutes={str(k): v for k, v in self.first_response_minutes.items()},
            resolution_minutes={str(k): v for k, v in self.resolution_minutes.items()},
            all_hours=self.all_hours,
        )

    @staticmethod
    def of(sla: telephony_events.TicketSla) -> "TicketSla":
        return TicketSla(
            first_response_minutes=dict(sla.first_response_minutes),  # type: ignore[arg-type]
            resolution_minutes=dict(sla.resolution_minutes),  # type: ignore[arg-type]
            all_hours=sla.all_hours,
        )


# Levels joined by "/", each with a visible character (the service trims the spaces around each).
_LEVEL = r"[^/\x00-\x1f\x7f-\x9f]*[^/\s\x00-\x1f\x7f-\x9f][^/\x00-\x1f\x7f-\x9f]*"
_PATH = f"{_LEVEL}(/{_LEVEL}){{0,{categories.MAX_LEVELS - 1}}}"
CategoryPath = Annotated[str, Field(max_length=200, pattern=f"^{_PATH}$", examples=["billing/refund"])]
Category = Annotated[str, Field(max_length=200, pattern=f"^({_PATH})?$", examples=["billing/refund"])]


class LineSettings(BaseModel):
    display_name: OptionalText = ""
    numbers: list[Annotated[str, Field(pattern=r"^\+?[0-9]{2,20}$")]] = Field(
        default=[], max_length=100, description="The service numbers (DNIS) that reach this line."
    )
    hours: BusinessHours | None = Field(default=None, description="null: always open.")
    ticket_sla: TicketSla | None = Field(default=None, description="null: its tickets have no SLA clocks.")
    screen_pop_url: Annotated[
        str, Field(max_length=2000, pattern=r"^(https?://[^\s\x00-\x1f\x7f-\x9f]+)?$")
    ] = Field(
        default="",
        examples=["https://crm.example.com/customers?phone=[TEL]"],
        description="The page the agent's screen pop opens; [TEL] is the caller's number. Empty: none.",
    )
    ticket_categories: list[CategoryPath] = Field(
        default=[],
        max_length=500,
        examples=[["billing/refund", "billing/invoice", "delivery"]],
        description="The ticket categories (VOC) as paths, up to 5 levels; its tickets take only these "
        "and their branches. Empty: any category.",
    )

    def to_proto(self) -> telephony_events.LineSettings:
        settings = telephony_events.LineSettings(
            display_name=self.display_name,
            numbers=self.numbers,
            screen_pop_url=self.screen_pop_url,
            ticket_categories=self.ticket_categories,
        )
        if self.hours is not None:
            settings.hours.CopyFrom(self.hours.to_proto())
        if self.ticket_sla is not None:
            settings.ticket_sla.CopyFrom(self.ticket_sla.to_proto())
        return settings

    @staticmethod
    def of(settings: telephony_events.LineSettings) -> "LineSettings":
        return LineSettings(
            display_name=settings.display_name,
            numbers=list(settings.numbers),
            hours=BusinessHours.of(settings.hours) if settings.HasField("hours") else None,
            ticket_sla=TicketSla.of(settings.ticket_sla) if settings.HasField("ticket_sla") else None,
            screen_pop_url=settings.screen_pop_url,
            ticket_categories=list(settings.ticket_categories),
        )


class DefineLineBody(LineSettings, WriteOptions):
    """The whole settings: a field left out takes its default."""


class Line(BaseModel):
    line_id: str
    settings: LineSettings
    flow_version: int = Field(description="The current IVR flow version; 0 until the first publish.")
    defined_at: datetime | None
    changed_at: datetime | None
    version: int

    @staticmethod
    def of(line: telephony_pb2.Line) -> "Line":
        return Line(
            line_id=line.line_id,
            settings=LineSettings.of(line.settings),
            flow_version=line.flow_version,
            defined_at=moment(line, "defined_at"),
            changed_at=moment(line, "changed_at"),
            version=line.version,
        )


class FlowNode(BaseModel):
    """One step of a flow; the README's table says each type's parameters and exits."""

    id: NodeId
    type: Literal[
        "menu",
        "play",
        "collect",
        "check-hours",
        "set-priority",
        "set-attribute",
        "queue",
        "hang-up",
        "voicemail",
        "callback",
        "transfer",
    ]
    parameters: dict[Annotated[str, Field(max_length=64)], FlowText] = Field(default={}, max_length=10)
    next: Annotated[str, Field(max_length=64)] = ""
    branches: dict[Annotated[str, Field(max_length=64)], Annotated[str, Field(max_length=64)]] = Field(
        default={}, max_length=20, description="A menu's digits, or check-hours' open and closed."
    )


class Flow(BaseModel):
    start: NodeId
    nodes: list[FlowNode] = Field(min_length=1, max_length=200)

    def to_proto(self) -> telephony_events.IvrFlow:
        return telephony_events.IvrFlow(
            start=self.start,
            nodes=[
                telephony_events.FlowNode(
                    id=n.id, type=n.type, parameters=n.parameters, next=n.next, branches=n.branches
                )
                for n in self.nodes
            ],
        )

    @staticmethod
    def of(flow: telephony_events.IvrFlow) -> "Flow":
        return Flow(
            start=flow.start,
            nodes=[
                FlowNode(
                    id=n.id,
                    type=n.type,  # type: ignore[arg-type]
                    parameters=dict(n.parameters),
                    next=n.next,
                    branches=dict(n.branches),
                )
                for n in flow.nodes
            ],
        )


class PublishFlowBody(Flow, WriteOptions):
    """A new version of the line's flow: calls that start from now on walk it."""


class FlowVersion(BaseModel):
    line_id: str
    version: int
    flow: Flow
    published_at: datetime | None

    @staticmethod
    def of(published: telephony_pb2.FlowVersion) -> "FlowVersion":
        return FlowVersion(
            line_id=published.line_id,
            version=published.version,
            flow=Flow.of(published.flow),
            published_at=moment(published, "published_at"),
        )


# --- the caller list ----------------------------------------------------------------------------
ListedActionWord = Literal["block", "flag", "do-not-call"]


class CallerListBody(WriteOptions):
    action: ListedActionWord = Field(description="block: calls end at once; flag: the agent sees why.")
    reason: Text
    expires_at: datetime | None = Field(default=None, description="Listed until then; null: until removed.")


class CallerListEntry(BaseModel):
    number: str
    action: str
    reason: str
    expires_at: datetime | None
    listed: bool = Field(description="False once removed.")
    changed_at: datetime | None
    version: int

    @staticmethod
    def of(entry: telephony_pb2.CallerListEntry) -> "CallerListEntry":
        return CallerListEntry(
            number=entry.number,
            action=enum_word(entry, "action", "LISTED_ACTION_"),
            reason=entry.reason,
            expires_at=moment(entry, "expires_at"),
            listed=entry.listed,
            changed_at=moment(entry, "changed_at"),
            version=entry.version,
        )


# --- agents -------------------------------------------------------------------------------------
class Skill(BaseModel):
    name: Text
    proficiency: int = Field(default=5, ge=1, le=10)


Channel = Literal["voice", "chat", "email", "task"]
CHANNELS: tuple[Channel, ...] = ("voice", "chat", "email", "task")


class Capacity(BaseModel):
    """How many contacts of each channel the agent takes at once (RT-7); a channel listed in
    `exclusive` blocks every other while the agent holds a contact of it."""

    voice: int = Field(default=1, ge=0, le=1)
    chat: int = Field(default=0, ge=0, le=20)
    email: int = Field(default=0, ge=0, le=20)
    task: int = Field(default=0, ge=0, le=20)
    exclusive: list[Channel] = Field(default=[], max_length=4)

    def to_proto(self) -> list[routing_events.ChannelCapacity]:
        return [
            routing_events.ChannelCapacity(
                channel=channel, max_contacts=getattr(self, channel), exclusive=channel in self.exclusive
            )
            for channel in CHANNELS
        ]

    @staticmethod
    def of(profile: Sequence[routing_events.ChannelCapacity]) -> "Capacity":
        if not profile:
            return Capacity()
        counts = {channel: 0 for channel in CHANNELS} | {c.channel: c.max_contacts for c in profile}
        return Capacity.model_validate({**counts, "exclusive": [c.channel for c in profile if c.exclusive]})


class LogInBody(WriteOptions):
    site_id: OptionalText = Field(default="", description="Left out: the profile's (required without one).")
    skills: list[Skill] = Field(
        default=[], max_length=50, description="Left out: the profile's (required without one)."
    )
    display_name: OptionalText = ""
    capacity: Capacity | None = Field(
        default=None,
        description="Contacts at once per channel; left out: the profile's, else one voice call at a time.",
    )


class ProfileBody(WriteOptions):
    """An agent as an admin defines it before its first log-in (or changes it)."""

    display_name: OptionalText = ""
    site_id: Text
    skills: list[Skill] = Field(min_length=1, max_length=50)
    capacity: Capacity | None = Field(default=None, description="Left out: one voice call at a time.")
    endpoint: OptionalText = Field(default="", description="Where its calls ring: a SIP URI, an extension.")


class AgentProfile(BaseModel):
    display_name: str
    site_id: str
    skills: list[Skill]
    capacity: Capacity
    endpoint: str

    @staticmethod
    def of(profile: routing_events.AgentProfileDefined) -> "AgentProfile":
        return AgentProfile(
            display_name=profile.display_name,
            site_id=profile.site_id,
            skills=[Skill(name=s.name, proficiency=s.proficiency) for s in profile.skills],
            capacity=Capacity.of(profile.capacity),
            endpoint=profile.endpoint,
        )


class SkillsBody(WriteOptions):
    skills: list[Skill] = Field(min_length=1, max_length=50)


class AgentStateBody(WriteOptions):
    state: Literal["ready", "not-ready"]
    reason: OptionalText = Field(default="", description="Not-ready reason (break, lunch, training...).")


AGENT_STATES = {"ready": routing_events.AGENT_STATE_READY, "not-ready": routing_events.AGENT_STATE_NOT_READY}


class Agent(BaseModel):
    agent_id: str
    display_name: str
    site_id: str
    skills: list[Skill]
    state: str
    reason: str
    contact_id: str
    state_since: datetime | None
    version: int
    capacity: Capacity
    profile: AgentProfile | None = Field(description="What an admin defined; null before any.")
    wrap_up_seconds: int = Field(
        description="In wrap-up: how long it lasts from `state_since` until the agent is ready again; else 0."
    )

    @staticmethod
    def of(agent: routing_pb2.Agent) -> "Agent":
        return Agent(
            agent_id=agent.agent_id,
            display_name=agent.display_name,
            site_id=agent.site_id,
            skills=[Skill(name=s.name, proficiency=s.proficiency) for s in agent.skills],
            state=enum_word(agent, "state", "AGENT_STATE_"),
            reason=agent.reason,
            contact_id=agent.contact_id,
            state_since=moment(agent, "state_since"),
            version=agent.version,
            capacity=Capacity.of(agent.capacity),
            profile=AgentProfile.of(agent.profile) if agent.HasField("profile") else None,
            wrap_up_seconds=agent.wrap_up_seconds,
        )


class Heartbeat(BaseModel):
    agent_id: str
    received_at: datetime | None
    timeout_seconds: int = Field(description="Send the next well before this many seconds have passed.")

    @staticmethod
    def of(heartbeat: routing_pb2.Heartbeat) -> "Heartbeat":
        return Heartbeat(
            agent_id=heartbeat.agent_id,
            received_at=moment(heartbeat, "received_at"),
            timeout_seconds=heartbeat.timeout_seconds,
        )


class AgentStatistics(BaseModel):
    """One logged-in agent today (RTM-2); seconds count today (UTC) up to `as_of`."""

    agent_id: str
    site_id: str
    status: str = Field(description="ready, reserved (its phone rings), on-contact, wrap-up or not-ready.")
    status_seconds: float
    contacts_answered: int
    talk_seconds: float
    ready_seconds: float
    reserved_seconds: float
    on_contact_seconds: float
    wrap_up_seconds: float
    not_ready_seconds: float
    average_handle_seconds: float | None = Field(description="Talk plus wrap-up per contact answered.")
    occupancy_percent: float | None = Field(description="Time on contacts over that plus ready time.")
    as_of: datetime | None

    @staticmethod
    def of(s: routing_pb2.AgentStatistics) -> "AgentStatistics":
        return AgentStatistics(
            agent_id=s.agent_id,
            site_id=s.site_id,
            status=s.status,
            status_seconds=s.status_seconds,
            contacts_answered=s.contacts_answered,
            talk_seconds=s.talk_seconds,
            ready_seconds=s.ready_seconds,
            reserved_seconds=s.reserved_seconds,
            on_contact_seconds=s.on_contact_seconds,
            wrap_up_seconds=s.wrap_up_seconds,
            not_ready_seconds=s.not_ready_seconds,
            average_handle_seconds=number(s, "average_handle_seconds"),
            occupancy_percent=number(s, "occupancy_percent"),
            as_of=moment(s, "as_of"),
        )


# --- contacts in routing ------------------------------------------------------------------------
class RoutingCandidate(BaseModel):
    agent_id: str
    site_id: str
    eligible: bool
    skipped_reason: str = Field(
        description="Empty when eligible: missing-skill (missing or below the queue's minimum), other-site, "
        "not-last-agent (the call waits for another agent: the customer's last, or the one it was "
        "transferred to), not-ready, on-contact, wrap-up or reserved."
    )
    rank: int = Field(description="1 is chosen next; 0 when not eligible.")
    score: float = Field(
        description="What the queue's strategy ranks by, higher first: idle seconds (longest-idle), summed "
        "proficiency (most-skilled), seconds since last chosen (round-robin), minus contacts today "
        "(fewest-contacts), minus talk seconds today (least-talk-time)."
    )
    idle_seconds: float
    proficiency: int = Field(description="In the queue's required skills, summed over those the agent has.")


class ContactCandidates(BaseModel):
    contact_id: str
    queue_id: str
    required_skill: str = Field(description="The queue's skills: `member`, `vip>=7+member`, `a|b` (any of).")
    status: str = Field(
        description="waiting; reserved (an agent is chosen, its phone has not rung yet); ringing."
    )
    agent_id: str = Field(description="The agent chosen while reserved or ringing; empty while waiting.")
    waited_seconds: float
    enqueued_at: datetime | None
    as_of: datetime | None
    candidates: list[RoutingCandidate] = Field(
        description="Every logged-in agent: the eligible ones in rank order, then the others with why."
    )
    position: int = Field(
        description="While waiting: 1 for the contact served next from its queue's agents; else 0."
    )
    estimated_wait_seconds: float | None = Field(
        description="While waiting: seconds until an agent is chosen; null before the queue's first handled "
        "contact today."
    )

    @staticmethod
    def of(listed: routing_pb2.ListCandidatesResponse) -> "ContactCandidates":
        return ContactCandidates(
            contact_id=listed.contact_id,
            queue_id=listed.queue_id,
            required_skill=listed.required_skill,
            status=enum_word(listed, "status", "CONTACT_ROUTING_STATUS_"),
            agent_id=listed.agent_id,
            waited_seconds=listed.waited_seconds,
            enqueued_at=moment(listed, "enqueued_at"),
            as_of=moment(listed, "as_of"),
            position=listed.position,
            estimated_wait_seconds=number(listed, "estimated_wait_seconds"),
            candidates=[
                RoutingCandidate(
                    agent_id=c.agent_id,
                    site_id=c.site_id,
                    eligible=c.eligible,
                    skipped_reason=c.skipped_reason,
                    rank=c.rank,
                    score=c.score,
                    idle_seconds=c.idle_seconds,
                    proficiency=c.proficiency,
                )
                for c in listed.candidates
            ],
        )


# --- tickets ------------------------------------------------------------------------------------
TicketStatusWord = Literal["new", "open", "pending", "on-hold", "solved", "closed"]
TicketPriorityWord = Literal["low", "normal", "high", "urgent"]
TICKET_STATUSES = {
    word: ticket_events.TicketStatus.Value("TICKET_STATUS_" + word.upper().replace("-", "_"))
    for word in TicketStatusWord.__args__  # type: ignore[attr-defined]
}
TICKET_PRIORITIES = {
    word: ticket_events.TicketPriority.Value("TICKET_PRIORITY_" + word.upper())
    for word in TicketPriorityWord.__args__  # type: ignore[attr-defined]
}
TICKET_CHANNELS = {"voice": 1, "chat": 2, "email": 3, "web-form": 4, "sms": 5}
Tag = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,49}$", examples=["refund"])]
FieldName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,49}$")]
# JSON Schema's patternProperties alone lets any other key through; the gateway refuses them.
ONLY_FIELD_NAMES: dict[str, Any] = {"additionalProperties": False}
FieldValue = Annotated[str, Field(max_length=1000, pattern=r"^[^\x00-\x1f\x7f-\x9f]*$")]


class TransitionBody(WriteOptions):
    to: Literal["open", "pending", "on-hold", "solved", "closed"] = Field(
        description="new -> open, pending, on-hold or solved; open, pending and on-hold move among "
        "themselves and to solved; solved -> open (reopen) or closed; closed is final."
    )
    reason: OptionalText = ""


# What a ticket is (TKT-11), and the claim a complaint makes (the ticketing domain's KINDS and CLAIMS).
TicketKind = Literal["request", "complaint"]
Claim = Literal["refund", "exchange", "return", "repair", "compensation", "apology", "other"]


class CreateTicketBody(BaseModel):
    subject: Text
    description: Annotated[
        str, Field(max_length=10_000, pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$")
    ] = ""
    channel: Literal["voice", "chat", "email", "web-form", "sms"] = Field(description="Where it came in.")
    customer_id: Text = Field(description="The requester.")
    priority: TicketPriorityWord = "normal"
    tags: list[Tag] = Field(default=[], max_length=20, description="Kept in lower case, each once.")
    category: Category = Field(default="", description="A category path, levels joined by /.")
    group_id: OptionalText = ""
    assignee_agent_id: OptionalText = Field(default="", description="Set: the ticket starts open, else new.")
    queue_id: OptionalText = ""
    line_id: OptionalText = Field(default="", description="Its line of business: SLA targets and hours.")
    fields: dict[FieldName, FieldValue] = Field(
        default={}, max_length=50, description="Custom fields.", json_schema_extra=ONLY_FIELD_NAMES
    )
    kind: TicketKind = "request"
    claim: Claim | None = Field(
        default=None, description="What a complaint claims; only a complaint has one."
    )


class EditTicketBody(WriteOptions):
    """Only the fields given change. In `fields`, a null value removes that custom field."""

    subject: Text | None = None
    priority: TicketPriorityWord | None = None
    tags: list[Tag] | None = Field(default=None, max_length=20, description="The whole new set of tags.")
    category: Category | None = None
    fields: dict[FieldName, FieldValue | None] = Field(
        default={}, max_length=50, json_schema_extra=ONLY_FIELD_NAMES
    )
    kind: TicketKind | None = Field(default=None, description="Turned into a request, it loses its claim.")
    claim: Claim | Literal[""] | None = Field(default=None, description='"": the complaint states no claim.')


class EscalateTicketBody(WriteOptions):
    reason: Text = Field(description="Why it goes up a tier.")
    to_tier: int = Field(default=0, ge=0, le=3, description="0: one above the ticket's tier; at most 3.")
    group_id: OptionalText = Field(default="", description="The team of that tier.")
    assignee_agent_id: OptionalText = Field(default="", description="Empty: whoever in the group takes it.")


class ReturnTicketBody(WriteOptions):
    reason: Text = Field(description="Why it goes back down.")


class AssignTicketBody(WriteOptions):
    agent_id: OptionalText = Field(
        default="", description="Empty: no agent. An agent's key may name only itself."
    )
    group_id: OptionalText = Field(default="", description="Empty: no group.")


class LinkTicketBody(WriteOptions):
    ticket_id: Text = Field(description="The other ticket of the same journey.")


class MergeTicketBody(WriteOptions):
    into_ticket_id: Text = Field(description="The ticket that goes on; this one is closed as its duplicate.")
    reason: OptionalText = ""


class RateTicketBody(WriteOptions):
    survey_token: Text = Field(description="The survey token of the ticket's latest solve.")
    score: int = Field(ge=1, le=5, description="1 (very unhappy) to 5 (very happy).")
    comment: Annotated[str, Field(max_length=1_000, pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$")] = (
        ""
    )


class NoteBody(WriteOptions):
    body: MultilineText


TemplateId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_\-]{0,63}$", examples=["thanks"])]


class TypedReply(WriteOptions):
    model_config = ConfigDict(extra="forbid")
    body: MultilineText


class TemplatedReply(WriteOptions):
    """A reply template (TKT-7), rendered with the ticket's and the customer's values."""

    model_config = ConfigDict(extra="forbid")
    template_id: TemplateId


# The reply's text, or a template: one of the two, never both.
ReplyBody = TypedReply | TemplatedReply


class Note(BaseModel):
    note_id: str
    body: str
    author_type: str
    author_id: str
    added_at: datetime | None


class TicketVoicemail(BaseModel):
    """The voicemail a ticket was opened from (TEL-6)."""

    recording_ref: str = Field(description="The carrier's reference to the recording (a URL or its id).")
    duration_seconds: int
    caller_number: str
    line_id: str
    dnis: str


class TicketReply(BaseModel):
    reply_id: str
    body: str
    author_type: str
    author_id: str
    sent_at: datetime | None
    template_id: str = Field(description="The reply template it was written from; empty if typed out.")
    automatic: bool = Field(description="Sent by itself (received, solved, after hours): not an answer.")


class TicketEscalation(BaseModel):
    direction: Literal["up", "back"]
    from_tier: int
    to_tier: int
    from_group_id: str
    to_group_id: str
    from_agent_id: str
    to_agent_id: str
    reason: str
    actor_type: str
    actor_id: str
    at: datetime | None


class TicketStatusChange(BaseModel):
    from_status: str
    to_status: str
    reason: str
    actor_type: str = Field(
        description="Who made the change, from the credential: user, agent or integration."
    )
    actor_id: str
    changed_at: datetime | None


class SlaClock(BaseModel):
    metric: Literal["first_response", "resolution"]
    target_seconds: int
    elapsed_seconds: float = Field(description="On the line's hours, not while pending or on hold.")
    state: Literal["running", "paused", "met", "breached"]
    due_at: datetime | None = Field(description="When a running clock reaches its target.")

    @staticmethod
    def of(clock: ticketing_pb2.TicketSlaClock) -> "SlaClock":
        return SlaClock(
            metric=clock.metric,  # type: ignore[arg-type]
            target_seconds=clock.target_seconds,
            elapsed_seconds=clock.elapsed_seconds,
            state=clock.state,  # type: ignore[arg-type]
            due_at=moment(clock, "due_at"),
        )


class Satisfaction(BaseModel):
    score: int = Field(description="1 (very unhappy) to 5 (very happy).")
    comment: str
    rated_at: datetime | None
    actor_type: str
    actor_id: str

    @staticmethod
    def of(answer: ticketing_pb2.TicketSatisfaction) -> "Satisfaction":
        return Satisfaction(
            score=answer.score,
            comment=answer.comment,
            rated_at=moment(answer, "rated_at"),
            actor_type=enum_word(answer.actor, "type", "ACTOR_TYPE_"),
            actor_id=answer.actor.id,
        )


class Ticket(BaseModel):
    ticket_id: str
    number: int = Field(
        description="Its number in the tenant (TKT-1), given a moment after it opens; 0 until."
    )
    subject: str
    description: str
    channel: str
    customer_id: str
    queue_id: str
    assignee_agent_id: str
    group_id: str
    call_id: str
    status: str
    priority: str
    tags: list[str]
    category: str
    fields: dict[str, str]
    status_changes: list[TicketStatusChange]
    notes: list[Note] = Field(description="Internal: never shown to the customer.")
    replies: list[TicketReply] = Field(description="Public replies to the customer.")
    first_replied_at: datetime | None = Field(description="When the first public reply went out.")
    tier: int = Field(description="1 for the first line of support; escalations raise it.")
    escalations: list[TicketEscalation]
    opened_at: datetime | None
    updated_at: datetime | None
    version: int
    voicemail: TicketVoicemail | None = Field(description="Set for a ticket opened from a voicemail.")
    line_id: str = Field(description="The line of business whose calendar and SLA targets its clocks use.")
    sla: list[SlaClock] = Field(description="Its SLA clocks as of the answer (TKT-6); none without targets.")
    survey_token: str = Field(
        description="The latest solve's satisfaction survey token (TKT-9); empty before any solve."
    )
    satisfaction: Satisfaction | None = Field(description="The customer's answer to that survey.")
    linked_ticket_ids: list[str] = Field(description="Tickets of the same journey (TKT-12).")
    merged_ticket_ids: list[str] = Field(description="Duplicates merged into this ticket.")
    merged_into_ticket_id: str = Field(description="The ticket this duplicate was merged into (closing it).")
    kind: str = Field(description="request or complaint (TKT-11).")
    claim: str = Field(description="What a complaint claims: refund, exchange, return...; empty for none.")

    @staticmethod
    def of(ticket: ticketing_pb2.Ticket) -> "Ticket":
        return Ticket(
            number=ticket.number,
            survey_token=ticket.survey_token,
            kind=ticket.kind or "request",
            linked_ticket_ids=list(ticket.linked_ticket_ids),
            merged_ticket_ids=list(ticket.merged_ticket_ids),
            merged_into_ticket_id=ticket.merged_into_ticket_id,
            claim=ticket.claim,
            satisfaction=Satisfaction.of(ticket.satisfaction) if ticket.HasField("satisfaction") else None,
            line_id=ticket.line_id,
            sla=[SlaClock.of(clock) for clock in ticket.sla],
            ticket_id=ticket.ticket_id,
            subject=ticket.subject,
            description=ticket.description,
            channel=enum_word(ticket, "channel", "CHANNEL_"),
            customer_id=ticket.customer_id,
            queue_id=ticket.queue_id,
            assignee_agent_id=ticket.assignee_agent_id,
            group_id=ticket.group_id,
            call_id=ticket.call_id,
            status=enum_word(ticket, "status", "TICKET_STATUS_"),
            priority=enum_word(ticket, "priority", "TICKET_PRIORITY_"),
            tags=list(ticket.tags),
            category=ticket.category,
            fields=dict(ticket.custom_fields),
            status_changes=[
                TicketStatusChange(
                    from_status=enum_word(c, "from_status", "TICKET_STATUS_"),
                    to_status=enum_word(c, "to_status", "TICKET_STATUS_"),
                    reason=c.reason,
                    actor_type=enum_word(c.actor, "type", "ACTOR_TYPE_"),
                    actor_id=c.actor.id,
                    changed_at=moment(c, "changed_at"),
                )
                for c in ticket.status_changes
            ],
            notes=[
                Note(
                    note_id=n.note_id,
                    body=n.body,
                    author_type=enum_word(n.author, "type", "ACTOR_TYPE_"),
                    author_id=n.author.id,
                    added_at=moment(n, "added_at"),
                )
                for n in ticket.notes
            ],
            replies=[
                TicketReply(
                    reply_id=r.reply_id,
                    body=r.body,
                    author_type=enum_word(r.author, "type", "ACTOR_TYPE_"),
                    author_id=r.author.id,
                    sent_at=moment(r, "sent_at"),
                    template_id=r.template_id,
                    automatic=r.automatic,
                )
                for r in ticket.replies
            ],
            first_replied_at=moment(ticket, "first_replied_at"),
            tier=ticket.tier,
            escalations=[
                TicketEscalation(
                    direction="back" if e.returned else "up",
                    from_tier=e.from_tier,
                    to_tier=e.to_tier,
                    from_group_id=e.from_group_id,
                    to_group_id=e.to_group_id,
                    from_agent_id=e.from_agent_id,
                    to_agent_id=e.to_agent_id,
                    reason=e.reason,
                    actor_type=enum_word(e.actor, "type", "ACTOR_TYPE_"),
                    actor_id=e.actor.id,
                    at=moment(e, "at"),
                )
                for e in ticket.escalations
            ],
            opened_at=moment(ticket, "opened_at"),
            updated_at=moment(ticket, "updated_at"),
            version=ticket.version,
            voicemail=TicketVoicemail(
                recording_ref=ticket.voicemail.recording_ref,
                duration_seconds=ticket.voicemail.duration_seconds,
                caller_number=ticket.voicemail.caller_number,
                line_id=ticket.voicemail.line_id,
                dnis=ticket.voicemail.dnis,
            )
            if ticket.HasField("voicemail")
            else None,
        )


class TicketList(BaseModel):
    tickets: list[Ticket]
    next_cursor: str = Field(description="Pass as `cursor` for the next page; empty on the last page.")


# --- journey and metrics ------------------------------------------------------------------------
class JourneyEvent(BaseModel):
    event_id: str
    event_type: str
    occurred_at: datetime | None
    aggregate_type: str
    aggregate_id: str
    aggregate_version: int
    correlation_id: str
    actor: str
    payload: str = Field(description="The event payload as proto3 JSON.")


class Journey(BaseModel):
    customer_id: str
    events: list[JourneyEvent]

    @staticmethod
    def of(journey: analytics_pb2.CustomerJourney) -> "Journey":
        return Journey(
            customer_id=journey.customer_id,
            events=[
                JourneyEvent(
                    event_id=e.event_id,
                    event_type=e.event_type,
                    occurred_at=moment(e, "occurred_at"),
                    aggregate_type=e.aggregate_type,
                    aggregate_id=e.aggregate_id,
                    aggregate_version=e.aggregate_version,
                    correlation_id=e.correlation_id,
                    actor=e.actor,
                    payload=e.payload_json,
                )
                for e in journey.events
            ],
        )


class QueueMetrics(BaseModel):
    queue_id: str
    as_of: datetime | None
    contacts_waiting: int
    scheduled: int = Field(
        description="Callbacks the queue owes: those keeping their callers' places in it (also in "
        "contacts_waiting) and those waiting out of it for a reserved time slot or their next attempt."
    )
    oldest_wait_seconds: float
    agents_staffed: int
    agents_ready: int
    agents_on_contact: int
    agents_not_ready: int
    agents_wrap_up: int
    offered: int
    answered: int
    abandoned: int
    service_level_threshold_seconds: int
    service_level_percent: float | None
    average_speed_of_answer_seconds: float | None
    average_handle_time_seconds: float | None
    abandonment_rate_percent: float | None
    occupancy_percent: float | None = Field(
        description="Of the agents the queue may use, today: time on contacts over that plus ready time."
    )

    @staticmethod
    def of(m: routing_events.QueueMetrics) -> "QueueMetrics":
        return QueueMetrics(
            queue_id=m.queue_id,
            as_of=moment(m, "as_of"),
            contacts_waiting=m.contacts_waiting,
            scheduled=m.scheduled,
            oldest_wait_seconds=m.oldest_wait_seconds,
            agents_staffed=m.agents_staffed,
            agents_ready=m.agents_ready,
            agents_on_contact=m.agents_on_contact,
            agents_not_ready=m.agents_not_ready,
            agents_wrap_up=m.agents_wrap_up,
            offered=m.offered,
            answered=m.answered,
            abandoned=m.abandoned,
            service_level_threshold_seconds=m.service_level_threshold_seconds,
            service_level_percent=number(m, "service_level_percent"),
            average_speed_of_answer_seconds=number(m, "average_speed_of_answer_seconds"),
            average_handle_time_seconds=number(m, "average_handle_time_seconds"),
            abandonment_rate_percent=number(m, "abandonment_rate_percent"),
            occupancy_percent=number(m, "occupancy_percent"),
        )


class QueueStatisticsRow(BaseModel):
    queue_id: str
    offered: int
    answered: int
    abandoned: int
    service_level_percent: float | None
    average_speed_of_answer_seconds: float | None
    average_handle_time_seconds: float | None
    held: int = Field(description="Contacts whose caller was put on hold, by the queue they ended in.")
    average_hold_time_seconds: float | None = Field(description="Their mean time on hold in all.")


class QueueStatistics(BaseModel):
    service_level_threshold_seconds: int
    queues: list[QueueStatisticsRow]

    @staticmethod
    def of(stats: analytics_pb2.QueueStatistics) -> "QueueStatistics":
        return QueueStatistics(
            service_level_threshold_seconds=stats.service_level_threshold_seconds,
            queues=[
                QueueStatisticsRow(
                    queue_id=row.queue_id,
                    offered=row.offered,
                    answered=row.answered,
                    abandoned=row.abandoned,
                    service_level_percent=number(row, "service_level_percent"),
                    average_speed_of_answer_seconds=number(row, "average_speed_of_answer_seconds"),
                    average_handle_time_seconds=number(row, "average_handle_time_seconds"),
                    held=row.held,
                    average_hold_time_seconds=number(row, "average_hold_time_seconds"),
                )
                for row in stats.queues
            ],
        )


class TicketStatisticsRow(BaseModel):
    bucket_start: datetime | None = Field(description="Where the bucket starts; null without buckets.")
    key: str = Field(description="The channel, category, agent, group or status; empty when not asked.")
    created: int
    solved: int
    reopened: int
    escalated: int
    replied: int = Field(description="Public replies by agents; automatic messages are not counted.")
    sla_breached: int
    average_first_response_seconds: float | None = Field(
        description="Opening to the first agent reply, over the tickets first answered in the bucket."
    )
    average_resolution_seconds: float | None = Field(description="Opening to the solve (calendar time).")
    rated: int = Field(description="Answers to satisfaction surveys (TKT-9).")
    average_satisfaction_score: float | None = Field(description="Their mean score, 1 to 5.")
    satisfaction_percent: float | None = Field(description="CSAT: the share of them scoring 4 or 5.")


class TicketStatistics(BaseModel):
    bucket: str
    by: str
    time_zone: str
    rows: list[TicketStatisticsRow]

    @staticmethod
    def of(stats: analytics_pb2.TicketStatistics) -> "TicketStatistics":
        return TicketStatistics(
            bucket=stats.bucket,
            by=stats.by,
            time_zone=stats.time_zone,
            rows=[
                TicketStatisticsRow(
                    bucket_start=moment(row, "bucket_start"),
                    key=row.key,
                    created=row.created,
                    solved=row.solved,
                    reopened=row.reopened,
                    escalated=row.escalated,
                    replied=row.replied,
                    sla_breached=row.sla_breached,
                    average_first_response_seconds=number(row, "average_first_response_seconds"),
                    average_resolution_seconds=number(row, "average_resolution_seconds"),
                    rated=row.rated,
                    average_satisfaction_score=number(row, "average_satisfaction_score"),
                    satisfaction_percent=number(row, "satisfaction_percent"),
                )
                for row in stats.rows
            ],
        )


class CallStatisticsRow(BaseModel):
    bucket_start: datetime | None = Field(description="Where the bucket starts; null without buckets.")
    key: str = Field(
        description="The queue, agent or site; empty when not asked, and by agent or site for the offers "
        "and abandons no agent took."
    )
    offered: int
    answered: int
    abandoned: int
    handled: int = Field(description="Contacts whose after-contact work ended in the bucket.")
    service_level_percent: float | None
    average_speed_of_answer_seconds: float | None
    average_handle_time_seconds: float | None
    held: int = Field(description="Contacts whose caller was put on hold, counted when the call ends.")
    average_hold_time_seconds: float | None = Field(description="Their mean time on hold in all.")


class CallStatistics(BaseModel):
    bucket: str
    by: str
    time_zone: str
    service_level_threshold_seconds: int
    rows: list[CallStatisticsRow]

    @staticmethod
    def of(stats: analytics_pb2.CallStatistics) -> "CallStatistics":
        return CallStatistics(
            bucket=stats.bucket,
            by=stats.by,
            time_zone=stats.time_zone,
            service_level_threshold_seconds=stats.service_level_threshold_seconds,
            rows=[
                CallStatisticsRow(
                    bucket_start=moment(row, "bucket_start"),
                    key=row.key,
                    offered=row.offered,
                    answered=row.answered,
                    abandoned=row.abandoned,
                    handled=row.handled,
                    service_level_percent=number(row, "service_level_percent"),
                    average_speed_of_answer_seconds=number(row, "average_speed_of_answer_seconds"),
                    average_handle_time_seconds=number(row, "average_handle_time_seconds"),
                    held=row.held,
                    average_hold_time_seconds=number(row, "average_hold_time_seconds"),
                )
                for row in stats.rows
            ],
        )


# --- API keys -----------------------------------------------------------------------------------
class _NewKey(BaseModel):
    model_config = ConfigDict(extra="forbid")  # an agent_id on a key of another role is refused, not lost

    user: Text = Field(description="The person or integration the key belongs to; events name them.")
    description: Annotated[str, Field(max_length=500, pattern=r"^[^\x00-\x1f\x7f-\x9f]*$")] = ""


class NewAgentKey(_NewKey):
    role: Literal["agent"]
    agent_id: Text = Field(description="The agent the key acts as, and the only one.")


class NewStaffKey(_NewKey):
    role: Literal["admin", "supervisor", "analyst", "integration"]


# The role decides the shape: only an agent's key names an agent.
CreateApiKeyBody = Annotated[NewAgentKey | NewStaffKey, Field(discriminator="role")]


class RevokeApiKeyBody(BaseModel):
    reason: OptionalText = ""


class ApiKey(BaseModel):
    key_id: str
    user: str
    role: str
    agent_id: str
    description: str
    created_at: datetime | None
    created_by: str
    revoked_at: datetime | None
    revoked_by: str
    revoke_reason: str
    version: int

    @staticmethod
    def of(key: keys_pb2.ApiKey) -> "ApiKey":
        return ApiKey(
            key_id=key.key_id,
            user=key.user,
            role=enum_word(key, "role", "API_KEY_ROLE_"),
            agent_id=key.agent_id,
            description=key.description,
            created_at=moment(key, "created_at"),
            created_by=key.created_by,
            revoked_at=moment(key, "revoked_at"),
            revoked_by=key.revoked_by,
            revoke_reason=key.revoke_reason,
            version=key.version,
        )


class CreatedApiKey(BaseModel):
    key: ApiKey
    secret_key: str = Field(description="Send this as X-API-Key. It is shown once and kept nowhere.")


class ApiKeyList(BaseModel):
    keys: list[ApiKey]


# --- queues -------------------------------------------------------------------------------------
StrategyWord = Literal["longest-idle", "most-skilled", "round-robin", "fewest-contacts", "least-talk-time"]
Seconds = Annotated[int, Field(ge=0, le=86_400)]


STRATEGIES = {
    "longest-idle": routing_events.ROUTING_STRATEGY_LONGEST_IDLE,
    "most-skilled": routing_events.ROUTING_STRATEGY_MOST_SKILLED,
    "round-robin": routing_events.ROUTING_STRATEGY_ROUND_ROBIN,
    "fewest-contacts": routing_events.ROUTING_STRATEGY_FEWEST_CONTACTS,
    "least-talk-time": routing_events.ROUTING_STRATEGY_LEAST_TALK_TIME,
}
SKILL_MATCHES = {"all-of": routing_events.SKILL_MATCH_ALL_OF, "any-of": routing_events.SKILL_MATCH_ANY_OF}


class ExpandingStep(BaseModel):
    """After `after_seconds` in the queue a call may go to more agents (RT-5); steps add up."""

    after_seconds: int = Field(ge=1, le=86_400)
    min_proficiency: int | None = Field(
        default=None, ge=0, le=10, description="Every required skill's minimum becomes at most this."
    )
    any_site: bool = Field(default=False, description="The queue's sites no longer limit its agents.")


class LastAgent(BaseModel):
    """Prefer the customer's last agent (RT-6)."""

    window_seconds: int = Field(
        ge=1, le=86_400, description="An agent who answered the customer this recently."
    )
    wait_seconds: int = Field(ge=0, le=86_400, description="How long the call waits for that agent.")


class Overflow(BaseModel):
    after_seconds: int = Field(ge=1, le=86_400, description="The maximum wait in the queue.")
    queue_id: Text = Field(description="The queue the contact moves to.")


class SkillRequirement(BaseModel):
    skill: Text
    min_proficiency: int = Field(default=0, ge=0, le=10, description="1 to 10; 0 accepts any proficiency.")


class QueueRules(BaseModel):
    """What a queue asks of its agents and how it serves its contacts (RT-2 to RT-7)."""

    display_name: OptionalText = ""
    channel: Channel = Field(
        default="voice", description="Its contacts' channel; agents take them within their capacity for it."
    )
    skills: list[SkillRequirement] = Field(
        min_length=1,
        max_length=20,
        description="A skill listed twice is one requirement at the stricter minimum.",
    )
    skill_match: Literal["all-of", "any-of"] = Field(
        default="all-of", description="Whether an agent needs every required skill or any one of them."
    )
    strategy: StrategyWord = Field(default="longest-idle", description="How the queue ranks its agents.")
    service_level_threshold_seconds: Seconds = Field(
        default=20, description="Answered or abandoned within this many seconds counts toward service level."
    )
    seconds_per_priority: Seconds = Field(
        default=60, description="Priority with ageing: one level of priority counts as this much waiting."
    )
    sites: list[Text] = Field(
        default=[], max_length=50, description="Only agents of these sites; [] for all."
    )
    expanding: list[ExpandingStep] = Field(
        default=[],
        max_length=10,
        description="Widening steps (RT-5), applied in the order they come due; the overflow after all.",
    )
    last_agent: LastAgent | None = Field(
        default=None, description="Hold a returning customer's call for their last agent; null for no."
    )
    overflow: "Overflow | None" = Field(
        default=None,
        description="After a maximum wait, the overflow queue's agents may take the call too; null for none.",
    )
    time_zone: OptionalText = Field(
        default="",
        description="The IANA time zone of its day, its line of business's (Asia/Seoul): its counters start "
        "again at its local midnight. Empty: UTC.",
    )

    def to_proto(self) -> routing_events.QueueRules:
        return routing_events.QueueRules(
            display_name=self.display_name,
            skills=[
                routing_events.SkillRequirement(skill=s.skill, min_proficiency=s.min_proficiency)
                for s in self.skills
            ],
            skill_match=SKILL_MATCHES[self.skill_match],
            strategy=STRATEGIES[self.strategy],
            service_level_threshold_seconds=self.service_level_threshold_seconds,
            seconds_per_priority=self.seconds_per_priority,
            sites=self.sites,
            max_wait_seconds=self.overflow.after_seconds if self.overflow else 0,
            overflow_queue_id=self.overflow.queue_id if self.overflow else "",
            last_agent_window_seconds=self.last_agent.window_seconds if self.last_agent else 0,
            last_agent_wait_seconds=self.last_agent.wait_seconds if self.last_agent else 0,
            channel=self.channel,
            time_zone=self.time_zone,
            expanding=[
                routing_events.ExpandingStep(
                    after_seconds=s.after_seconds, min_proficiency=s.min_proficiency, any_site=s.any_site
                )
                for s in self.expanding
            ],
        )

    @staticmethod
    def of(rules: routing_events.QueueRules) -> "QueueRules":
        return QueueRules(
            display_name=rules.display_name,
            channel=rules.channel or "voice",  # type: ignore[arg-type]
            time_zone=rules.time_zone,
            skills=[SkillRequirement(skill=s.skill, min_proficiency=s.min_proficiency) for s in rules.skills],
            skill_match=enum_word(rules, "skill_match", "SKILL_MATCH_"),  # type: ignore[arg-type]
            strategy=enum_word(rules, "strategy", "ROUTING_STRATEGY_"),  # type: ignore[arg-type]
            service_level_threshold_seconds=rules.service_level_threshold_seconds,
            seconds_per_priority=rules.seconds_per_priority,
            sites=list(rules.sites),
            overflow=Overflow(after_seconds=rules.max_wait_seconds, queue_id=rules.overflow_queue_id)
            if rules.overflow_queue_id
            else None,
            last_agent=LastAgent(
                window_seconds=rules.last_agent_window_seconds, wait_seconds=rules.last_agent_wait_seconds
            )
            if rules.last_agent_window_seconds
            else None,
            expanding=[
                ExpandingStep(
                    after_seconds=s.after_seconds,
                    min_proficiency=s.min_proficiency if s.HasField("min_proficiency") else None,
                    any_site=s.any_site,
                )
                for s in rules.expanding
            ],
        )


class NewQueue(QueueRules):
    queue_id: Text


class ChangedQueueRules(QueueRules, WriteOptions):
    """The whole new rules: a field left out takes its default."""


class Queue(BaseModel):
    queue_id: str
    rules: QueueRules
    created_at: datetime | None
    changed_at: datetime | None
    version: int

    @staticmethod
    def of(queue: routing_pb2.Queue) -> "Queue":
        return Queue(
            queue_id=queue.queue_id,
            rules=QueueRules.of(queue.rules),
            created_at=moment(queue, "created_at"),
            changed_at=moment(queue, "changed_at"),
            version=queue.version,
        )


class SignIn(BaseModel):
    api_key: str = Field(
        min_length=1, max_length=500, description="An issued key (cck.…) or a development key."
    )


class SessionView(BaseModel):
    """Who a session is: enough for the console to show the pages the role may use."""

    tenant_id: str
    role: str = Field(description="admin, supervisor, analyst, agent or integration")
    name: str
    agent_id: str = Field(description="The agent an agent's key acts as; empty for other roles.")

    @staticmethod
    def of(credential: Credential) -> "SessionView":
        return SessionView(
            tenant_id=credential.tenant_id,
            role=credential.role.value,
            name=credential.name,
            agent_id=credential.agent_id,
        )


class TenantMetrics(BaseModel):
    queues: list[QueueMetrics] = Field(description="Every queue of the tenant, by queue id.")
