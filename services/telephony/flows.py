"""IVR flows as data (TEL-3, ORG-2): what a flow is, what makes one publishable, and how a call walks
it. Pure: no clock, no I/O.

A flow is a start node and nodes. Like the actions of a contact flow, each node has a type, string
parameters, the node that follows (`next`) and named branches:

| type          | parameters                                          | exits                           |
|---------------|-----------------------------------------------------|---------------------------------|
| menu          | prompt, max_retries (3)                             | branches digits -> node; next:  |
|               |                                                     | after max_retries unknown entries|
| collect       | prompt, attribute, min_digits (1), max_digits (16), | next; branches `invalid` (else  |
|               | masked (false), max_retries (3)                     | next) after max_retries misses  |
| play          | announcement                                        | next                            |
| check-hours   |                                                     | branches `open`, `closed`       |
| set-priority  | priority (0 to 10)                                  | next                            |
| set-attribute | name, value                                         | next                            |
| queue         | queue_id, skill (the queue id)                      | none: the call waits there      |
| callback      | queue_id, skill (the queue id), announcement (none) | none: it waits there as a       |
|               |                                                     | callback to the caller (TEL-5); |
|               |                                                     | a caller without a number waits |
|               |                                                     | on the line                     |
| hang-up       | announcement (none)                                 | none: the call ends             |
| voicemail     | prompt, max_seconds (120)                           | none: the caller's message ends |
|               |                                                     | the call and becomes a ticket   |
| transfer      | number, announcement (none)                         | none: the carrier connects the  |
|               |                                                     | caller to the outside number,   |
|               |                                                     | and the call ends here          |

A sub-menu is a menu that a menu's branch leads to. Menu and collect wait for the caller; the other
nodes run at once, one after another, until the call waits, queues or ends. So a flow is publishable
only when every node is reachable from the start, every exit names a node, every node can reach a
queue or a hang-up, and no loop runs without waiting for the caller.
"""

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from cc.telephony.v1 import events_pb2
from google.protobuf.message import Message

from services.common import numbers
from services.common.envelope import timestamp
from services.common.errors import FieldViolation, InvalidArgument, text_problem
from services.common.pci import luhn_valid

MAX_NODES = 200
MAX_TEXT = 1000
MAX_PRIORITY = 10
DEFAULT_VOICEMAIL_SECONDS = 120
_NODE_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_MENU_DIGITS = re.compile(r"[0-9*#]{1,16}")
_WHOLE = re.compile(r"[0-9]{1,4}")
_ATTRIBUTE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")


@dataclass(frozen=True)
class NodeType:
    name: str
    # parameter -> whether it is required
    parameters: Mapping[str, bool]
    # whether it has a `next`: "required", "optional" or "none"
    next: str
    # the branch names it requires (None: any digits, as a menu's)
    branches: frozenset[str] | None = frozenset()
    waits: bool = False

    @property
    def ends(self) -> bool:
        return self.next == "none" and not self.branches and self.branches is not None


NODE_TYPES = {
    t.name: t
    for t in (
        NodeType("menu", {"prompt": True, "max_retries": False}, "required", None, waits=True),
        NodeType(
            "collect",
            {
                "prompt": True,
                "attribute": False,
                "min_digits": False,
                "max_digits": False,
                "masked": False,
                "max_retries": False,
            },
            "required",
            frozenset({"invalid"}),
            waits=True,
        ),
        NodeType("play", {"announcement": True}, "required"),
        NodeType("check-hours", {}, "none", frozenset({"open", "closed"})),
        NodeType("set-priority", {"priority": True}, "required"),
        NodeType("set-attribute", {"name": True, "value": True}, "required"),
        NodeType("queue", {"queue_id": True, "skill": False}, "none"),
        NodeType("callback", {"queue_id": True, "skill": False, "announcement": False}, "none"),
        NodeType("hang-up", {"announcement": False}, "none"),
        # waits for the carrier's recording, then the call ends (TEL-6)
        NodeType("voicemail", {"prompt": True, "max_seconds": False}, "none", waits=True),
        # to an outside number (a partner, another site's switchboard); the call is over for the platform
        NodeType("transfer", {"number": True, "announcement": False}, "none"),
    )
}


