"""IVR flows as data (TEL-3): what publishing refuses, naming the nodes at fault, and how a call walks a
flow: running nodes one after another, menus and their retries, collecting digits, masked entries."""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, get_args

import pytest
from cc.telephony.v1 import events_pb2
from google.protobuf.message import Message
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.envelope import timestamp
from services.common.errors import InvalidArgument
from services.common.pci import luhn_valid
from services.gateway.models import FlowNode
from services.telephony import flows
from services.telephony.flows import Caller, Entry, enter, respond, validated
from services.telephony.lines import DEFAULT_FLOW

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
Party = events_pb2.Party
EndReason = events_pb2.EndReason


def node(node_id: str, kind: str, next: str = "", **parameters: Any) -> events_pb2.FlowNode:
    branches = parameters.pop("branches", {})
    return events_pb2.FlowNode(
        id=node_id,
        type=kind,
        parameters={k: str(v) for k, v in parameters.items()},
        next=next,
        branches=branches,
    )


def flow(*nodes: events_pb2.FlowNode, start: str = "") -> events_pb2.IvrFlow:
    return events_pb2.IvrFlow(start=start or nodes[0].id, nodes=nodes)


def faults(message: events_pb2.IvrFlow) -> dict[str, str]:
    with pytest.raises(InvalidArgument) as refused:
        validated(message)
    assert refused.value.error_id in ("invalid-flow", "invalid-argument")
    return {v.field: v.description for v in refused.value.field_violations}


def caller(priority: int = 0, is_open: bool = True) -> Caller:
    return Caller(priority, lambda moment: is_open, NOW)


# A flow with every node type: hours, a VIP menu that sets priority, a masked card entry.
SHOP = flow(
    node("hello", "play", "hours", announcement="hello"),
    node("hours", "check-hours", branches={"open": "main", "closed": "closed"}),
    node("closed", "hang-up", announcement="we are closed"),
    node(
        "main",
        "menu",
        "sales",
        prompt="1 sales, 2 vip, 3 pay, 4 call me back",
        branches={"1": "sales", "2": "vip", "3": "card", "4": "later", "5": "partner"},
    ),
    node("partner", "transfer", number="1588-7000", announcement="connecting you to our partner"),
    node("later", "callback", queue_id="sales", skill="sales>=3", announcement="we will call you back"),
    node("vip", "set-priority", "tag", priority=7),
    node("tag", "set-attribute", "member", name="segment", value="vip"),
    node(
        "member",
        "collect",
        "sales",
        prompt="member number",
        attribute="member_id",
        min_digits=4,
        max_digits=8,
    ),
    node("card", "collect", "sales", prompt="card number", masked="true", min_digits=13, max_digits=19),
    node("sales", "queue", queue_id="sales", skill="sales>=3"),
)


# ---- publishing ----------------------------------------------------------------------------------


def test_a_flow_with_every_node_type_is_valid_and_round_trips() -> None:
    published = validated(SHOP)

    assert published.start == "hello"
    assert flows.flow_of(flows.flow_message(published)) == published
    assert set(published.nodes) == {n.id for n in SHOP.nodes}


def test_the_rest_api_takes_every_node_type_the_service_knows() -> None:
    assert set(get_args(FlowNode.model_fields["type"].annotation)) == set(flows.NODE_TYPES)


def test_the_default_flow_is_the_seed_menu_as_data() -> None:
    menu = DEFAULT_FLOW.node("main")
    assert DEFAULT_FLOW.start == "welcome"
    assert menu.branches == {"1": "member", "2": "payment", "3": "other", "9": "general"}
    assert (menu.next, menu.number("max_retries", 0)) == ("general", 3)
    assert DEFAULT_FLOW.node("other").kind == "hang-up"


def test_a_dangling_exit_names_the_node_and_the_exit() -> None:
    found = faults(flow(node("a", "play", "nowhere", announcement="x"), node("q", "queue", queue_id="q")))

    assert "nodes[a].next" in found and "nowhere" in found["nodes[a].next"]


def test_an_unreachable_node_is_named() -> None:
    found = faults(flow(node("a", "queue", queue_id="q"), node("orphan", "hang-up")))

    assert found == {"nodes[orphan]": "no path from the start reaches it"}


def test_a_node_from_which_no_path_ends_is_named() -> None:
    # the menu only leads back to itself: the caller can never get out
    found = faults(flow(node("m", "menu", "m", prompt="p", branches={"1": "m"})))

    assert found == {"nodes[m]": "no path from it ends in a queue, a transfer or a hang-up"}


