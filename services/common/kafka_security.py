"""How every Kafka client of the process proves who it is: nothing on the local broker (PLAINTEXT), a
client certificate over TLS on a cluster (KAFKA_SECURITY_PROTOCOL=SSL; on Kubernetes the process's
KafkaUser, whose ACLs let it write only its own topics and read only what it consumes: deploy/k8s).

One process, one identity: each kind of client (aiokafka, librdkafka, and Faust through `ssl_context`)
takes the same settings in its own form from here, so that no client is left speaking plain Kafka."""

import ssl
from functools import cache
from typing import Any

from aiokafka.helpers import create_ssl_context

from services.common.settings import PlatformSettings, get_settings


def _tls(settings: PlatformSettings) -> bool:
    if settings.kafka_security_protocol != "SSL":
        return False
    missing = [
        name
        for name in ("kafka_ssl_ca_file", "kafka_ssl_cert_file", "kafka_ssl_key_file")
        if not getattr(settings, name)
    ]
    if missing:
        raise ValueError(f"KAFKA_SECURITY_PROTOCOL=SSL needs {', '.join(name.upper() for name in missing)}")
    return True


@cache
def ssl_context() -> ssl.SSLContext | None:
    """The process's TLS context (the CA, its certificate and key), made once; None on plain Kafka."""
    settings = get_settings()
    if not _tls(settings):
        return None
    return create_ssl_context(
        cafile=settings.kafka_ssl_ca_file,
        certfile=settings.kafka_ssl_cert_file,
        keyfile=settings.kafka_ssl_key_file,
    )


def aiokafka() -> dict[str, Any]:
    """Keyword arguments for AIOKafkaProducer, AIOKafkaConsumer and AIOKafkaAdminClient."""
    context = ssl_context()
    return {} if context is None else {"security_protocol": "SSL", "ssl_context": context}


def librdkafka() -> dict[str, Any]:
    """Configuration for confluent-kafka's Producer and Consumer."""
    settings = get_settings()
    if not _tls(settings):
        return {}
    return {
        "security.protocol": "ssl",
        "ssl.ca.location": settings.kafka_ssl_ca_file,
        "ssl.certificate.location": settings.kafka_ssl_cert_file,
        "ssl.key.location": settings.kafka_ssl_key_file,
    }