@dataclass(frozen=True)
class Node:
    node_id: str
    kind: str
    parameters: dict[str, str] = field(default_factory=dict)
    next: str = ""
    branches: dict[str, str] = field(default_factory=dict)

    def exits(self) -> Iterator[tuple[str, str]]:
        """(where, target) of each exit, `where` as a violation names it."""
        if self.next:
            yield f"nodes[{self.node_id}].next", self.next
        for name, target in sorted(self.branches.items()):
            yield f"nodes[{self.node_id}].branches[{name}]", target

    def number(self, name: str, default: int) -> int:
        return int(self.parameters.get(name) or default)

    @property
    def masked(self) -> bool:
        return self.parameters.get("masked", "false") == "true"


@dataclass(frozen=True)
class Flow:
    start: str
    nodes: dict[str, Node]

    def node(self, node_id: str) -> Node:
        return self.nodes[node_id]


def flow_of(message: events_pb2.IvrFlow) -> Flow:
    """The flow a message carries, unchecked (a published one was checked when it was published)."""
    return Flow(
        message.start,
        {n.id: Node(n.id, n.type, dict(n.parameters), n.next, dict(n.branches)) for n in message.nodes},
    )


def flow_message(flow: Flow) -> events_pb2.IvrFlow:
    return events_pb2.IvrFlow(
        start=flow.start,
        nodes=[
            events_pb2.FlowNode(
                id=n.node_id, type=n.kind, parameters=n.parameters, next=n.next, branches=n.branches
            )
            for n in flow.nodes.values()
        ],
    )


# --- publishing: what makes a flow valid ----------------------------------------------------------


def validated(message: events_pb2.IvrFlow) -> Flow:
    """The flow, or InvalidArgument naming every node at fault (`nodes[<id>]...`)."""
    faults: list[FieldViolation] = []
    if not message.nodes:
        raise InvalidArgument("invalid-flow", "a flow needs nodes", [FieldViolation("nodes", "at least one")])
    if len(message.nodes) > MAX_NODES:
        raise InvalidArgument(
            "invalid-flow", "the flow is too large", [FieldViolation("nodes", f"at most {MAX_NODES}")]
        )
    ids = [n.id for n in message.nodes]
    for node_id in sorted({i for i in ids if ids.count(i) > 1}):
        faults.append(FieldViolation(f"nodes[{node_id}]", "its id is used by more than one node"))
    flow = flow_of(message)
    for node in flow.nodes.values():
        faults.extend(_node_faults(node))
    for node in flow.nodes.values():
        faults.extend(
            FieldViolation(where, f"names {target!r}, which is not a node of the flow")
            for where, target in node.exits()
            if target not in flow.nodes
        )
    if flow.start not in flow.nodes:
        faults.append(FieldViolation("start", "the id of the node a call starts on"))
    if faults:  # the graph checks below need exits that lead somewhere
        raise InvalidArgument("invalid-flow", "the flow is not valid", faults)
    faults.extend(_graph_faults(flow))
    if faults:
        raise InvalidArgument("invalid-flow", "the flow is not valid", faults)
    return flow


