"""Run the whole platform on this machine: the local Kafka broker and every service as a background
process, logs under .local/logs, pids under .local/run. Used by `make up` / `make down`, the demo and
the end-to-end tests.

    python -m services.platform up|down|status
"""

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common.settings import REPO_ROOT, PlatformSettings

KAFKA_SCRIPT = REPO_ROOT / "deploy" / "local" / "kafka.sh"
# Logged by services/routing/stream/agents.py once the worker's boards are rebuilt after an assignment.
ROUTING_STREAM_READY = b"boards rebuilt from the table"
# (name, module, settings attribute of its gRPC port or None)
SERVICES: tuple[tuple[str, str, str | None], ...] = (
    ("telephony", "services.telephony", "telephony_port"),
    ("routing", "services.routing", "routing_port"),
    ("routing-stream", "services.routing.stream", None),
    ("ticketing", "services.ticketing", "ticketing_port"),
    ("analytics", "services.analytics", "analytics_port"),
    ("keys", "services.gateway.keys", "keys_port"),
    ("gateway", "services.gateway", None),
)


@dataclass
class Platform:
    """One running platform: where it logs, which ports it uses, whether it owns a local broker."""

    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    state_dir: Path = REPO_ROOT / ".local"
    # Children this object started: polled, so one that died is seen as dead rather than as a live zombie.
    children: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    # Where each service's log stood when it was started: readiness is read from there on, not from old runs.
    log_starts: dict[str, int] = field(default_factory=dict)
    # The services this platform runs (all by default; a benchmark may run only some).
    services: tuple[str, ...] = tuple(name for name, _, _ in SERVICES)
    # Start a local broker on the port KAFKA_BOOTSTRAP_SERVERS names, rather than use that cluster.
    own_broker: bool = False

    @staticmethod
    def fresh(name: str, services: tuple[str, ...] | None = None, **settings: str) -> "Platform":
        """A platform on empty data of its own under .local/<name> (broker log, chDB, service logs)."""
        state = REPO_ROOT / ".local" / name
        shutil.rmtree(state, ignore_errors=True)
        env = {
            **os.environ,
            "KAFKA_DATA_DIR": str(state / "kafka"),
            "CLICKHOUSE_DSN": f"chdb://{state / 'analytics'}",
            **settings,
        }
        platform = Platform(env=env, state_dir=state)
        if services is not None:
            platform.services = services
        return platform

    @property
    def settings(self) -> PlatformSettings:
        fields = {k.lower(): v for k, v in self.env.items() if k.lower() in PlatformSettings.model_fields}
        return PlatformSettings.model_validate(fields)

    @property
    def logs(self) -> Path:
        return self.state_dir / "logs"

    @property
    def pids(self) -> Path:
        return self.state_dir / "run"

    @property
    def owns_broker(self) -> bool:
        """Without KAFKA_BOOTSTRAP_SERVERS the platform runs its own local broker; with it, that cluster
        (unless told to run its own broker there)."""
        return self.own_broker or "KAFKA_BOOTSTRAP_SERVERS" not in self.env

    def kafka(self, action: str) -> None:
        port = self.settings.kafka_bootstrap_servers.rsplit(":", 1)[1]
        env = {**self.env, "KAFKA_PORT": port, "KAFKA_LOG": str(self.logs / "kafka.log")}
        subprocess.run([str(KAFKA_SCRIPT), action], env=env, check=True)

    def start_service(self, name: str, module: str) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        self.pids.mkdir(parents=True, exist_ok=True)
        path = self.logs / f"{name}.log"
        self.log_starts[name] = path.stat().st_size if path.exists() else 0
        log = path.open("ab")
        process = subprocess.Popen(
            [sys.executable, "-m", module],
            cwd=REPO_ROOT,
            env={**self.env, **self.identity(name)},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        (self.pids / f"{name}.pid").write_text(str(process.pid))
        self.children[name] = process

    def identity(self, name: str) -> dict[str, str]:
        """Each process its own Kafka identity, as each has its KafkaUser on a cluster: with
        CC_KAFKA_IDENTITIES naming a directory of <name>.crt and <name>.key, the process's pair."""
        directory = self.env.get("CC_KAFKA_IDENTITIES")
        if not directory:
            return {}
        return {
            "KAFKA_SSL_CERT_FILE": str(Path(directory) / f"{name}.crt"),
            "KAFKA_SSL_KEY_FILE": str(Path(directory) / f"{name}.key"),
        }

    def _selected(self) -> list[tuple[str, str, str | None]]:
        return [service for service in SERVICES if service[0] in self.services]

    def names(self) -> list[str]:
        """The processes of this platform: the broker when it runs its own, then its services."""
        return [*(["kafka"] if self.owns_broker else []), *self.services]

    def up(self, timeout: float = 120.0) -> None:
        if self.owns_broker:
            self.kafka("start")
        for name, module, _ in self._selected():
            self.start_service(name, module)
        asyncio.run(self.wait_ready(timeout))

    async def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        settings = self.settings
        for name, _, port_field in self._selected():
            while True:
                if await self._ready(name, port_field, settings):
                    print(f"  {name:15} ready", flush=True)
                    break
                if not self.running(name):
                    raise RuntimeError(f"{name} exited; see {self.logs / (name + '.log')}")
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"{name} not ready after {timeout}s; see {self.logs / (name + '.log')}"
                    )
                await asyncio.sleep(0.5)

    async def _ready(self, name: str, port_field: str | None, settings: PlatformSettings) -> bool:
        if port_field is not None:
            async with grpc.aio.insecure_channel(settings.address(getattr(settings, port_field))) as channel:
                try:
                    response = await health_pb2_grpc.HealthStub(channel).Check(
                        health_pb2.HealthCheckRequest(), timeout=1
                    )
                except grpc.aio.AioRpcError:
                    return False
                return bool(response.status == health_pb2.HealthCheckResponse.SERVING)
        if name == "gateway":
            try:
                async with httpx.AsyncClient() as client:
                    response = await client.get(f"http://{settings.grpc_host}:{settings.gateway_port}/readyz")
                return response.status_code == 200
            except httpx.HTTPError:
                return False
        # The stream worker has no endpoint. It is ready once its partitions are assigned and its boards
        # rebuilt from the recovered table (Faust's own "Worker: Ready" comes before either).
        with (self.logs / f"{name}.log").open("rb") as log:
            log.seek(self.log_starts.get(name, 0))
            return ROUTING_STREAM_READY in log.read()

    def pid(self, name: str) -> int | None:
        path = self.pids / f"{name}.pid"
        if name == "kafka":  # written by deploy/local/kafka.sh beside the broker's data
            port = self.settings.kafka_bootstrap_servers.rsplit(":", 1)[1]
            home = self.env.get("KAFKA_HOME", str(REPO_ROOT / ".local" / "kafka"))
            data = self.env.get("KAFKA_DATA_DIR", f"{home}/data-{port}")
            path = Path(data) / "broker.pid"
        return int(path.read_text()) if path.exists() else None

    def running(self, name: str) -> bool:
        if name in self.children:
            return self.children[name].poll() is None
        pid = self.pid(name)
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True

    def stop_service(self, name: str, sig: int = signal.SIGTERM, grace: float = 10.0) -> None:
        pid = self.pid(name)
        if pid is not None and self.running(name):
            os.killpg(pid, sig)
            deadline = time.monotonic() + grace
            while self.running(name) and time.monotonic() < deadline:
                time.sleep(0.1)
            if self.running(name):
                os.killpg(pid, signal.SIGKILL)
        (self.pids / f"{name}.pid").unlink(missing_ok=True)
        self.children.pop(name, None)

    def down(self) -> None:
        for name, _, _ in reversed(self._selected()):
            self.stop_service(name)
        if self.owns_broker:
            self.kafka("stop")


def main(argv: list[str]) -> int:
    platform = Platform()
    command = argv[1] if len(argv) > 1 else ""
    if command == "up":
        print("starting Kafka and the services...", flush=True)
        platform.up()
        print(
            f"platform up: REST on http://127.0.0.1:{platform.settings.gateway_port}, logs in {platform.logs}"
        )
    elif command == "down":
        platform.down()
        print("platform down")
    elif command == "status":
        for name, _, _ in SERVICES:
            print(f"{name:15} {'running' if platform.running(name) else 'stopped'}")
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
