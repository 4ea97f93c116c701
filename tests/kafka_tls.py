"""Certificates for a broker that speaks TLS and knows its clients by certificate, as Strimzi's tls
listener with tls authentication does: a CA, the broker's key and certificate (for 127.0.0.1), and one
identity per process, CN=<name>, which the broker calls User:CN=<name> (Strimzi's KafkaUser principal).
Made with the openssl command line, unencrypted PKCS#8 keys, valid for a day. And the ACLs of
services/common/kafka_access.py on such a broker."""

import subprocess
import time
from pathlib import Path

from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)

from services.common.kafka_access import Access, rules


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


def _key(path: Path) -> None:
    _openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(path))


def _signed(directory: Path, name: str, subject: str, extensions: str) -> None:
    key, request, certificate = (directory / f"{name}.{kind}" for kind in ("key", "csr", "crt"))
    _key(key)
    _openssl("req", "-new", "-key", str(key), "-subj", subject, "-out", str(request))
    config = directory / f"{name}.ext"
    config.write_text(extensions)
    ca, ca_key = directory / "ca.crt", directory / "ca.key"
    _openssl(
        "x509", "-req", "-in", str(request), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial",
        "-days", "1", "-out", str(certificate), "-extfile", str(config),
    )  # fmt: skip


def make_identities(directory: Path, names: list[str]) -> Path:
    """The CA, the broker's broker.pem (key, then certificate) and <name>.key/<name>.crt for each name."""
    directory.mkdir(parents=True, exist_ok=True)
    _key(directory / "ca.key")
    _openssl(
        "req", "-x509", "-new", "-key", str(directory / "ca.key"), "-subj", "/CN=cc-test-ca", "-days", "1",
        "-out", str(directory / "ca.crt"),
    )  # fmt: skip
    _signed(directory, "broker", "/CN=127.0.0.1", "subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    (directory / "broker.pem").write_text(
        (directory / "broker.key").read_text() + (directory / "broker.crt").read_text()
    )
    for name in names:
        _signed(directory, name, f"/CN={name}", "extendedKeyUsage=clientAuth\n")
    return directory


def grant(bootstrap: str, access: dict[str, Access]) -> None:
    """The table's ACLs on the broker, for User:CN=<process>, through its plain listener (a super user)."""
    # A right two rules give (Describe, with Read and with Write) is one binding.
    bindings = {
        AclBinding(
            _RESOURCES[rule.resource],
            rule.name,
            ResourcePatternType.PREFIXED if rule.prefix else ResourcePatternType.LITERAL,
            f"User:CN={name}",
            "*",
            _OPERATIONS[operation],
            AclPermissionType.ALLOW,
        )
        for name, rights in access.items()
        for rule in rules(rights)
        for operation in rule.operations
    }
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_acls(list(bindings), request_timeout=30).values():
        future.result()
    # Created is not yet in force: the broker applies them from the metadata log a moment later, and a
    # process started before then is refused (seen: every process denied the topics' metadata).
    everything = AclBindingFilter(
        ResourceType.ANY, None, ResourcePatternType.ANY, None, None, AclOperation.ANY, AclPermissionType.ANY
    )
    deadline = time.monotonic() + 30
    while len(admin.describe_acls(everything).result()) < len(bindings):
        if time.monotonic() > deadline:
            raise TimeoutError("the broker did not apply the ACLs within 30 s")
        time.sleep(0.2)


_RESOURCES = {
    "topic": ResourceType.TOPIC,
    "group": ResourceType.GROUP,
    "transactionalId": ResourceType.TRANSACTIONAL_ID,
    "cluster": ResourceType.BROKER,
}
_OPERATIONS = {
    "Read": AclOperation.READ,
    "Write": AclOperation.WRITE,
    "Describe": AclOperation.DESCRIBE,
    "DescribeConfigs": AclOperation.DESCRIBE_CONFIGS,
    "Create": AclOperation.CREATE,
    "IdempotentWrite": AclOperation.IDEMPOTENT_WRITE,
}
