"""Platform settings, read once from the environment (12-factor) by every composition root."""

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SecretsSettingsSource,
    SettingsConfigDict,
)

from services.common.access import Credential, parse_api_keys

REPO_ROOT = Path(__file__).resolve().parents[2]
# Room an event's envelope (ids, tenant, times, actor, correlation) takes besides its request's content.
ENVELOPE_HEADROOM_BYTES = 64 * 1024


class PlatformSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", populate_by_name=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Secrets (API keys, Kafka passwords) may come as files, one per setting, in CC_SECRETS_DIR: on
        Kubernetes a Secret mounted as a volume, never seen in the process's environment (which leaks
        into crash reports and `/proc/<pid>/environ`). The environment still wins where both say."""
        secrets_dir = os.environ.get("CC_SECRETS_DIR")
        if not secrets_dir:
            return init_settings, env_settings
        return init_settings, env_settings, SecretsSettingsSource(settings_cls, secrets_dir=secrets_dir)

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    # How the process speaks to Kafka: PLAINTEXT (the local broker), or SSL with a client certificate
    # (a cluster: Strimzi's tls listener, the process's KafkaUser; services/common/kafka_security.py).
    kafka_security_protocol: Literal["PLAINTEXT", "SSL"] = "PLAINTEXT"
    kafka_ssl_ca_file: str = ""  # the cluster CA that signed the brokers' certificates
    kafka_ssl_cert_file: str = ""  # this process's certificate (its KafkaUser's user.crt)...
    kafka_ssl_key_file: str = ""  # ...and key (user.key), PEM
    # Partitions of every commands/events topic; a topic pair must share it so a key lands on the same index.
    cc_partitions: int = 6
    # Replication of the topics the platform creates: 1 for the local single broker, 3 on a real cluster.
    cc_replication_factor: int = 1
    # Development API keys: "key:tenant[:role[:agent_id]]", comma-separated; the role is admin when none
    # is given (services/common/access.py). The tenant comes from the credential only (ORG-1). Keys of
    # named users are issued over the API (/v1/api-keys) and kept hashed (services/common/keys.py).
    cc_api_keys: str = "dev-key-acme:acme,dev-key-globex:globex"
    clickhouse_dsn: str = f"chdb://{REPO_ROOT / '.local' / 'analytics'}"
    # The ClickHouse cluster analytics' tables span (its name in the servers' remote_servers), with
    # CLICKHOUSE_DSN=http://... naming one of its servers: replicated tables on each shard and a
    # Distributed table over them (services/analytics/schema.py, `clustered`). Empty: one server, or chDB.
    clickhouse_cluster: str = ""
    cc_instance_id: str = Field(default="", description="Unique per process; generated when empty.")

    telephony_port: int = 50051
    routing_port: int = 50052
    ticketing_port: int = 50053
    analytics_port: int = 50054
    # The gateway's key service (API keys of named users and integrations).
    keys_port: int = 50055
    gateway_port: int = 8080
    # How long the gateway keeps an idle HTTP connection open (see services/gateway/__main__.py).
    cc_http_keep_alive_seconds: int = 120
    grpc_host: str = "127.0.0.1"
    # Where the services and the gateway listen; empty: grpc_host. In a pod, 0.0.0.0: probes and the
    # other pods reach it at the pod's address.
    cc_listen_host: str = ""
    # Where the gateway reaches each service; empty: grpc_host. In a cluster, each service's own name.
    telephony_host: str = ""
    routing_host: str = ""
    ticketing_host: str = ""
    analytics_host: str = ""
    keys_host: str = ""

    # How long an agent's phone rings before RONA (RT-1), and how long wrap-up lasts.
    cc_ring_timeout_seconds: int = 15
    # The least priority a VIP customer's call waits with (RT-4, 0 to 10; higher is served first).
    cc_vip_priority: int = Field(default=5, ge=0, le=10)
    # An agent whose desktop has sent heartbeats and then sends none for this long, while ready or
    # wrapping up, goes not ready (lost-presence, RT-9).
    cc_presence_timeout_seconds: float = 30.0
    cc_wrap_up_seconds: int = 10
    # A callback's outbound leg is tried this many times in all, this long apart (TEL-5).
    cc_callback_attempts: int = Field(default=3, ge=1, le=10)
    cc_callback_retry_seconds: int = Field(default=60, ge=0, le=86_400)
    # An outbound call (TEL-8) the carrier has not reported within this long ends unanswered, so its
    # agent is not held on it.
    cc_dial_timeout_seconds: int = Field(default=60, ge=1, le=600)
    # Calls are recorded in segments from offer to end, paused around masked entries (TEL-7).
    cc_record_calls: bool = True
    # The Twilio adapter (TEL-10, services/gateway/twilio): `AccountSid:tenant:auth_token:api_key`,
    # comma-separated. The AccountSid of a webhook picks the tenant and the token its signature is checked
    # with; the adapter acts on the services with the api_key, an integration key of that tenant.
    cc_twilio_accounts: str = ""
    # The https base Twilio reaches the gateway at (behind a proxy the gateway cannot see it): signatures
    # are checked against it, and the dialer points live calls at it. Required with CC_TWILIO_ACCOUNTS.
    cc_twilio_public_url: str = ""
    # Twilio's REST API base; empty for the library's own. Tests point it at a loopback recorder.
    cc_twilio_api_url: str = ""
    # The language Twilio's <Say> speaks the flows' prompts in.
    cc_twilio_language: str = "ko-KR"
    # How long an RPC waits for its command's outcome before answering UNAVAILABLE.
    cc_command_timeout_seconds: float = 10.0

    # The commands of one partition decided together and committed in one Kafka transaction: at most
    # this many, this many bytes of commands, waiting at most this long for more once a batch has begun.
    # A transaction costs the broker several ms of CPU whatever it holds (see bench/commands.py).
    cc_command_batch_max_commands: int = 500
    cc_command_batch_max_bytes: int = 1024 * 1024
    cc_command_batch_linger_ms: float = 0.0
    # How long the services' producer (commands, replies, dead letters) waits to fill a request. 2 ms took
    # OfferCall from 253 to 305/s with 64 in flight but one at a time from 11.4 to 17.1 ms p50.
    cc_producer_linger_ms: int = 0
    # The largest event a command may append: under the broker's 1 MiB record limit with room for headers.
    cc_max_event_bytes: int = 900 * 1024
    # The largest request a gRPC service or the REST gateway reads (bodies above it: RESOURCE_EXHAUSTED,
    # HTTP 413). The contracts' field limits keep every real request far below it (README, Limits).
    cc_max_request_bytes: int = 256 * 1024
    # Snapshot the aggregates a partition changed after this many new events, so a new owner replays
    # only the events after the last snapshot.
    cc_snapshot_every_events: int = 2000
    # Command outcomes (refusals too) are answered again for a repeated command_id within this window.
    cc_outcome_window_hours: float = 24.0
    # Outcomes held in memory per owned partition; older ones within the window are read back from the
    # outcomes topic when a command repeats.
    cc_outcomes_in_memory: int = 20_000
    # The most commands remembered per aggregate within the window (the oldest are forgotten first).
    cc_outcomes_per_aggregate: int = 10_000

    @model_validator(mode="after")
    def _requests_fit_events(self) -> "PlatformSettings":
        """An event carries at most what its request carried plus its envelope, so a request the edge
        accepts can never make an event too large for a Kafka record."""
        if self.cc_max_request_bytes + ENVELOPE_HEADROOM_BYTES > self.cc_max_event_bytes:
            raise ValueError(
                f"CC_MAX_REQUEST_BYTES ({self.cc_max_request_bytes}) must stay {ENVELOPE_HEADROOM_BYTES} "
                f"bytes under CC_MAX_EVENT_BYTES ({self.cc_max_event_bytes})"
            )
        if self.cc_twilio_accounts and not self.cc_twilio_public_url.startswith(("https://", "http://")):
            raise ValueError("CC_TWILIO_ACCOUNTS needs CC_TWILIO_PUBLIC_URL, the base Twilio reaches us at")
        return self

    @property
    def outcome_window_ms(self) -> int:
        return int(self.cc_outcome_window_hours * 3600 * 1000)

    def credentials(self) -> dict[str, Credential]:
        return parse_api_keys(self.cc_api_keys)

    def address(self, port: int) -> str:
        return f"{self.grpc_host}:{port}"

    @property
    def listen_host(self) -> str:
        return self.cc_listen_host or self.grpc_host

    def listen_address(self, port: int) -> str:
        return f"{self.listen_host}:{port}"

    def service_address(self, service: str) -> str:
        """Where a service answers: `telephony`, `routing`, `ticketing`, `analytics` or `keys`."""
        host = getattr(self, f"{service}_host") or self.grpc_host
        return f"{host}:{getattr(self, f'{service}_port')}"


@lru_cache
def get_settings() -> PlatformSettings:
    return PlatformSettings()