def test_a_loop_that_never_waits_for_the_caller_is_named_and_one_through_a_menu_is_not() -> None:
    spinning = flow(
        node("a", "play", "b", announcement="x"),
        node("b", "check-hours", branches={"open": "a", "closed": "bye"}),
        node("bye", "hang-up"),
    )
    assert faults(spinning) == {
        "nodes[a]": "it is on a loop that never waits for the caller",
        "nodes[b]": "it is on a loop that never waits for the caller",
    }
    submenu = flow(
        node("main", "menu", "bye", prompt="1 more", branches={"1": "more"}),
        node("more", "menu", "bye", prompt="0 back", branches={"0": "main"}),
        node("bye", "hang-up"),
    )
    assert validated(submenu).node("more").branches == {"0": "main"}


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (node("a", "dance"), "nodes[a].type"),
        (node("a", "queue"), "nodes[a].parameters.queue_id"),
        (node("a", "queue", "b", queue_id="q"), "nodes[a].next"),
        (node("a", "queue", queue_id="q", colour="red"), "nodes[a].parameters.colour"),
        (node("a", "set-priority", "b", priority=11), "nodes[a].parameters.priority"),
        (node("a", "set-priority", "b", priority="high"), "nodes[a].parameters.priority"),
        (node("a", "set-priority", "b", priority="²"), "nodes[a].parameters.priority"),  # a digit to str
        (node("a", "play", announcement="x"), "nodes[a].next"),
        (node("a", "menu", "b", prompt="p"), "nodes[a].branches"),
        (node("a", "menu", "b", prompt="p", branches={"1x": "b"}), "nodes[a].branches[1x]"),
        (
            node("a", "menu", "b", prompt="p", branches={"1": "b"}, max_retries=10),
            "nodes[a].parameters.max_retries",
        ),
        (node("a", "check-hours", branches={"open": "b"}), "nodes[a].branches[closed]"),
        (node("a", "collect", "b", prompt="p"), "nodes[a].parameters.attribute"),
        (
            node("a", "collect", "b", prompt="p", masked="true", attribute="card"),
            "nodes[a].parameters.attribute",
        ),
        (
            node("a", "collect", "b", prompt="p", attribute="x", min_digits=9, max_digits=4),
            "nodes[a].parameters.min_digits",
        ),
        (node("a", "set-attribute", "b", name="9lives", value="v"), "nodes[a].parameters.name"),
        (node("a", "play", "b", announcement="bell\x07"), "nodes[a].parameters.announcement"),
        (node("a b", "queue", queue_id="q"), "nodes[a b]"),
        (node("a", "transfer"), "nodes[a].parameters.number"),
        (node("a", "transfer", number="the partner"), "nodes[a].parameters.number"),
        (node("a", "transfer", "b", number="1588-7000"), "nodes[a].next"),
    ],
)
def test_each_node_fault_is_refused_naming_the_field(bad: events_pb2.FlowNode, field: str) -> None:
    found = faults(flow(bad, node("b", "queue", queue_id="b"), start=bad.id))

    assert field in found


def test_duplicate_ids_and_a_missing_start_are_named() -> None:
    twice = flow(node("a", "queue", queue_id="q"), node("a", "hang-up"), start="z")

    assert set(faults(twice)) == {"nodes[a]", "start"}


def test_an_empty_or_oversized_flow_is_refused() -> None:
    assert faults(events_pb2.IvrFlow(start="a")) == {"nodes": "at least one"}
    many = [node(f"n{i}", "hang-up") for i in range(flows.MAX_NODES + 1)]
    assert set(faults(flow(*many))) == {"nodes"}


# ---- walking -------------------------------------------------------------------------------------


def test_running_nodes_run_until_a_node_waits_for_the_caller() -> None:
    shop = validated(SHOP)

    assert enter(shop, shop.start, caller()) == [
        events_pb2.IvrAnnouncementPlayed(menu_id="hello", announcement="hello"),
        events_pb2.IvrHoursChecked(node_id="hours", open=True),
        events_pb2.IvrMenuEntered(menu_id="main", prompt="1 sales, 2 vip, 3 pay, 4 call me back", attempt=1),
    ]


def test_after_hours_the_flow_takes_the_closed_branch_and_hangs_up_after_its_announcement() -> None:
    shop = validated(SHOP)

    *_, checked, said, ended = enter(shop, shop.start, caller(is_open=False))

    assert checked == events_pb2.IvrHoursChecked(node_id="hours", open=False)
    assert said == events_pb2.IvrAnnouncementPlayed(menu_id="closed", announcement="we are closed")
    assert ended == events_pb2.CallEnded(
        ended_by=Party.PARTY_SYSTEM, reason=EndReason.END_REASON_ANNOUNCEMENT_COMPLETED
    )


