"""Where the services listen and where the gateway reaches them: the loopback of one machine by
default, each service's own host in a cluster (deploy/k8s sets them)."""

import pytest

from services.common.settings import PlatformSettings


def test_one_machine_uses_grpc_host_for_everything() -> None:
    settings = PlatformSettings()
    assert settings.listen_address(50051) == "127.0.0.1:50051"
    assert settings.service_address("telephony") == "127.0.0.1:50051"
    assert settings.service_address("keys") == "127.0.0.1:50055"


def test_a_cluster_listens_everywhere_and_names_each_service(monkeypatch: pytest.MonkeyPatch) -> None:
    # As deploy/k8s's ConfigMap sets them, in the environment.
    for name, value in {
        "CC_LISTEN_HOST": "0.0.0.0",
        "TELEPHONY_HOST": "cc-telephony",
        "ANALYTICS_HOST": "cc-analytics",
    }.items():
        monkeypatch.setenv(name, value)
    settings = PlatformSettings()
    assert settings.listen_address(50054) == "0.0.0.0:50054"
    assert settings.service_address("telephony") == "cc-telephony:50051"
    assert settings.service_address("analytics") == "cc-analytics:50054"
    assert settings.service_address("routing") == "127.0.0.1:50052"  # not set: grpc_host
