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
from services.platform import SERVICES
from tests.kafka_tls import make_identities

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
    """Nothing listens on it and no connection uses it as its local port: a bind would succeed."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _ephemeral_start() -> int:
    """Where the OS starts picking the local ports of outgoing connections (Linux: 32768)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def free_port_pair() -> int:
    """A port whose successor is free too (the broker's controller listens on port + 1), below the
    ephemeral range: a port in it can be taken by any outgoing connection between the check and the
    broker's bind (seen as "Address already in use" on a busy test run)."""
    for _ in range(200):
        port = random.randint(15_000, _ephemeral_start() - 2)
        if _port_free(port) and _port_free(port + 1):
            return port
    raise RuntimeError("no free port pair on 127.0.0.1")


def free_ports(count: int) -> list[int]:
    """Distinct free ports below the ephemeral range (see free_port_pair) for services to listen on."""
    ports: set[int] = set()
    for _ in range(200 * count):
        port = random.randint(15_000, _ephemeral_start() - 2)
        if _port_free(port):
            ports.add(port)
        if len(ports) == count:
            return sorted(ports)
    raise RuntimeError("no free ports on 127.0.0.1")


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
    identities = make_identities(data / "tls", [name for name, _, _ in SERVICES])
    tls_port = free_ports(1)[0]
    env = {
        **os.environ,
        "KAFKA_PORT": str(port),
        "KAFKA_DATA_DIR": str(data / "data"),
        "KAFKA_LOG": str(data / "kafka.log"),
        "KAFKA_TLS_DIR": str(identities),
        "KAFKA_TLS_PORT": str(tls_port),
        "KAFKA_ACL_AUDIT": "1" if os.environ.get("CC_TEST_KAFKA_ACLS") == "audit" else "",
    }
    subprocess.run([str(KAFKA_SCRIPT), "start"], env=env, check=True, timeout=180)
    bootstrap = f"127.0.0.1:{port}"
    # The platform's processes speak TLS, each with its own certificate, and the broker holds them to
    # their ACLs (tests/e2e/platform.py); the tests' own clients stay on the plain listener.
    os.environ["CC_TEST_KAFKA_TLS"] = f"127.0.0.1:{tls_port}"
    os.environ["CC_TEST_KAFKA_IDENTITIES"] = str(identities)
    os.environ["KAFKA_BOOTSTRAP_SERVERS"] = (
        bootstrap  # every later fixture and child process uses this broker
    )
    try:
        yield bootstrap
    finally:
        subprocess.run([str(KAFKA_SCRIPT), "stop"], env=env, check=False, timeout=60)
        for name in ("KAFKA_BOOTSTRAP_SERVERS", "CC_TEST_KAFKA_TLS", "CC_TEST_KAFKA_IDENTITIES"):
            os.environ.pop(name, None)


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
