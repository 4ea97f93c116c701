"""The API key aggregate (API-2): decide, pure. Its state and evolve live beside the key ring in
services/common/keys.py, because every service folds the same events to check its callers.

A key is created once and revoked once; a revoked key stays revoked (issue a new one instead), so an
admin's list shows who held which key and when it stopped working."""

import re
from datetime import datetime

from cc.gateway.v1 import commands_pb2, events_pb2
from google.protobuf.message import Message

from services.common.access import Role
from services.common.errors import (
    FieldViolation,
    IllegalTransition,
    InvalidArgument,
    NotFound,
    optional_text,
    require,
)
from services.common.keys import ROLES, ApiKeyState

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def _invalid(field: str, description: str) -> InvalidArgument:
    return InvalidArgument("invalid-argument", f"{field} {description}", [FieldViolation(field, description)])


def customer_of(state: ApiKeyState | None, command: commands_pb2.ApiKeyCommand) -> str:
    return ""  # a key is nobody's contact


def decide(state: ApiKeyState | None, command: commands_pb2.ApiKeyCommand, now: datetime) -> list[Message]:
    key_id = command.meta.aggregate_id
    match command.WhichOneof("command"):
        case "create":
            if state is not None:
                raise IllegalTransition("api-key-exists", f"key {key_id} already exists")
            create = command.create
            user = require(create.user, "user", "the person or integration the key belongs to")
            role = ROLES.get(create.role)
            if role is None:
                raise _invalid("role", "must be admin, supervisor, analyst, agent or integration")
            if role == Role.AGENT:
                require(create.agent_id, "agent_id", "the agent an agent's key acts as")
            elif create.agent_id:
                raise _invalid("agent_id", "is only for the agent role")
            if not _SHA256_HEX.fullmatch(create.secret_sha256):
                raise _invalid("secret_sha256", "must be the lower-case hex SHA-256 of the secret")
            return [
                events_pb2.ApiKeyCreated(
                    user=user,
                    role=create.role,
                    agent_id=create.agent_id,
                    secret_sha256=create.secret_sha256,
                    description=optional_text(create.description, "description", "the description"),
                )
            ]
        case "revoke":
            if state is None:
                raise NotFound("api-key-not-found", f"key {key_id} does not exist")
            if state.revoked_at is not None:
                raise IllegalTransition("api-key-revoked", f"key {key_id} is already revoked")
            reason = optional_text(command.revoke.reason, "reason", "the reason")
            return [events_pb2.ApiKeyRevoked(reason=reason)]
    raise InvalidArgument("unknown-command", "the key command names no known action")
