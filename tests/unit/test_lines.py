"""Lines of business (TEL-3, TEL-4, ORG-2): defining one with its numbers and hours, publishing flow
versions, and what a call on a line walks: its line's flow, the version it started on, the line's
hours, and digits a masked node never lets into a command or an event."""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from cc.common.v1 import event_pb2
from cc.telephony.v1 import commands_pb2, events_pb2
from cc.telephony.v1.telephony_pb2 import CallStatus
from google.protobuf.message import Message

from services.common.errors import IllegalTransition, InvalidArgument, NotFound
from services.common.snapshots import StateCodec
from services.telephony import domain, lines
from services.telephony.lines import KEPT_FLOWS, LineState
from services.ticketing.consumers import voice_tickets
from tests.unit.support import TENANT, History, meta, refused, violated_fields
from tests.unit.test_flows import SHOP, flow, node

SEOUL_HOURS = events_pb2.BusinessHours(
    time_zone="Asia/Seoul",
    weekly={
        "mon": "09:00-18:00",
        "tue": "09:00-18:00",
        "wed": "13:00-18:00, 09:00-12:00",
        "thu": "09:00-18:00",
    },
    holiday_country="KR",
    special_days={"2026-12-24": "09:00-13:00", "2026-12-31": ""},
)


def kst(*args: int) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo("Asia/Seoul"))  # type: ignore[misc]


DEFINED, PUBLISHED = kst(2026, 11, 2, 9), kst(2026, 11, 2, 10)


class Line:
    def __init__(self, line_id: str = "shop") -> None:
        self.history = History(
            lambda state, command, now, rules: lines.decide(state, command, now),
            lines.evolve,
            lines.customer_of,
            None,
            "telephony",
            "line",
            line_id,
        )

    @property
    def state(self) -> LineState:
        assert self.history.state is not None
        return self.history.state

    def send(self, t: datetime, **body: Message) -> list[Message]:
        command = commands_pb2.LineCommand(meta=meta(self.history.aggregate_id), **body)  # type: ignore[arg-type]
        return self.history.handle(command, t)

    def define(self, t: datetime = DEFINED, **settings: Any) -> list[Message]:
        given = {"display_name": "Shop", "numbers": ["15881234"], "hours": SEOUL_HOURS} | settings
        return self.send(t, define=commands_pb2.DefineLine(settings=events_pb2.LineSettings(**given)))

    def publish(self, published: events_pb2.IvrFlow = SHOP, t: datetime = PUBLISHED) -> list[Message]:
        return self.send(t, publish_flow=commands_pb2.PublishFlow(flow=published))


# ---- defining a line -----------------------------------------------------------------------------


def test_a_line_is_defined_with_its_settings_written_one_way() -> None:
    line = Line()

    (defined,) = line.define(numbers=["16001234", "15881234", "16001234"])

    assert isinstance(defined, events_pb2.LineDefined)
    assert list(defined.settings.numbers) == ["15881234", "16001234"]
    assert defined.settings.hours.weekly["wed"] == "09:00-12:00,13:00-18:00"
    state = line.state
    assert (state.line_id, state.display_name, state.numbers, state.flow_version) == (
        "shop",
        "Shop",
        ("15881234", "16001234"),
        0,
    )
    assert lines.settings_message(state) == defined.settings