def _node_faults(node: Node) -> Iterator[FieldViolation]:
    here = f"nodes[{node.node_id}]"
    if not _NODE_ID.fullmatch(node.node_id):
        yield FieldViolation(here, "an id of 1 to 64 letters, digits, '_', '.' or '-'")
    kind = NODE_TYPES.get(node.kind)
    if kind is None:
        yield FieldViolation(f"{here}.type", f"one of {', '.join(NODE_TYPES)}")
        return
    for name in sorted(set(node.parameters) - set(kind.parameters)):
        yield FieldViolation(f"{here}.parameters.{name}", f"a {node.kind} node has no such parameter")
    for name, required in kind.parameters.items():
        if required and not node.parameters.get(name):
            yield FieldViolation(f"{here}.parameters.{name}", "required")
    for name, value in sorted(node.parameters.items()):
        if len(value) > MAX_TEXT:
            yield FieldViolation(f"{here}.parameters.{name}", f"at most {MAX_TEXT} characters")
        elif value and (problem := text_problem(value)) is not None:
            yield FieldViolation(f"{here}.parameters.{name}", problem)
    if kind.next == "required" and not node.next:
        yield FieldViolation(f"{here}.next", f"a {node.kind} node needs the node that follows it")
    if kind.next == "none" and node.next:
        yield FieldViolation(f"{here}.next", f"a {node.kind} node has no next node")
    yield from _branch_faults(here, node, kind)
    yield from _value_faults(here, node)


def _branch_faults(here: str, node: Node, kind: NodeType) -> Iterator[FieldViolation]:
    if kind.branches is None:  # a menu: digits -> node
        if not node.branches:
            yield FieldViolation(f"{here}.branches", "a menu needs at least one choice")
        for digits in sorted(node.branches):
            if not _MENU_DIGITS.fullmatch(digits):
                yield FieldViolation(f"{here}.branches[{digits}]", "1 to 16 of 0-9, * and #")
        return
    for name in sorted(set(node.branches) - kind.branches):
        yield FieldViolation(f"{here}.branches[{name}]", f"a {node.kind} node has no such branch")
    if node.kind == "check-hours":
        for name in sorted(kind.branches - set(node.branches)):
            yield FieldViolation(f"{here}.branches[{name}]", "required")


def _value_faults(here: str, node: Node) -> Iterator[FieldViolation]:
    wholes = {
        "max_retries": (0, 9),
        "priority": (0, MAX_PRIORITY),
        "min_digits": (1, 32),
        "max_digits": (1, 32),
        "max_seconds": (5, 600),
    }
    for name, (low, high) in wholes.items():
        value = node.parameters.get(name)
        if value and not (_WHOLE.fullmatch(value) and low <= int(value) <= high):
            yield FieldViolation(f"{here}.parameters.{name}", f"a whole number from {low} to {high}")
    if node.kind == "collect":
        if node.parameters.get("masked", "false") not in ("true", "false"):
            yield FieldViolation(f"{here}.parameters.masked", "true or false")
        elif not node.masked and not node.parameters.get("attribute"):
            yield FieldViolation(f"{here}.parameters.attribute", "required: the call attribute it sets")
        elif node.masked and node.parameters.get("attribute"):
            yield FieldViolation(f"{here}.parameters.attribute", "a masked entry is never kept")
        fewest, most = node.parameters.get("min_digits", "1"), node.parameters.get("max_digits", "16")
        if _WHOLE.fullmatch(fewest) and _WHOLE.fullmatch(most) and int(fewest) > int(most):
            yield FieldViolation(f"{here}.parameters.min_digits", "at most max_digits")
    number = node.parameters.get("number")
    if node.kind == "transfer" and number and not numbers.NUMBER.fullmatch(numbers.canonical(number)):
        yield FieldViolation(f"{here}.parameters.number", numbers.NUMBER_RULE)
    for name in ("attribute", "name"):
        value = node.parameters.get(name)
        if value and node.kind in ("collect", "set-attribute") and not _ATTRIBUTE.fullmatch(value):
            yield FieldViolation(
                f"{here}.parameters.{name}", "an attribute name: a letter, then letters or digits"
            )


