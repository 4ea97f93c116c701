"""Property-based checks of the REST gateway against its own OpenAPI document (schemathesis): whatever
a client sends, the answer is never a server error and always one the document declares."""

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance

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
            case.call_and_validate(
                headers={"X-API-Key": "e2e-errors"}, timeout=30, excluded_checks=semantic_only(case)
            )

        keeps_contract()


def semantic_only(case: schemathesis.Case) -> list[Any]:
    """A line's hours and flow are valid only as a whole (a real time zone, spans that open before they
    close, a flow graph whose paths all end), and a caller list entry's expiry and a callback's time
    slot must lie ahead, a ticket list's cursor must be one the list gave, a ticket edit or
    assignment must change something, only a complaint states a claim, a customer's identifier must
    be one of its kind (an email address, a phone number) that no other customer has, a reply
    template may use known {{variables}} only, a ticket group must have agents to take turns and
    change something, an outbound call's or a campaign's numbers must hold 2 to 20 digits however
    they are written (and a campaign's line must exist, each number once), a consultation names one
    of a number, an agent or a queue,
    and a statistics time zone (of a table or its export) or a queue's must be a real one,
    which no JSON Schema can say: there a schema-valid request may get a 422 naming what is wrong,
    and every other check still holds."""
    path = case.operation.path
    semantic = (
        path.startswith(("/v1/lines/", "/v1/caller-list/"))
        or path.endswith("/callback")
        or path.endswith("/consult")
        or path == "/v1/calls/outbound"
        or path.startswith("/v1/campaigns")
        or (path == "/v1/tickets" and bool((case.query or {}).get("cursor")))
        or (path == "/v1/tickets/{ticket_id}" and case.method.upper() == "PATCH")
        or (path == "/v1/tickets" and case.method.upper() == "POST")
        or path == "/v1/tickets/{ticket_id}/assignment"
        or path in ("/v1/customers", "/v1/customers/{customer_id}")
        or path in ("/v1/statistics/tickets", "/v1/statistics/calls")
        or path in ("/v1/exports/statistics/tickets", "/v1/exports/statistics/calls")
        or path == "/v1/reply-templates/{template_id}"
        or path == "/v1/ticket-groups/{group_id}"
        or (path == "/v1/queues" and case.method.upper() == "POST")
        or path == "/v1/queues/{queue_id}/rules"
    )
    return [positive_data_acceptance] if semantic else []