def test_the_same_settings_again_are_refused_and_changed_ones_replace_them() -> None:
    line = Line()
    line.define()

    refused(lambda: line.define(), IllegalTransition, "line-unchanged")
    (changed,) = line.define(kst(2026, 11, 3, 9), numbers=["15889999"])

    assert isinstance(changed, events_pb2.LineDefined)
    assert line.state.numbers == ("15889999",)
    assert line.state.changed_at == kst(2026, 11, 3, 9)


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"numbers": ["1588-1234"]}, "settings.numbers[0]"),
        ({"display_name": "bad\nname"}, "settings.display_name"),
        ({"hours": events_pb2.BusinessHours(time_zone="Mars/Olympus")}, "settings.hours.time_zone"),
        ({"hours": events_pb2.BusinessHours(time_zone="Asia")}, "settings.hours.time_zone"),  # a directory
        (
            {"hours": events_pb2.BusinessHours(time_zone="UTC", holiday_country="KOR")},
            "settings.hours.holiday_country",
        ),
        (
            {"hours": events_pb2.BusinessHours(time_zone="UTC", weekly={"funday": ""})},
            "settings.hours.weekly[funday]",
        ),
        (
            {"hours": events_pb2.BusinessHours(time_zone="UTC", weekly={"mon": "9-18"})},
            "settings.hours.weekly[mon]",
        ),
        (
            {"hours": events_pb2.BusinessHours(time_zone="UTC", weekly={"tue": "18:00-09:00"})},
            "settings.hours.weekly[tue]",
        ),
        (
            {"hours": events_pb2.BusinessHours(time_zone="UTC", weekly={"mon": "09:00-12:00,11:00-13:00"})},
            "settings.hours.weekly[mon]",
        ),
        (
            {"hours": events_pb2.BusinessHours(time_zone="UTC", weekly={"mon": "24:30-25:00"})},
            "settings.hours.weekly[mon]",
        ),
        (
            {"hours": events_pb2.BusinessHours(time_zone="UTC", holiday_country="XX")},
            "settings.hours.holiday_country",
        ),
        (
            {"hours": events_pb2.BusinessHours(time_zone="UTC", special_days={"2026-13-01": ""})},
            "settings.hours.special_days[2026-13-01]",
        ),
        ({"screen_pop_url": "javascript:alert(1)"}, "settings.screen_pop_url"),
        ({"ticket_categories": ["billing", "billing//refund"]}, "settings.ticket_categories[1]"),
        ({"ticket_categories": ["a/b/c/d/e/f"]}, "settings.ticket_categories[0]"),
        ({"ticket_categories": [f"c{n}" for n in range(501)]}, "settings.ticket_categories"),
        ({"screen_pop_url": "https://crm.example.com/?q=a b"}, "settings.screen_pop_url"),
        (
            {"ticket_sla": events_pb2.TicketSla(first_response_minutes={"asap": 10})},
            "settings.ticket_sla.first_response_minutes[asap]",
        ),
        (
            {"ticket_sla": events_pb2.TicketSla(resolution_minutes={"urgent": 0})},
            "settings.ticket_sla.resolution_minutes[urgent]",
        ),
        (
            {"ticket_sla": events_pb2.TicketSla(resolution_minutes={"low": 365 * 24 * 60 + 1})},
            "settings.ticket_sla.resolution_minutes[low]",
        ),
    ],
)
def test_bad_settings_are_refused_naming_the_field(settings: dict[str, Any], field: str) -> None:
    line = Line()

    assert field in violated_fields(
        refused(lambda: line.define(**settings), InvalidArgument, "invalid-argument")
    )
    assert line.history.state is None


def test_a_lines_screen_pop_page_is_kept_and_shown() -> None:
    line = Line()
    url = "https://crm.example.com/customers?phone=[TEL]"
    (defined,) = line.define(screen_pop_url=url)
    assert isinstance(defined, events_pb2.LineDefined) and defined.settings.screen_pop_url == url
    assert line.state.screen_pop_url == url and lines.settings_message(line.state) == defined.settings


def test_a_lines_ticket_categories_are_written_once_each_in_order_and_shown() -> None:
    line = Line()
    (defined,) = line.define(ticket_categories=["delivery", " billing / refund ", "delivery"])
    assert isinstance(defined, events_pb2.LineDefined)
    assert list(defined.settings.ticket_categories) == ["billing/refund", "delivery"]
    assert line.state.ticket_categories == ("billing/refund", "delivery")
    assert lines.settings_message(line.state) == defined.settings


def test_a_lines_ticket_sla_targets_are_kept_and_shown_and_changing_them_is_a_change() -> None:
    line = Line()
    sla = events_pb2.TicketSla(
        first_response_minutes={"urgent": 15, "normal": 60}, resolution_minutes={"normal": 480}
    )
    (defined,) = line.define(ticket_sla=sla)
    assert isinstance(defined, events_pb2.LineDefined) and defined.settings.ticket_sla == sla
    assert line.state.ticket_sla == lines.TicketSla((("normal", 60), ("urgent", 15)), (("normal", 480),))
    assert lines.settings_message(line.state) == defined.settings
    refused(lambda: line.define(ticket_sla=sla), IllegalTransition, "line-unchanged")
    (dropped,) = line.define(kst(2026, 11, 3, 9))
    assert not dropped.settings.HasField("ticket_sla") and line.state.ticket_sla is None


def test_hours_follow_the_line_zone_weekdays_korean_holidays_and_special_days() -> None:
    line = Line()
    line.define()
    state = line.state

    assert state.is_open(kst(2026, 11, 25, 10))  # a Wednesday morning
    assert not state.is_open(kst(2026, 11, 25, 12, 30))  # its lunch break
    assert not state.is_open(kst(2026, 11, 27, 10))  # Friday: not in the weekly hours
    assert not state.is_open(kst(2026, 9, 24, 10))  # Chuseok, a Thursday
    assert state.is_open(kst(2026, 12, 24, 12)) and not state.is_open(kst(2026, 12, 24, 14))
    assert not state.is_open(kst(2026, 12, 31, 10))  # a Thursday made a closed special day
    assert state.is_open(datetime(2026, 11, 25, 1, 0, tzinfo=UTC))  # 10:00 in Seoul


