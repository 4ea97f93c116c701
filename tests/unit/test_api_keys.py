"""API keys (issue 6, API-2): the key aggregate's decide and evolve, the key format, and the key ring
that every service checks callers against: issued keys act with their role and as their user, a
revoked or altered key is refused, and only a hash of the secret is ever in an event."""

from typing import Any

import pytest
from cc.gateway.v1 import commands_pb2, events_pb2

from services.common.access import Credential, Role
from services.common.errors import IllegalTransition, InvalidArgument, NotFound
from services.common.keys import KeyRing, evolve, issue, secret_sha256, split
from services.gateway.keys import domain
from tests.unit.support import TENANT, History, at, meta

KEY_ID = "0190c3f6-2d1e-7c3b-9a51-5d3f0e7a1b22"


def key_history() -> History:
    return History(
        decide=lambda state, command, now, rules: domain.decide(state, command, now),
        evolve=evolve,
        customer_of=domain.customer_of,
        rules=None,
        context="gateway",
        aggregate_type="api-key",
        aggregate_id=KEY_ID,
    )


def create(
    digest: str, role: Any = events_pb2.API_KEY_ROLE_AGENT, **fields: str
) -> commands_pb2.ApiKeyCommand:
    values = {"user": "kim@acme.example", "agent_id": "kim", **fields}
    return commands_pb2.ApiKeyCommand(
        meta=meta(KEY_ID), create=commands_pb2.CreateApiKey(role=role, secret_sha256=digest, **values)
    )


def revoke(reason: str = "") -> commands_pb2.ApiKeyCommand:
    return commands_pb2.ApiKeyCommand(meta=meta(KEY_ID), revoke=commands_pb2.RevokeApiKey(reason=reason))


def test_a_key_is_its_id_and_a_secret_of_256_random_bits_and_only_the_secret_is_hashed() -> None:
    key, digest = issue(KEY_ID)
    parts = split(key)
    assert parts is not None and parts[0] == KEY_ID
    assert len(parts[1]) == 43 and digest == secret_sha256(parts[1]) and parts[1] not in digest
    assert issue(KEY_ID)[0] != key  # a new secret every time
    for foreign in ("dev-key-acme", f"xyz.{KEY_ID}.secret", "cck..secret", f"cck.{KEY_ID}.", ""):
        assert split(foreign) is None


def test_a_created_key_records_its_user_role_agent_and_creator_and_a_revocation_ends_it() -> None:
    history = key_history()
    _, digest = issue(KEY_ID)
    [created] = history.handle(create(digest, description="desk 12"), at(0))
    assert created == events_pb2.ApiKeyCreated(
        user="kim@acme.example",
        role=events_pb2.API_KEY_ROLE_AGENT,
        agent_id="kim",
        secret_sha256=digest,
        description="desk 12",
    )
    state = history.state
    assert (state.role, state.agent_id, state.created_by, state.revoked_at) == (
        Role.AGENT,
        "kim",
        "unit-test",
        None,
    )
    history.handle(revoke("left the team"), at(60))
    assert (history.state.revoked_at, history.state.revoke_reason) == (at(60), "left the team")
    with pytest.raises(IllegalTransition) as again:
        history.handle(revoke(), at(61))
    assert again.value.error_id == "api-key-revoked"
    with pytest.raises(IllegalTransition):
        history.handle(create(digest), at(62))  # an id is issued once


@pytest.mark.parametrize(
    ("command", "field"),
    [
        (create("a" * 64, agent_id=""), "agent_id"),  # an agent's key names its agent
        (create("a" * 64, role=events_pb2.API_KEY_ROLE_SUPERVISOR), "agent_id"),  # and only an agent's does
        (create("a" * 64, role=events_pb2.API_KEY_ROLE_UNSPECIFIED), "role"),
        (create("a" * 64, role=42), "role"),
        (create("A" * 64), "secret_sha256"),
        (create("a" * 63), "secret_sha256"),
        (create("a" * 64, user=" "), "user"),
        (create("a" * 64, description="line\nbreak"), "description"),
    ],
)
def test_a_key_that_does_not_say_what_it_may_do_is_refused_naming_the_field(
    command: commands_pb2.ApiKeyCommand, field: str
) -> None:
    with pytest.raises(InvalidArgument) as refused:
        domain.decide(None, command, at(0))
    assert [v.field for v in refused.value.field_violations] == [field]


def test_revoking_a_key_that_does_not_exist_is_not_found() -> None:
    with pytest.raises(NotFound) as refused:
        domain.decide(None, revoke(), at(0))
    assert refused.value.error_id == "api-key-not-found"


def test_the_key_ring_knows_development_keys_and_issued_keys_until_they_are_revoked() -> None:
    development = {"dev-key": Credential("acme", Role.ADMIN, "admin-key-1")}
    ring = KeyRing(development, "127.0.0.1:1")  # never started: events are applied by hand
    key, digest = issue(KEY_ID)
    history = key_history()
    history.handle(create(digest), at(0))
    for offset, event in enumerate(history.events):
        ring.keys._apply(event.SerializeToString(), offset)

    assert ring.authenticate("dev-key") == development["dev-key"]
    assert ring.authenticate(key) == Credential(TENANT, Role.AGENT, "kim@acme.example", "kim")
    assert ring.authenticate(key[:-1] + ("A" if key[-1] != "A" else "B")) is None  # another secret
    assert ring.authenticate(f"cck.{KEY_ID}.{digest}") is None  # the hash is no key
    assert ring.authenticate("unknown") is None and ring.authenticate("") is None

    history.handle(revoke(), at(5))
    ring.keys._apply(history.events[-1].SerializeToString(), len(history.events))
    assert ring.authenticate(key) is None
    assert ring.authenticate("dev-key") is not None
