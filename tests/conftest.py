"""Shared fixtures. Integration and end-to-end tests run on a real Kafka broker: the one named by
KAFKA_BOOTSTRAP_SERVERS; else a Kafka container (testcontainers) when a Docker engine answers; else a
local KRaft broker this session starts (deploy/local/kafka.sh), as on CI here. All three are real."""

import asyncio
import os
import random
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import ConsumerRecord

from services.common import kafka

KAFKA_SCRIPT = Path(__file__).resolve().parents[1] / "deploy" / "local" / "kafka.sh"
# Kafka 4.0 (KRaft) for the container path.
KAFKA_IMAGE = "confluentinc/cp-kafka:8.0.0"


def docker_engine_answers() -> bool:
    try:
        import docker

        return bool(docker.from_env(timeout=3).ping())
    except Exception:  # no engine, no socket, no permission: use the local broker
        return False


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def free_port_pair() -> int:
    """A port whose successor is free too (the broker's controller listens on port + 1)."""
    for _ in range(200):
        port = random.randint(20_000, 40_000)
        if _port_free(port) and _port_free(port + 1):
            return port
    raise RuntimeError("no free port pair on 127.0.0.1")


def free_ports(count: int) -> list[int]:
    """Distinct ports the OS considers free right now."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for probe in sockets:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in sockets]
    finally:
        for probe in sockets:
            probe.close()


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    existing = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if existing:
        yield existing
        return
    if docker_engine_answers():
        from testcontainers.community.kafka import KafkaContainer

        with KafkaContainer(KAFKA_IMAGE).with_kraft() as container:
            os.environ["KAFKA_BOOTSTRAP_SERVERS"] = container.get_bootstrap_server()
            try:
                yield os.environ["KAFKA_BOOTSTRAP_SERVERS"]
            finally:
                os.environ.pop("KAFKA_BOOTSTRAP_SERVERS", None)
        return
    port = free_port_pair()
    data = tmp_path_factory.mktemp("kafka")
    env = {
        **os.environ,
        "KAFKA_PORT": str(port),
        "KAFKA_DATA_DIR": str(data / "data"),
        "KAFKA_LOG": str(data / "kafka.log"),
    }
    subprocess.run([str(KAFKA_SCRIPT), "start"], env=env, check=True, timeout=180)
    bootstrap = f"127.0.0.1:{port}"
    os.environ["KAFKA_BOOTSTRAP_SERVERS"] = (
        bootstrap  # every later fixture and child process uses this broker
    )
    try:
        yield bootstrap
    finally:
        subprocess.run([str(KAFKA_SCRIPT), "stop"], env=env, check=False, timeout=60)
        os.environ.pop("KAFKA_BOOTSTRAP_SERVERS", None)


async def records_with_key(
    bootstrap: str, topic: str, key: bytes, at_least: int = 0, timeout: float = 30.0
) -> list[ConsumerRecord]:
    """Every record of `topic` (read to its current end) whose key is `key`, waiting up to `timeout`
    seconds for `at_least` of them: a transaction's commit returns before its markers are written, so
    what a read_committed reader sees can trail a reply by a moment."""
    async with asyncio.timeout(timeout):
        while True:
            found = await _records_with_key(bootstrap, topic, key)
            if len(found) >= at_least:
                return found
            await asyncio.sleep(0.1)


async def _records_with_key(bootstrap: str, topic: str, key: bytes) -> list[ConsumerRecord]:
    consumer = kafka.reader(bootstrap)
    await consumer.start()
    try:
        partitions = await kafka.partitions_of(consumer, [topic])
        return [
            record
            async for records in kafka.read_to_end(consumer, dict.fromkeys(partitions, 0))
            for record in records
            if record.key == key
        ]
    finally:
        await consumer.stop()
