"""What the running platform asks of the broker (issue 5): each service's single writers are one
consumer-group member for all its aggregate types, and its policies one more, rather than a group per
aggregate type and per policy (each member costs the broker heartbeats, fetches and commits)."""

from services.platform import Platform
from tests.e2e.platform import active_groups

# Every group the platform's processes are members of: two per event-sourced service, the analytics
# sink, the Twilio adapter's dialer and the routing worker (Faust: its app and its own changelog reader).
EXPECTED = {
    "telephony.command-processor",
    "telephony.policies",
    "routing.command-processor",
    "routing.policies",
    "ticketing.command-processor",
    "ticketing.policies",
    "keys.command-processor",
    "analytics.sink",
    "gateway-twilio-dialer",
    "routing-stream",
}


async def test_each_service_is_one_member_for_its_writers_and_one_for_its_policies(
    platform: Platform, kafka_bootstrap: str
) -> None:
    await platform.wait_ready(timeout=90)
    # Groups of the tests beside the platform (their names start with "test") are not the platform's.
    groups = await active_groups(kafka_bootstrap)
    assert {name for name in groups if not name.startswith("test")} == EXPECTED
