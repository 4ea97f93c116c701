from collections.abc import Iterator

import pytest

from services.platform import Platform
from tests.e2e.platform import running_platform


@pytest.fixture(scope="session", autouse=True)
def _broker(kafka_bootstrap: str) -> str:
    return kafka_bootstrap


@pytest.fixture(scope="session")
def platform(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    with running_platform(kafka_bootstrap, tmp_path_factory.mktemp("platform")) as running:
        yield running
