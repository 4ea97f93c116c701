"""Start the whole platform as real processes for a test session, on ports of its own."""

import asyncio
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient

from services.common.kafka_access import ACCESS
from services.common.settings import PlatformSettings
from services.common.topics import ensure_topics
from services.platform import Platform
from tests.conftest import free_port_pair, free_ports
from tests.kafka_tls import grant

API_KEYS = {
    "e2e-rest": "tenant-rest",
    "e2e-grpc": "tenant-grpc",
    "e2e-errors": "tenant-errors",
    # The gRPC fuzz's own tenant: its refusals (a request_id such as "1" with an unknown role) would
    # otherwise be the first outcome of the REST contract test's Idempotency-Key "1" in tenant-errors.
    "e2e-grpc-fuzz": "tenant-grpc-fuzz",
    "e2e-metrics": "tenant-metrics",
    "e2e-restart": "tenant-restart",
    "e2e-candidates": "tenant-candidates",
    "e2e-owner": "tenant-owner",
    "e2e-intruder": "tenant-intruder",
    "e2e-timers": "tenant-timers",
    "e2e-roles-admin": "tenant-roles",
    "e2e-roles-analyst": "tenant-roles:analyst",
    "e2e-roles-kim": "tenant-roles:agent:kim",
    "e2e-roles-lee": "tenant-roles:agent:lee",
    "e2e-keys-admin": "tenant-keys",
    "e2e-keys-other": "tenant-keys-other",
    "e2e-queues": "tenant-queues",
    "e2e-queues-supervisor": "tenant-queues:supervisor",
    "e2e-queues-sam": "tenant-queues:agent:sam",
    "e2e-priority": "tenant-priority",
    "e2e-chat": "tenant-chat",
    "e2e-chat-cho": "tenant-chat:agent:cho",
    "e2e-profiles": "tenant-profiles",
    "e2e-profiles-dan": "tenant-profiles:agent:dan",
    "e2e-presence": "tenant-presence",
    "e2e-presence-pat": "tenant-presence:agent:pat",
    "e2e-lines": "tenant-lines",
    "e2e-lines-ann": "tenant-lines:agent:ann",
    "e2e-callers": "tenant-callers:supervisor",
    "e2e-callers-ann": "tenant-callers:agent:ann",
    "e2e-callers-adapter": "tenant-callers:integration",
    "e2e-control": "tenant-control",
    "e2e-control-kim": "tenant-control:agent:kim",
    "e2e-control-lee": "tenant-control:agent:lee",
    "e2e-transfer": "tenant-transfer",
    "e2e-tickets": "tenant-tickets:supervisor",
    "e2e-tickets-kim": "tenant-tickets:agent:kim",
    "e2e-tickets-admin": "tenant-tickets",
    "e2e-templates": "tenant-templates:supervisor",
    "e2e-templates-kim": "tenant-templates:agent:kim",
    "e2e-templates-admin": "tenant-templates",
    "e2e-customers": "tenant-customers:supervisor",
    "e2e-customers-lee": "tenant-customers:agent:lee",
    "e2e-customers-adapter": "tenant-customers:integration",
    "e2e-customers-admin": "tenant-customers",
    "e2e-transfer-kim": "tenant-transfer:agent:kim",
    "e2e-transfer-lee": "tenant-transfer:agent:lee",
    "e2e-callback": "tenant-callback",
    "e2e-callback-kim": "tenant-callback:agent:kim",
    "e2e-pci": "tenant-pci",
    "e2e-exports-analyst": "tenant-exports:analyst",
    "e2e-exports-supervisor": "tenant-exports:supervisor",
    "e2e-exports-kim": "tenant-exports:agent:kim",
    "e2e-pci-kim": "tenant-pci:agent:kim",
    "e2e-consult": "tenant-consult",
    "e2e-consult-kim": "tenant-consult:agent:kim",
    "e2e-consult-agents": "tenant-consult-agents",
    "e2e-consult-ann": "tenant-consult-agents:agent:ann",
    "e2e-consult-sue": "tenant-consult-agents:agent:sue",
    "e2e-outbound": "tenant-outbound",
    "e2e-outbound-kim": "tenant-outbound:agent:kim",
    "e2e-outbound-adapter": "tenant-outbound:integration",
    "e2e-campaigns": "tenant-campaigns:supervisor",
    "e2e-campaigns-admin": "tenant-campaigns",
    "e2e-campaigns-kim": "tenant-campaigns:agent:kim",
    "e2e-campaigns-adapter": "tenant-campaigns:integration",
    "e2e-twilio": "tenant-twilio:integration",  # the Twilio adapter's key
    "e2e-twilio-admin": "tenant-twilio",
    "e2e-console": "tenant-console",
    "e2e-console-supervisor": "tenant-console:supervisor",
    "e2e-console-kim": "tenant-console:agent:console-kim",
    "e2e-console-chart": "tenant-console-chart",  # a tenant of its own: no other test's calls in its chart
    "e2e-console-chart-supervisor": "tenant-console-chart:supervisor",
    "e2e-console-analytics": "tenant-console-analytics",  # its own: the statistics count only its call
    "e2e-console-analyst": "tenant-console-analytics:analyst",
    "e2e-console-floor": "tenant-console-floor",  # its own: the floor test counts its queue's waiting calls
    "e2e-console-floor-supervisor": "tenant-console-floor:supervisor",
    "e2e-console-floor-lee": "tenant-console-floor:agent:console-lee",
    "e2e-traces": "tenant-traces",  # its own: its call's trace is the only one of the tenant
}
# The Twilio account of tenant-twilio (tests/e2e/test_twilio.py): webhooks are signed with its token.
TWILIO_ACCOUNT_SID, TWILIO_TOKEN = "AC" + "e2e0" * 8, "e2e-twilio-token"
# The settings of every port the platform listens on.
PORTS = ("TELEPHONY_PORT", "ROUTING_PORT", "TICKETING_PORT", "ANALYTICS_PORT", "KEYS_PORT", "GATEWAY_PORT")


