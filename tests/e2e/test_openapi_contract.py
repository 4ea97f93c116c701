"""Property-based checks of the REST gateway against its own OpenAPI document (schemathesis): whatever
a client sends, the answer is never a server error and always one the document declares."""

import schemathesis
from hypothesis import HealthCheck, given, settings

from services.platform import Platform


def test_the_gateway_keeps_its_contract(platform: Platform) -> None:
    schema = schemathesis.openapi.from_url(f"http://127.0.0.1:{platform.settings.gateway_port}/openapi.json")
    # The live stream answers for as long as it is asked to; it has its own end-to-end test.
    operations = [
        result.ok() for result in schema.exclude(path_regex=r"/metrics/stream$").get_all_operations()
    ]
    assert len(operations) >= 15

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def keeps_contract(case: schemathesis.Case) -> None:
            case.call_and_validate(headers={"X-API-Key": "e2e-errors"}, timeout=30)

        keeps_contract()