def test_a_line_without_hours_is_always_open() -> None:
    always = Line("always")
    always.send(
        kst(2026, 11, 2, 9), define=commands_pb2.DefineLine(settings=events_pb2.LineSettings(numbers=["12"]))
    )
    assert always.state.hours is None and always.state.is_open(kst(2026, 12, 25, 3))


# ---- publishing flows ----------------------------------------------------------------------------


def test_publishing_on_a_line_not_defined_is_not_found() -> None:
    line = Line()

    refused(lambda: line.publish(), NotFound, "line-not-found")


def test_each_publish_is_the_next_version_and_the_same_flow_again_is_refused() -> None:
    line = Line()
    line.define()

    (first,) = line.publish()
    refused(lambda: line.publish(), IllegalTransition, "flow-unchanged")
    (second,) = line.publish(flow(node("q", "queue", queue_id="general")))

    assert isinstance(first, events_pb2.FlowPublished) and first.version == 1
    assert isinstance(second, events_pb2.FlowPublished) and second.version == 2
    assert line.state.flow_version == 2
    assert line.state.flow(1).start == "hello" and line.state.flow(2).start == "q"


def test_an_invalid_flow_is_refused_naming_its_nodes() -> None:
    line = Line()
    line.define()

    found = refused(
        lambda: line.publish(flow(node("a", "play", "gone", announcement="x"))),
        InvalidArgument,
        "invalid-flow",
    )

    assert set(violated_fields(found)) == {"nodes[a].next"}
    assert line.state.flow_version == 0


def test_the_last_versions_are_kept_and_an_older_one_walks_the_current_flow() -> None:
    line = Line()
    line.define()
    for i in range(KEPT_FLOWS + 1):
        line.publish(flow(node("q", "queue", queue_id=f"queue-{i}")))

    kept = [f.version for f in line.state.flows]
    assert kept == list(range(2, KEPT_FLOWS + 2))
    assert line.state.flow(1) == line.state.flow(KEPT_FLOWS + 1)
    assert line.state.published(1) is None


def test_a_line_state_survives_its_snapshot_codec() -> None:
    line = Line()
    line.define()
    line.publish()
    codec = StateCodec(LineState)

    assert codec.decode(codec.encode(line.state)) == line.state


# ---- calls on lines ------------------------------------------------------------------------------


@dataclass
class Directory:
    """Lines as the call's decisions read them, from the test's line histories."""

    by_id: dict[str, Line] = field(default_factory=dict)

    def line_for(self, tenant_id: str, dnis: str) -> LineState | None:
        return next((line.state for line in self.by_id.values() if dnis in line.state.numbers), None)

    def line(self, tenant_id: str, line_id: str) -> LineState | None:
        return self.by_id[line_id].state if line_id in self.by_id else None


def shop_directory() -> tuple[Directory, Line]:
    line = Line()
    line.define()
    line.publish()
    return Directory({"shop": line}), line


class Call:
    def __init__(self, directory: Directory) -> None:
        self.rules = domain.TelephonyRules(lines=directory)
        self.history = History(
            domain.decide, domain.evolve, domain.customer_of, self.rules, "telephony", "call", "call-1"
        )

    @property
    def state(self) -> domain.CallState:
        assert self.history.state is not None
        return self.history.state

    def send(self, t: datetime, **body: Message) -> list[Message]:
        command = commands_pb2.CallCommand(meta=meta("call-1"), **body)  # type: ignore[arg-type]
        return self.history.handle(command, t)

    def offer(self, t: datetime, dnis: str = "15881234") -> list[Message]:
        return self.send(t, offer_call=commands_pb2.OfferCall(ani="01012345678", dnis=dnis))

    def press(self, digits: str, t: datetime) -> list[Message]:
        sent = domain.digits_to_send(self.state, digits, TENANT, self.rules)
        return self.send(t, send_digits=sent)


def test_a_call_to_a_line_number_walks_the_line_current_flow_and_records_its_version() -> None:
    directory, _ = shop_directory()
    call = Call(directory)

    offered, *walked = call.offer(kst(2026, 11, 25, 10))

    assert offered == events_pb2.CallOffered(
        ani="01012345678", dnis="15881234", line_id="shop", flow_version=1
    )
    assert walked[-1] == events_pb2.IvrMenuEntered(
        menu_id="main", prompt="1 sales, 2 vip, 3 pay, 4 call me back", attempt=1
    )
    assert (call.state.line_id, call.state.flow_version, call.state.node_id) == ("shop", 1, "main")


