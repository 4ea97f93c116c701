"""Start the whole platform as real processes for a test session, on ports of its own."""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from services.platform import Platform
from tests.conftest import free_ports

API_KEYS = {
    "e2e-rest": "tenant-rest",
    "e2e-grpc": "tenant-grpc",
    "e2e-errors": "tenant-errors",
    "e2e-metrics": "tenant-metrics",
    "e2e-restart": "tenant-restart",
    "e2e-candidates": "tenant-candidates",
}


@contextmanager
def running_platform(bootstrap: str, state_dir: Path) -> Iterator[Platform]:
    telephony, routing, ticketing, analytics, gateway = free_ports(5)
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "CC_API_KEYS": ",".join(f"{k}:{t}" for k, t in API_KEYS.items()),
        "CLICKHOUSE_DSN": f"chdb://{state_dir / 'analytics'}",
        "TELEPHONY_PORT": str(telephony),
        "ROUTING_PORT": str(routing),
        "TICKETING_PORT": str(ticketing),
        "ANALYTICS_PORT": str(analytics),
        "GATEWAY_PORT": str(gateway),
        "CC_RING_TIMEOUT_SECONDS": "3",
        "CC_WRAP_UP_SECONDS": "1",
    }
    platform = Platform(env=env, state_dir=state_dir)
    try:
        platform.up(timeout=180)
        yield platform
    finally:
        platform.down()
