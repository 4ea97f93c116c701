"""API keys of named users and integrations (API-2): issue, list, revoke. Admins only; the key service
says so (403, role-not-permitted) like every other service does for its methods."""

from cc.gateway.v1 import events_pb2, keys_pb2
from fastapi import APIRouter, Query

from services.gateway.deps import AuthenticatedCaller, Clients, IdempotencyKey
from services.gateway.errors import ERROR_RESPONSES
from services.gateway.models import (
    ApiKey,
    ApiKeyList,
    CreateApiKeyBody,
    CreatedApiKey,
    NewAgentKey,
    PathId,
    RevokeApiKeyBody,
)

router = APIRouter(prefix="/v1/api-keys", tags=["api keys"], responses=ERROR_RESPONSES)
ROLES = {
    "admin": events_pb2.API_KEY_ROLE_ADMIN,
    "supervisor": events_pb2.API_KEY_ROLE_SUPERVISOR,
    "analyst": events_pb2.API_KEY_ROLE_ANALYST,
    "agent": events_pb2.API_KEY_ROLE_AGENT,
    "integration": events_pb2.API_KEY_ROLE_INTEGRATION,
}


@router.post("", status_code=201, summary="Issue a key; the answer shows it once")
async def create_key(
    body: CreateApiKeyBody, who: AuthenticatedCaller, services: Clients, idempotency_key: IdempotencyKey = ""
) -> CreatedApiKey:
    request = keys_pb2.CreateApiKeyRequest(
        user=body.user,
        role=ROLES[body.role],
        agent_id=body.agent_id if isinstance(body, NewAgentKey) else "",
        description=body.description,
        request_id=idempotency_key,
    )
    created = await services.keys.CreateApiKey(request, metadata=who.metadata)
    return CreatedApiKey(key=ApiKey.of(created.key), secret_key=created.secret_key)


@router.get("", summary="The tenant's keys, oldest first (never the keys themselves)")
async def list_keys(
    who: AuthenticatedCaller, services: Clients, include_revoked: bool = Query(default=False)
) -> ApiKeyList:
    request = keys_pb2.ListApiKeysRequest(include_revoked=include_revoked)
    response = await services.keys.ListApiKeys(request, metadata=who.metadata)
    return ApiKeyList(keys=[ApiKey.of(key) for key in response.keys])


@router.post("/{key_id}/revoke", summary="Revoke a key; every service refuses it (401) within seconds")
async def revoke_key(
    key_id: PathId,
    body: RevokeApiKeyBody,
    who: AuthenticatedCaller,
    services: Clients,
    idempotency_key: IdempotencyKey = "",
) -> ApiKey:
    request = keys_pb2.RevokeApiKeyRequest(key_id=key_id, reason=body.reason, request_id=idempotency_key)
    return ApiKey.of(await services.keys.RevokeApiKey(request, metadata=who.metadata))