def test_a_transfer_node_connects_the_caller_to_the_outside_number_and_ends_the_call_here() -> None:
    shop = validated(SHOP)

    assert respond(shop, "main", 1, Entry.of("5"), caller()) == [
        events_pb2.IvrDigitsReceived(menu_id="main", digits="5", recognised=True, option_label="partner"),
        events_pb2.IvrAnnouncementPlayed(menu_id="partner", announcement="connecting you to our partner"),
        events_pb2.IvrTransferred(node_id="partner", to="1588-7000"),
        events_pb2.CallEnded(ended_by=Party.PARTY_SYSTEM, reason=EndReason.END_REASON_TRANSFERRED_OUT),
    ]


def test_a_hang_up_without_an_announcement_ends_the_call_as_the_flow_hung_up() -> None:
    bye = validated(flow(node("bye", "hang-up")))

    assert enter(bye, "bye", caller()) == [
        events_pb2.CallEnded(ended_by=Party.PARTY_SYSTEM, reason=EndReason.END_REASON_FLOW_HUNG_UP)
    ]


def test_a_vip_choice_sets_priority_and_an_attribute_then_collects_and_queues_with_that_priority() -> None:
    shop = validated(SHOP)

    chosen = respond(shop, "main", 1, Entry.of("2"), caller(priority=1))
    assert chosen == [
        events_pb2.IvrDigitsReceived(menu_id="main", digits="2", recognised=True, option_label="vip"),
        events_pb2.CallPrioritySet(node_id="vip", priority=7),
        events_pb2.CallAttributeSet(node_id="tag", name="segment", value="vip"),
        events_pb2.IvrMenuEntered(menu_id="member", prompt="member number", attempt=1),
    ]

    collected = respond(shop, "member", 1, Entry.of("123456"), caller(priority=7))
    assert collected == [
        events_pb2.IvrDigitsReceived(menu_id="member", digits="123456", recognised=True),
        events_pb2.IvrDigitsCollected(node_id="member", masked=False, digit_count=6, luhn_valid=False),
        events_pb2.CallAttributeSet(node_id="member", name="member_id", value="123456"),
        events_pb2.CallQueued(
            queue_id="sales", required_skill="sales>=3", priority=7, enqueued_at=timestamp(NOW), reason="ivr"
        ),
    ]


def test_a_queue_node_without_a_skill_asks_for_its_queue_id_as_the_skill() -> None:
    plain = validated(flow(node("q", "queue", queue_id="general")))

    (queued,) = enter(plain, "q", caller())

    assert isinstance(queued, events_pb2.CallQueued) and queued.required_skill == "general"


def test_a_callback_node_queues_the_call_as_a_callback_to_the_callers_number() -> None:
    shop = validated(SHOP)
    at_the_counter = Caller(2, lambda moment: True, NOW, "+821012345678")

    *_, said, queued, callback = respond(shop, "main", 1, Entry.of("4"), at_the_counter)

    assert said == events_pb2.IvrAnnouncementPlayed(menu_id="later", announcement="we will call you back")
    assert queued == events_pb2.CallQueued(
        queue_id="sales",
        required_skill="sales>=3",
        priority=2,
        enqueued_at=timestamp(NOW),
        reason="menu-choice",
    )
    assert callback == events_pb2.CallbackRequested(
        number="+821012345678", queue_id="sales", enqueued_at=timestamp(NOW)
    )


def test_an_entry_of_the_wrong_length_prompts_again_then_takes_the_invalid_branch_or_next() -> None:
    shop = validated(SHOP)
    short = Entry.of("12")

    again = respond(shop, "member", 1, short, caller())
    assert again[-1] == events_pb2.IvrMenuEntered(menu_id="member", prompt="member number", attempt=2)
    assert again[0] == events_pb2.IvrDigitsReceived(menu_id="member", digits="12", recognised=False)

    *_, queued = respond(shop, "member", 4, short, caller())  # retries (3) used up: next
    assert isinstance(queued, events_pb2.CallQueued) and queued.queue_id == "sales"

    branching = validated(
        flow(
            node("c", "collect", "q", prompt="p", attribute="a", min_digits=4, branches={"invalid": "bye"}),
            node("q", "queue", queue_id="q"),
            node("bye", "hang-up"),
        )
    )
    *_, ended = respond(branching, "c", 4, short, caller())
    assert isinstance(ended, events_pb2.CallEnded)