def _graph_faults(flow: Flow) -> Iterator[FieldViolation]:
    """Unreachable nodes, nodes from which no path ends, and loops that never wait for the caller."""
    reachable = _reach(flow, [flow.start], lambda n: [t for _, t in n.exits()])
    for node_id in sorted(set(flow.nodes) - reachable):
        yield FieldViolation(f"nodes[{node_id}]", "no path from the start reaches it")
    ending = _reach(
        flow,
        [n.node_id for n in flow.nodes.values() if NODE_TYPES[n.kind].ends],
        lambda n: [m.node_id for m in flow.nodes.values() if n.node_id in {t for _, t in m.exits()}],
    )
    for node_id in sorted(reachable - ending):
        yield FieldViolation(f"nodes[{node_id}]", "no path from it ends in a queue, a transfer or a hang-up")
    for node_id in sorted(_running_loops(flow) & reachable):
        yield FieldViolation(f"nodes[{node_id}]", "it is on a loop that never waits for the caller")


def _reach(flow: Flow, starts: list[str], step: Callable[[Node], list[str]]) -> set[str]:
    seen: set[str] = set()
    todo = list(starts)
    while todo:
        node_id = todo.pop()
        if node_id in seen:
            continue
        seen.add(node_id)
        todo.extend(step(flow.nodes[node_id]))
    return seen


def _running_loops(flow: Flow) -> set[str]:
    """Nodes on a cycle of nodes that run at once (no menu or collect on it): a call would spin."""
    running = {i for i, n in flow.nodes.items() if not NODE_TYPES[n.kind].waits}
    on_loop: set[str] = set()
    for node_id in running:
        follow = _reach(
            flow,
            [t for _, t in flow.nodes[node_id].exits() if t in running],
            lambda n: [t for _, t in n.exits() if t in running],
        )
        if node_id in follow:
            on_loop.add(node_id)
    return on_loop


# --- walking: what a call does ------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    """What the walk needs of the call: its priority, whether the line is open now, and when; the
    caller's number, for a callback."""

    priority: int
    is_open: Callable[[datetime], bool]
    now: datetime
    number: str = ""


def enter(flow: Flow, node_id: str, caller: Caller, reason: str = "ivr") -> list[Message]:
    """The events of a call arriving on `node_id`: the nodes that run at once, one after another, until
    one waits for the caller (a prompt), queues the call or ends it. `reason` is why a queue is joined."""
    events: list[Message] = []
    priority = caller.priority
    for _ in range(len(flow.nodes) + 1):  # a published flow has no loop of running nodes
        node = flow.node(node_id)
        match node.kind:
            case "menu" | "collect":
                events.append(prompted(node, 1))
                return events
            case "voicemail":
                events.append(
                    events_pb2.VoicemailOffered(
                        node_id=node.node_id,
                        prompt=node.parameters["prompt"],
                        max_seconds=node.number("max_seconds", DEFAULT_VOICEMAIL_SECONDS),
                    )
                )
                return events
            case "play":
                events.append(events_pb2.IvrAnnouncementPlayed(menu_id=node.node_id, announcement=_say(node)))
                node_id = node.next
            case "check-hours":
                is_open = caller.is_open(caller.now)
                events.append(events_pb2.IvrHoursChecked(node_id=node.node_id, open=is_open))
                node_id = node.branches["open" if is_open else "closed"]
            case "set-priority":
                priority = node.number("priority", 0)
                events.append(events_pb2.CallPrioritySet(node_id=node.node_id, priority=priority))
                node_id = node.next
            case "set-attribute":
                name, value = node.parameters["name"], node.parameters["value"]
                events.append(events_pb2.CallAttributeSet(node_id=node.node_id, name=name, value=value))
                node_id = node.next
            case "queue" | "callback":
                queue_id = node.parameters["queue_id"]
                if node.parameters.get("announcement"):
                    events.append(
                        events_pb2.IvrAnnouncementPlayed(menu_id=node.node_id, announcement=_say(node))
                    )
                events.append(
                    events_pb2.CallQueued(
                        queue_id=queue_id,
                        required_skill=node.parameters.get("skill") or queue_id,
                        priority=priority,
                        enqueued_at=timestamp(caller.now),
                        reason=reason,
                    )
                )
                # the caller hangs up and their place is kept for a callback; a caller whose number is
                # withheld or no phone number cannot be called back, and waits on the line as at a queue
                if node.kind == "callback" and numbers.NUMBER.fullmatch(numbers.canonical(caller.number)):
                    events.append(
                        events_pb2.CallbackRequested(
                            number=caller.number, queue_id=queue_id, enqueued_at=timestamp(caller.now)
                        )
                    )
                return events
            case "transfer":
                if node.parameters.get("announcement"):
                    events.append(
                        events_pb2.IvrAnnouncementPlayed(menu_id=node.node_id, announcement=_say(node))
                    )
                events.append(events_pb2.IvrTransferred(node_id=node.node_id, to=node.parameters["number"]))
                events.append(
                    events_pb2.CallEnded(
                        ended_by=events_pb2.PARTY_SYSTEM, reason=events_pb2.END_REASON_TRANSFERRED_OUT
                    )
                )
                return events
            case "hang-up":
                ended = events_pb2.CallEnded(
                    ended_by=events_pb2.PARTY_SYSTEM, reason=events_pb2.END_REASON_FLOW_HUNG_UP
                )
                if node.parameters.get("announcement"):
                    events.append(
                        events_pb2.IvrAnnouncementPlayed(menu_id=node.node_id, announcement=_say(node))
                    )
                    ended.reason = events_pb2.END_REASON_ANNOUNCEMENT_COMPLETED
                events.append(ended)
                return events
    raise AssertionError(f"the flow loops without waiting for the caller at {node_id}")