def test_the_answer_of_a_call_on_a_line_names_the_line_so_its_voice_ticket_runs_the_line_clocks() -> None:
    directory, _ = shop_directory()
    call = Call(directory)
    call.offer(kst(2026, 11, 25, 10))
    call.press("1", kst(2026, 11, 25, 10, 1))
    call.send(kst(2026, 11, 25, 10, 2), ring_agent=commands_pb2.RingAgent(agent_id="kim", decision_id="d-1"))

    [answered] = call.send(kst(2026, 11, 25, 10, 3), answer_call=commands_pb2.AnswerCall(agent_id="kim"))

    assert isinstance(answered, events_pb2.CallAnswered) and answered.line_id == "shop"
    event = event_pb2.Event(event_id="e-1", tenant_id=TENANT, aggregate_id="call-1", call_answered=answered)
    [(_, ticket)] = voice_tickets(event)
    assert ticket.open_ticket.line_id == "shop"


def test_a_call_to_another_number_takes_the_default_line() -> None:
    directory, _ = shop_directory()
    call = Call(directory)

    offered, *_ = call.offer(kst(2026, 11, 25, 10), dnis="0212345678")

    assert isinstance(offered, events_pb2.CallOffered) and (offered.line_id, offered.flow_version) == ("", 0)
    assert call.state.node_id == "main" and call.state.ivr_attempt == 1


def test_a_call_after_hours_hears_the_closed_announcement_and_ends() -> None:
    directory, _ = shop_directory()
    call = Call(directory)

    *_, checked, _said, ended = call.offer(kst(2026, 11, 25, 20))

    assert checked == events_pb2.IvrHoursChecked(node_id="hours", open=False)
    assert isinstance(ended, events_pb2.CallEnded)
    assert call.state.status == CallStatus.CALL_STATUS_ENDED


def test_a_call_keeps_its_flow_version_when_a_new_one_is_published_during_its_ivr() -> None:
    directory, line = shop_directory()
    call = Call(directory)
    call.offer(kst(2026, 11, 25, 10))

    line.publish(flow(node("q", "queue", queue_id="everyone")))
    *_, queued = call.press("1", kst(2026, 11, 25, 10, 1))

    assert isinstance(queued, events_pb2.CallQueued) and queued.queue_id == "sales"
    later = Call(directory)
    *_, joined = later.offer(kst(2026, 11, 25, 10, 2))
    assert isinstance(joined, events_pb2.CallQueued) and joined.queue_id == "everyone"
    assert later.state.flow_version == 2


def test_the_vip_path_sets_priority_and_attributes_that_the_call_keeps_into_its_queue() -> None:
    directory, _ = shop_directory()
    call = Call(directory)
    call.offer(kst(2026, 11, 25, 10))

    call.press("2", kst(2026, 11, 25, 10, 1))
    *_, queued = call.press("12345", kst(2026, 11, 25, 10, 2))

    assert isinstance(queued, events_pb2.CallQueued) and queued.priority == 7
    assert call.state.priority == 7
    assert call.state.attributes == {"segment": "vip", "member_id": "12345"}


def test_a_card_number_at_a_masked_node_never_reaches_the_command_or_any_event() -> None:
    directory, _ = shop_directory()
    call = Call(directory)
    call.offer(kst(2026, 11, 25, 10))
    call.press("3", kst(2026, 11, 25, 10, 1))
    card = "4111111111111111"

    sent = domain.digits_to_send(call.state, card, TENANT, call.rules)
    *_, queued = call.press(card, kst(2026, 11, 25, 10, 2))

    assert sent == commands_pb2.SendDigits(masked=commands_pb2.MaskedDigits(digit_count=16, luhn_valid=True))
    assert isinstance(queued, events_pb2.CallQueued)
    assert call.state.ivr_digits == ("3", "*" * 16)
    assert not any(card.encode() in e.SerializeToString() for e in call.history.events)


def test_a_card_number_entered_at_a_menu_is_masked_too_and_chooses_nothing() -> None:
    directory, _ = shop_directory()
    call = Call(directory)
    call.offer(kst(2026, 11, 25, 10))
    card = "4111111111111111"

    sent = domain.digits_to_send(call.state, card, TENANT, call.rules)
    received, replayed = call.press(card, kst(2026, 11, 25, 10, 1))

    assert sent.HasField("masked") and not sent.digits
    assert received == events_pb2.IvrDigitsReceived(menu_id="main", digits="*" * 16, recognised=False)
    assert isinstance(replayed, events_pb2.IvrMenuEntered) and replayed.attempt == 2


