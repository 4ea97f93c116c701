"""Queues as data (RT-2, ORG-3): admins define queues and change their rules; every change is an event,
and routing serves the queue by its rules from then on. Everyone of the tenant may read them."""

from cc.routing.v1 import routing_pb2
from fastapi import APIRouter

from services.gateway.deps import AuthenticatedCaller, Clients, IdempotencyKey
from services.gateway.errors import ERROR_RESPONSES
from services.gateway.models import ChangedQueueRules, NewQueue, PathId, Queue, QueueRules

router = APIRouter(prefix="/v1/queues", tags=["queues"], responses=ERROR_RESPONSES)


@router.post("", status_code=201, summary="Define a queue (admins); it has live metrics, zeros, at once")
async def create_queue(
    body: NewQueue, who: AuthenticatedCaller, services: Clients, idempotency_key: IdempotencyKey = ""
) -> Queue:
    rules = QueueRules.model_validate(body.model_dump(exclude={"queue_id"})).to_proto()
    request = routing_pb2.CreateQueueRequest(queue_id=body.queue_id, rules=rules, request_id=idempotency_key)
    return Queue.of(await services.routing.CreateQueue(request, metadata=who.metadata))


@router.put("/{queue_id}/rules", summary="Replace a queue's rules (admins); waiting contacts follow them")
async def change_rules(
    queue_id: PathId,
    body: ChangedQueueRules,
    who: AuthenticatedCaller,
    services: Clients,
    idempotency_key: IdempotencyKey = "",
) -> Queue:
    rules = QueueRules.model_validate(body.model_dump(exclude={"expected_version"})).to_proto()
    request = routing_pb2.ChangeQueueRulesRequest(
        queue_id=queue_id, rules=rules, request_id=idempotency_key, expected_version=body.expected_version
    )
    return Queue.of(await services.routing.ChangeQueueRules(request, metadata=who.metadata))


@router.get("", summary="The tenant's defined queues, by id")
async def list_queues(who: AuthenticatedCaller, services: Clients) -> list[Queue]:
    response = await services.routing.ListQueues(routing_pb2.ListQueuesRequest(), metadata=who.metadata)
    return [Queue.of(queue) for queue in response.queues]


@router.get("/{queue_id}", summary="One queue and its rules")
async def get_queue(queue_id: PathId, who: AuthenticatedCaller, services: Clients) -> Queue:
    request = routing_pb2.GetQueueRequest(queue_id=queue_id)
    return Queue.of(await services.routing.GetQueue(request, metadata=who.metadata))
