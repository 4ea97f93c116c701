"""API keys of named users and integrations (API-2): their format, their state as every service reads it,
and the key ring each service checks a caller's key against.

A key is `cck.<key_id>.<secret>`. The gateway's key service issues it, shows it once, and records only
the SHA-256 of the secret in its events; nothing on Kafka or on disk can be sent as a key. A plain
SHA-256 is enough here, unlike for passwords: the secret is 256 random bits, so there is nothing to
guess from its hash, and checking it costs a microsecond on every request rather than a slow hash's
tens of milliseconds.

Every service follows `gateway.api-key.events.v1` into its own key ring (a read model), so a revoked key
stops working everywhere as soon as each ring reads the revocation: well under a second while the
broker is up. The development keys of CC_API_KEYS are checked first and never expire."""

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cc.common.v1 import event_pb2
from cc.gateway.v1 import events_pb2

from services.common.access import Credential, Role
from services.common.aggregate import ReadSpec, Versioned, evolved
from services.common.envelope import to_datetime
from services.common.projection import Projection
from services.common.topics import API_KEYS

log = logging.getLogger(__name__)
KEY_PREFIX = "cck"
ROLES: dict["events_pb2.ApiKeyRole.ValueType", Role] = {
    events_pb2.API_KEY_ROLE_ADMIN: Role.ADMIN,
    events_pb2.API_KEY_ROLE_SUPERVISOR: Role.SUPERVISOR,
    events_pb2.API_KEY_ROLE_ANALYST: Role.ANALYST,
    events_pb2.API_KEY_ROLE_AGENT: Role.AGENT,
    events_pb2.API_KEY_ROLE_INTEGRATION: Role.INTEGRATION,
}


def secret_sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue(key_id: str) -> tuple[str, str]:
    """A new key for `key_id` and the hash of its secret, the only part of it that is kept."""
    secret = secrets.token_urlsafe(32)
    return f"{KEY_PREFIX}.{key_id}.{secret}", secret_sha256(secret)


def split(key: str) -> tuple[str, str] | None:
    """(key_id, secret) of a key in the issued format; None for anything else."""
    prefix, _, rest = key.partition(".")
    key_id, _, secret = rest.partition(".")
    if prefix != KEY_PREFIX or not key_id or not secret:
        return None
    return key_id, secret


@dataclass(frozen=True)
class ApiKeyState:
    key_id: str
    user: str
    role: Role
    agent_id: str
    description: str
    secret_sha256: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None = None
    revoked_by: str = ""
    revoke_reason: str = ""


def actor_name(event: event_pb2.Event) -> str:
    return event.actor.id or "system"


def evolve(state: ApiKeyState | None, event: event_pb2.Event) -> ApiKeyState:
    at = to_datetime(event.occurred_at)
    match event.WhichOneof("payload"):
        case "api_key_created":
            created = event.api_key_created
            return ApiKeyState(
                key_id=event.aggregate_id,
                user=created.user,
                role=ROLES[created.role],
                agent_id=created.agent_id,
                description=created.description,
                secret_sha256=created.secret_sha256,
                created_at=at,
                created_by=actor_name(event),
            )
    assert state is not None, f"{event.event_type} before api_key_created"
    if event.WhichOneof("payload") == "api_key_revoked":
        return evolved(
            state, revoked_at=at, revoked_by=actor_name(event), revoke_reason=event.api_key_revoked.reason
        )
    return state


KEY_READS: ReadSpec[ApiKeyState] = ReadSpec(API_KEYS, evolve, ApiKeyState)


class KeyRing:
    """Who a presented key belongs to, for one process: the development keys, then every issued key that
    is not revoked. Ready once it has read every key event written before it started."""

    def __init__(self, development: dict[str, Credential], bootstrap_servers: str) -> None:
        self._development = development
        self.keys: Projection[ApiKeyState, Any] = Projection(KEY_READS, bootstrap_servers)
        # key_id -> (hash of its secret, credential), for the keys that work; revoked ones are dropped.
        self._working: dict[str, tuple[str, Credential]] = {}
        self.keys.observe(self._follow)

    def _follow(self, entry: Versioned[ApiKeyState]) -> None:
        key = entry.state
        if key.revoked_at is not None:
            self._working.pop(key.key_id, None)
            return
        credential = Credential(entry.tenant_id, key.role, key.user, key.agent_id)
        self._working[key.key_id] = (key.secret_sha256, credential)

    def authenticate(self, presented: str) -> Credential | None:
        credential = self._development.get(presented)
        if credential is not None:
            return credential
        parts = split(presented)
        working = self._working.get(parts[0]) if parts else None
        if parts is None or working is None:
            return None
        digest, credential = working
        return credential if hmac.compare_digest(digest, secret_sha256(parts[1])) else None

    async def run(self) -> None:
        await self.keys.run()

    def ready(self) -> bool:
        return self.keys.caught_up.is_set()
