import pytest


@pytest.fixture(scope="session", autouse=True)
def _broker(kafka_bootstrap: str) -> str:
    return kafka_bootstrap
