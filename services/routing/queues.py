"""The queue aggregate (RT-2, ORG-3): admins define queues and change their rules over the API; every
change is an event, and the routing board serves the queue by its latest rules. Pure decide and evolve."""

from dataclasses import dataclass
from datetime import datetime

from cc.common.v1 import event_pb2
from cc.routing.v1 import commands_pb2, events_pb2
from google.protobuf.message import Message

from services.common.aggregate import evolved
from services.common.envelope import to_datetime
from services.common.errors import IllegalTransition, InvalidArgument, NotFound, require
from services.routing.rules import QueueRule, rule_of, validated


@dataclass(frozen=True)
class QueueState:
    queue_id: str
    rule: QueueRule
    created_at: datetime
    changed_at: datetime


def customer_of(state: QueueState | None, command: commands_pb2.QueueCommand) -> str:
    return ""  # a queue's events belong to no customer's journey


def decide(state: QueueState | None, command: commands_pb2.QueueCommand, now: datetime) -> list[Message]:
    queue_id = require(command.meta.aggregate_id, "queue_id", "the queue")
    match command.WhichOneof("command"):
        case "create":
            if state is not None:
                raise IllegalTransition("queue-already-exists", f"queue {queue_id} exists already")
            return [events_pb2.QueueCreated(rules=validated(queue_id, command.create.rules))]
        case "change_rules":
            if state is None:
                raise NotFound("queue-not-found", f"queue {queue_id} is not defined")
            rules = validated(queue_id, command.change_rules.rules)
            if rule_of(queue_id, rules).channel != state.rule.channel:
                # its waiting contacts, and the agents holding them, are of its channel
                raise IllegalTransition(
                    "queue-channel-fixed",
                    f"queue {queue_id} serves {state.rule.channel}; define another queue",
                )
            if rule_of(queue_id, rules) == state.rule:
                raise IllegalTransition("queue-rules-unchanged", f"queue {queue_id} has these rules already")
            return [events_pb2.QueueRulesChanged(rules=rules)]
    raise InvalidArgument("unknown-command", "the queue command names no known action")


def evolve(state: QueueState | None, event: event_pb2.Event) -> QueueState:
    at = to_datetime(event.occurred_at)
    match event.WhichOneof("payload"):
        case "queue_created":
            rule = rule_of(event.aggregate_id, event.queue_created.rules)
            return QueueState(event.aggregate_id, rule, created_at=at, changed_at=at)
    assert state is not None, f"{event.event_type} before queue_created"
    match event.WhichOneof("payload"):
        case "queue_rules_changed":
            return evolved(
                state, rule=rule_of(state.queue_id, event.queue_rules_changed.rules), changed_at=at
            )
    return state
