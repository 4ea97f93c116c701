from collections.abc import Iterator

import pytest

from services.platform import Platform
from tests.e2e.otlp_receiver import OtlpReceiver, receiving
from tests.e2e.platform import running_platform


@pytest.fixture(scope="session", autouse=True)
def _broker(kafka_bootstrap: str) -> str:
    return kafka_bootstrap


@pytest.fixture(scope="session")
def otlp() -> Iterator[OtlpReceiver]:
    """Where the platform's processes export their spans and metrics (tests/e2e/test_traces.py)."""
    with receiving() as receiver:
        yield receiver


@pytest.fixture(scope="session")
def platform(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory, otlp: OtlpReceiver
) -> Iterator[Platform]:
    # Every process traces and meters, as on a cluster with its collector; spans leave within 200 ms
    # and metrics every second, so that a test waits for them briefly.
    telemetry = {
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "OTEL_METRIC_EXPORT_INTERVAL": "1000",
    }
    with running_platform(kafka_bootstrap, tmp_path_factory.mktemp("platform"), **telemetry) as running:
        yield running
