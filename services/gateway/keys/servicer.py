"""ApiKeyService: issue, list and revoke the caller's tenant's keys (admins only; see access.py)."""

import grpc
from cc.gateway.v1 import commands_pb2, keys_pb2, keys_pb2_grpc

from services.common.aggregate import Versioned
from services.common.command_bus import CommandBus, command_meta
from services.common.envelope import derived_id, new_id, timestamp
from services.common.errors import IllegalTransition, require
from services.common.grpc_server import current_credential, current_tenant
from services.common.keys import ROLES, ApiKeyState, issue
from services.common.pci import redact_card_numbers
from services.common.projection import Projection
from services.common.queries import execute

ApiKeys = Projection[ApiKeyState, commands_pb2.ApiKeyCommand]
_ROLE_VALUES = {role: value for value, role in ROLES.items()}


def key_view(entry: Versioned[ApiKeyState]) -> keys_pb2.ApiKey:
    key = entry.state
    view = keys_pb2.ApiKey(
        key_id=key.key_id,
        user=key.user,
        role=_ROLE_VALUES[key.role],
        agent_id=key.agent_id,
        description=key.description,
        created_at=timestamp(key.created_at),
        created_by=key.created_by,
        revoked_by=key.revoked_by,
        revoke_reason=key.revoke_reason,
        version=entry.version,
    )
    if key.revoked_at is not None:
        view.revoked_at.CopyFrom(timestamp(key.revoked_at))
    return view


class ApiKeyServicer(keys_pb2_grpc.ApiKeyServiceServicer):
    def __init__(self, bus: CommandBus, keys: ApiKeys) -> None:
        self._bus = bus
        self._keys = keys

    def _command(self, key_id: str, **action: object) -> commands_pb2.ApiKeyCommand:
        meta = command_meta(
            tenant_id=current_tenant(), aggregate_id=key_id, actor=current_credential().actor()
        )
        return commands_pb2.ApiKeyCommand(meta=meta, **action)  # type: ignore[arg-type]

    async def CreateApiKey(
        self, request: keys_pb2.CreateApiKeyRequest, context: grpc.aio.ServicerContext
    ) -> keys_pb2.CreatedApiKey:
        # A retry of one request names the same key, so it can never issue a second one.
        key_id = (
            derived_id("api-key", current_tenant(), request.request_id) if request.request_id else new_id()
        )
        secret_key, digest = issue(key_id)
        create = commands_pb2.CreateApiKey(
            user=request.user,
            role=request.role,
            agent_id=request.agent_id,
            secret_sha256=digest,
            description=redact_card_numbers(request.description),
        )
        entry = await execute(self._bus, self._keys, self._command(key_id, create=create), request.request_id)
        if entry.state.secret_sha256 != digest:
            raise IllegalTransition(
                "api-key-already-issued",
                f"key {key_id} was issued to the first attempt of this request and is shown only once; "
                "revoke it and create another",
            )
        return keys_pb2.CreatedApiKey(key=key_view(entry), secret_key=secret_key)

    async def ListApiKeys(
        self, request: keys_pb2.ListApiKeysRequest, context: grpc.aio.ServicerContext
    ) -> keys_pb2.ListApiKeysResponse:
        entries = [
            entry
            for entry in self._keys.of_tenant(current_tenant())
            if request.include_revoked or entry.state.revoked_at is None
        ]
        entries.sort(key=lambda entry: entry.state.created_at)
        return keys_pb2.ListApiKeysResponse(keys=[key_view(entry) for entry in entries])

    async def RevokeApiKey(
        self, request: keys_pb2.RevokeApiKeyRequest, context: grpc.aio.ServicerContext
    ) -> keys_pb2.ApiKey:
        key_id = require(request.key_id, "key_id", "the key")
        revoke = commands_pb2.RevokeApiKey(reason=redact_card_numbers(request.reason))
        return key_view(
            await execute(self._bus, self._keys, self._command(key_id, revoke=revoke), request.request_id)
        )