def test_a_card_number_at_a_collect_node_that_is_not_masked_is_not_kept() -> None:
    directory, _ = shop_directory()
    call = Call(directory)
    call.offer(kst(2026, 11, 25, 10))
    call.press("2", kst(2026, 11, 25, 10, 1))  # the VIP path: asks for a member number, 4 to 8 digits
    masked = commands_pb2.SendDigits(masked=commands_pb2.MaskedDigits(digit_count=6, luhn_valid=False))

    received, again = call.send(kst(2026, 11, 25, 10, 2), send_digits=masked)

    assert received == events_pb2.IvrDigitsReceived(menu_id="member", digits="******", recognised=False)
    assert isinstance(again, events_pb2.IvrMenuEntered) and again.attempt == 2
    assert "member_id" not in call.state.attributes


def test_a_call_on_the_default_flow_stays_on_it_when_its_line_first_publishes() -> None:
    line = Line()
    line.define()
    directory = Directory({"shop": line})
    call = Call(directory)
    call.offer(kst(2026, 11, 25, 10))  # no flow yet: the default one, version 0, at its menu "main"
    line.publish()  # version 1 has a menu "main" too, with other choices

    *_, queued = call.press("1", kst(2026, 11, 25, 10, 1))

    assert call.state.flow_version == 0
    assert isinstance(queued, events_pb2.CallQueued) and queued.queue_id == "member"


def test_the_kept_versions_stay_within_their_size_bound() -> None:
    line = Line()
    line.define()
    big = "x" * 1000
    for i in range(8):
        nodes = [node(f"p{j}", "play", f"p{j + 1}", announcement=big) for j in range(60)]
        line.publish(flow(*nodes, node("p60", "queue", queue_id=f"q{i}")))

    kept = line.state.flows
    total = sum(f.size for f in kept)
    assert total <= lines.KEPT_FLOW_BYTES < total + kept[0].size  # one more of that size would not fit
    assert kept[-1].version == 8 and len(kept) < 8


def test_digits_to_send_leaves_digits_alone_outside_a_masked_node_and_checks_them_inside() -> None:
    directory, _ = shop_directory()
    call = Call(directory)
    call.offer(kst(2026, 11, 25, 10))
    assert domain.digits_to_send(call.state, "3", TENANT, call.rules) == commands_pb2.SendDigits(digits="3")
    assert domain.digits_to_send(None, "x", TENANT, call.rules) == commands_pb2.SendDigits(digits="x")
    call.press("3", kst(2026, 11, 25, 10, 1))

    refused(
        lambda: domain.digits_to_send(call.state, "4111x", TENANT, call.rules),
        InvalidArgument,
        "invalid-argument",
    )


# the current flow has no node "main", or one that does not wait for digits
@pytest.mark.parametrize("node_id", ["q", "main"])
def test_a_call_whose_version_is_no_longer_kept_starts_the_current_flow_over(node_id: str) -> None:
    directory, line = shop_directory()
    call = Call(directory)
    call.offer(kst(2026, 11, 25, 10))  # on version 1, waiting at its menu "main"
    for i in range(KEPT_FLOWS):
        line.publish(flow(node(node_id, "queue", queue_id=f"queue-{i}")))
    assert line.state.published(1) is None

    *_, queued = call.press("1", kst(2026, 11, 25, 10, 5))

    assert isinstance(queued, events_pb2.CallQueued) and queued.queue_id == f"queue-{KEPT_FLOWS - 1}"


def test_a_callback_slot_is_taken_only_within_the_line_s_hours() -> None:
    directory, _ = shop_directory()
    call = Call(directory)
    call.offer(kst(2026, 11, 25, 10))  # a Wednesday: 09:00-12:00 and 13:00-18:00
    call.press("1", kst(2026, 11, 25, 10, 1))
    lunch, thursday = commands_pb2.RequestCallback(), commands_pb2.RequestCallback()
    lunch.at.FromDatetime(kst(2026, 11, 25, 12, 30))
    thursday.at.FromDatetime(kst(2026, 11, 26, 10))

    refused(
        lambda: call.send(kst(2026, 11, 25, 10, 2), request_callback=lunch),
        IllegalTransition,
        "slot-outside-hours",
    )
    [requested] = call.send(kst(2026, 11, 25, 10, 2), request_callback=thursday)
    assert isinstance(requested, events_pb2.CallbackRequested) and requested.at == thursday.at