def prompted(node: Node, attempt: int) -> events_pb2.IvrMenuEntered:
    return events_pb2.IvrMenuEntered(menu_id=node.node_id, prompt=node.parameters["prompt"], attempt=attempt)


def _say(node: Node) -> str:
    return node.parameters["announcement"]


@dataclass(frozen=True)
class Entry:
    """Digits the caller entered; at a masked node only how many and whether they pass Luhn."""

    digits: str
    count: int
    luhn_valid: bool

    @staticmethod
    def of(digits: str) -> "Entry":
        return Entry(digits, len(digits), luhn_valid(digits))

    def masked(self) -> "Entry":
        return Entry("", self.count, self.luhn_valid)


def respond(flow: Flow, node_id: str, attempt: int, entry: Entry, caller: Caller) -> list[Message]:
    """The events of the caller's entry at the waiting node `node_id`, on its play number `attempt`.
    A masked entry (any card number: the service masks those wherever they are entered) shows as one
    `*` per digit, chooses no menu branch and sets no attribute."""
    node = flow.node(node_id)
    retries = node.number("max_retries", 3)
    if node.masked:
        entry = entry.masked()
    shown = entry.digits or "*" * entry.count
    if node.kind == "menu":
        target = node.branches.get(entry.digits) if entry.digits else None
        received = events_pb2.IvrDigitsReceived(
            menu_id=node_id, digits=shown, recognised=target is not None, option_label=target or ""
        )
        if target is not None:
            return [received, *enter(flow, target, caller, "menu-choice")]
        if attempt <= retries:
            return [received, prompted(node, attempt + 1)]
        return [received, *enter(flow, node.next, caller, "ivr-retries-exhausted")]
    in_range = node.number("min_digits", 1) <= entry.count <= node.number("max_digits", 16)
    fits = in_range and (node.masked or bool(entry.digits))
    received = events_pb2.IvrDigitsReceived(menu_id=node_id, digits=shown, recognised=fits)
    if not fits:
        if attempt <= retries:
            return [received, prompted(node, attempt + 1)]
        return [received, *enter(flow, node.branches.get("invalid", node.next), caller)]
    collected = events_pb2.IvrDigitsCollected(
        node_id=node_id, masked=node.masked, digit_count=entry.count, luhn_valid=entry.luhn_valid
    )
    kept = [] if node.masked else [_attribute(node, entry.digits)]
    return [received, collected, *kept, *enter(flow, node.next, caller)]


def _attribute(node: Node, digits: str) -> events_pb2.CallAttributeSet:
    return events_pb2.CallAttributeSet(node_id=node.node_id, name=node.parameters["attribute"], value=digits)