# Long enough that the console's desk, which beats every third of it, is never judged gone while a loaded
# machine stalls its browser for seconds; short enough for the presence tests to wait it out.
PRESENCE_TIMEOUT_SECONDS = 10


def _ports(avoid: frozenset[int] = frozenset()) -> dict[str, str]:
    """A free port for each service, none of them in `avoid`."""
    while True:
        ports = free_ports(len(PORTS))
        if not avoid & set(ports):
            return dict(zip(PORTS, (str(port) for port in ports), strict=True))


@contextmanager
def running_platform(bootstrap: str, state_dir: Path, **settings: str) -> Iterator[Platform]:
    ports = _ports()
    twilio_api = free_ports(1)[0]  # where the test stands in for Twilio's REST API
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "CC_API_KEYS": ",".join(f"{k}:{t}" for k, t in API_KEYS.items()),
        "CLICKHOUSE_DSN": f"chdb://{state_dir / 'analytics'}",
        **ports,
        "CC_TWILIO_ACCOUNTS": f"{TWILIO_ACCOUNT_SID}:tenant-twilio:{TWILIO_TOKEN}:e2e-twilio",
        "CC_TWILIO_PUBLIC_URL": f"http://127.0.0.1:{ports['GATEWAY_PORT']}",
        "CC_TWILIO_API_URL": f"http://127.0.0.1:{twilio_api}",
        "CC_RING_TIMEOUT_SECONDS": "3",
        "CC_PRESENCE_TIMEOUT_SECONDS": str(PRESENCE_TIMEOUT_SECONDS),
        "CC_WRAP_UP_SECONDS": "1",
        "CC_CALLBACK_RETRY_SECONDS": "2",
        **settings,
    }
    tls = os.environ.get("CC_TEST_KAFKA_TLS")
    if tls:
        # The session's broker: each process with its own certificate, held to the ACLs a cluster gives
        # its KafkaUser; the topics made beforehand, as the topic operator makes them from the KafkaTopics.
        identities = os.environ["CC_TEST_KAFKA_IDENTITIES"]
        asyncio.run(ensure_topics(bootstrap, PlatformSettings().cc_partitions))
        grant(bootstrap, ACCESS)
        env |= {
            "KAFKA_BOOTSTRAP_SERVERS": tls,
            "KAFKA_SECURITY_PROTOCOL": "SSL",
            "KAFKA_SSL_CA_FILE": f"{identities}/ca.crt",
            "CC_KAFKA_IDENTITIES": identities,
        }
    platform = Platform(env=env, state_dir=state_dir)
    try:
        platform.up(timeout=180)
        yield platform
    finally:
        platform.down()


def fresh_platform(name: str, services: tuple[str, ...] | None = None, **settings: str) -> Platform:
    """`Platform.fresh` on ports of its own: its own broker on a free port pair (the controller listens on
    port + 1), every gRPC service and the gateway on free ports, so it meets neither `make up`, the test
    session's broker, nor another run on the same machine (benchmarks, tests that stop the broker)."""
    broker = free_port_pair()
    base = Platform.fresh(
        name,
        services,
        KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{broker}",
        **_ports(frozenset({broker, broker + 1})),
        **settings,
    )
    return Platform(env=base.env, state_dir=base.state_dir, services=base.services, own_broker=True)


async def active_groups(bootstrap: str) -> set[str]:
    """The consumer groups that have members now (a group left by stopped processes is "Empty"). Asked
    one group at a time: the broker closes the connection on aiokafka's request for many at once."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        active = set()
        for name, _ in await admin.list_consumer_groups():
            for response in await admin.describe_consumer_groups([name]):
                active |= {group[1] for group in response.groups if group[2] not in ("Empty", "Dead")}
        return active
    finally:
        await admin.close()