def test_a_masked_entry_keeps_no_digit_in_any_event() -> None:
    shop = validated(SHOP)
    card = "4111111111111111"

    for entry in (Entry.of(card), Entry.of(card).masked()):
        walked = respond(shop, "card", 1, entry, caller())

        assert walked[:2] == [
            events_pb2.IvrDigitsReceived(menu_id="card", digits="*" * 16, recognised=True),
            events_pb2.IvrDigitsCollected(node_id="card", masked=True, digit_count=16, luhn_valid=True),
        ]
        assert isinstance(walked[-1], events_pb2.CallQueued)
        assert not any(card in event.SerializeToString().decode("latin-1") for event in walked)


@pytest.mark.parametrize(
    ("digits", "valid"),
    [
        ("4111111111111111", True),
        ("4111111111111112", False),
        ("79927398713", False),  # Luhn-valid, but no card is 11 digits long
        ("5555555555554444", True),
        ("411111111111111a", False),
        ("1234567812345670", True),
    ],
)
def test_luhn_check(digits: str, valid: bool) -> None:
    assert luhn_valid(digits) is valid


def test_the_menu_replays_its_prompt_then_takes_next_after_max_retries() -> None:
    shop = validated(SHOP)

    replay = respond(shop, "main", 3, Entry.of("7"), caller())
    assert replay == [
        events_pb2.IvrDigitsReceived(menu_id="main", digits="7", recognised=False),
        events_pb2.IvrMenuEntered(menu_id="main", prompt="1 sales, 2 vip, 3 pay, 4 call me back", attempt=4),
    ]
    *_, queued = respond(shop, "main", 4, Entry.of("7"), caller())
    assert isinstance(queued, events_pb2.CallQueued) and queued.reason == "ivr-retries-exhausted"


# ---- property: every published flow lets the caller out --------------------------------------


def _waits(events: list[Message]) -> str | None:
    last = events[-1]
    return last.menu_id if isinstance(last, events_pb2.IvrMenuEntered) else None


@st.composite
def random_flows(draw: Callable[..., Any]) -> events_pb2.IvrFlow:
    """Mostly valid flows: a chain of nodes, each leading on to the next, with menus and check-hours
    branching anywhere (sub-menus, back to the main menu, loops); the rest have faults, such as loops
    that never wait or nodes after an early end that nothing reaches."""
    count = draw(st.integers(2, 8))
    ids = [f"n{i}" for i in range(count)]
    anywhere = st.sampled_from(ids)
    nodes = []
    for i, node_id in enumerate(ids):
        following = ids[i + 1] if i + 1 < count else ""
        kinds = ["menu", "play", "check-hours", "set-priority"] if following else []
        kind = draw(st.sampled_from(kinds * 3 + ["queue", "callback", "hang-up", "transfer"]))
        match kind:
            case "menu":
                choices = draw(
                    st.dictionaries(st.sampled_from("0123456789"), anywhere, min_size=1, max_size=3)
                )
                nodes.append(node(node_id, kind, following, prompt="p", branches=choices, max_retries=1))
            case "play":
                nodes.append(node(node_id, kind, following, announcement="a"))
            case "check-hours":
                nodes.append(node(node_id, kind, branches={"open": following, "closed": draw(anywhere)}))
            case "set-priority":
                nodes.append(node(node_id, kind, following, priority=draw(st.integers(0, 10))))
            case "queue" | "callback":
                nodes.append(node(node_id, kind, queue_id="q"))
            case "transfer":
                nodes.append(node(node_id, kind, number="+8215881234"))
            case _:
                nodes.append(node(node_id, kind))
    return flow(*nodes)


@settings(max_examples=150, deadline=None)
@given(
    message=random_flows(),
    entries=st.lists(st.sampled_from("0123456789"), max_size=40),
    is_open=st.booleans(),
)
def test_a_caller_of_a_valid_flow_always_waits_queues_or_ends_and_every_fault_names_a_node(
    message: events_pb2.IvrFlow, entries: list[str], is_open: bool
) -> None:
    try:
        published = validated(message)
    except InvalidArgument as refused:
        assert refused.field_violations
        assert all(v.field.startswith(("nodes[", "start")) for v in refused.field_violations)
        return
    events = enter(published, published.start, caller(is_open=is_open))
    attempt = 1
    for digits in entries:
        waiting = _waits(events)
        if waiting is None:
            break
        events = respond(published, waiting, attempt, Entry.of(digits), caller(is_open=is_open))
        last = events[-1]
        attempt = last.attempt if isinstance(last, events_pb2.IvrMenuEntered) else attempt
    last = events[-1]
    assert isinstance(last, events_pb2.IvrMenuEntered | events_pb2.CallQueued | events_pb2.CallEnded) or (
        isinstance(last, events_pb2.CallbackRequested) and isinstance(events[-2], events_pb2.CallQueued)
    )
