"""Live queue metrics (RTM-1): the formulas over a board folded from events with exact timestamps."""

from dataclasses import replace

import pytest
from cc.routing.v1 import events_pb2 as routing_events
from cc.telephony.v1 import events_pb2 as call_events

from services.routing.board import NOT_READY, ON_CONTACT, READY, WRAP_UP, Board
from services.routing.matching import dispatch
from services.routing.metrics import all_queue_metrics, mean, queue_metrics, ratio_percent
from services.routing.rules import implicit_rule, implicit_rules, proto_of
from tests.unit.support import TENANT, Feed, answered, changed, ended, logged_in, queued, ts

OPTIONAL = (
    "service_level_percent",
    "average_speed_of_answer_seconds",
    "average_handle_time_seconds",
    "abandonment_rate_percent",
)


# The routing worker's boards start with the default centre's queues.
DEFAULT_QUEUES = {"member": "member", "payment": "payment", "general": "general"}


def new_feed(threshold: int = 20) -> Feed:
    return Feed(
        Board(
            TENANT,
            service_level_threshold_seconds=threshold,
            queues=implicit_rules(DEFAULT_QUEUES, threshold),
        )
    )


def metrics(feed: Feed, queue_id: str = "member", now: float = 1000) -> routing_events.QueueMetrics:
    return queue_metrics(feed.board, queue_id, ts(now))


def present(m: routing_events.QueueMetrics) -> set[str]:
    return {name for name in OPTIONAL if m.HasField(name)}


def answer_after(feed: Feed, call_id: str, agent_id: str, enqueued: float, wait: float) -> None:
    feed.call(call_id, queued("member", enqueued), enqueued)
    feed.call(call_id, answered(agent_id, "member", enqueued), enqueued + wait)


def abandon_after(feed: Feed, call_id: str, enqueued: float, wait: float) -> None:
    feed.call(call_id, queued("member", enqueued), enqueued)
    feed.call(call_id, ended("member", abandoned=True), enqueued + wait)


# ---- helpers -------------------------------------------------------------------------------------


def test_ratio_percent_and_mean() -> None:
    assert ratio_percent(1, 2) == 50.0
    assert ratio_percent(1, 3) == 33.33
    assert ratio_percent(0, 4) == 0.0
    assert ratio_percent(0, 0) is None
    assert mean(10.0, 4) == 2.5
    assert mean(10.0, 3) == 3.333
    assert mean(0.0, 0) is None


# ---- nothing yet ---------------------------------------------------------------------------------


def test_an_empty_queue_has_counts_of_zero_and_no_ratios() -> None:
    feed = new_feed()

    m = metrics(feed, "member", now=5)

    assert (m.tenant_id, m.queue_id, m.service_level_threshold_seconds) == (TENANT, "member", 20)
    assert (m.contacts_waiting, m.oldest_wait_seconds) == (0, 0.0)
    assert (m.offered, m.answered, m.abandoned) == (0, 0, 0)
    assert staffing(m) == (0, 0, 0, 0, 0)
    assert present(m) == set()
    assert m.as_of.seconds == int(ts(5))


def test_service_level_is_absent_until_a_contact_leaves_the_queue() -> None:
    feed = new_feed()
    feed.call("call-1", queued("member", 0), 0)

    m = metrics(feed, now=50)

    assert m.offered == 1
    assert present(m) == {"abandonment_rate_percent"}
    assert m.abandonment_rate_percent == 0.0


# ---- service level and speed of answer -----------------------------------------------------------


def test_answered_after_10_and_30_seconds_with_threshold_20_is_50_percent() -> None:
    feed = new_feed(threshold=20)
    answer_after(feed, "call-1", "a-1", enqueued=0, wait=10)
    answer_after(feed, "call-2", "a-2", enqueued=5, wait=30)

    m = metrics(feed)

    assert (m.offered, m.answered, m.abandoned) == (2, 2, 0)
    assert m.service_level_percent == 50.0
    assert m.average_speed_of_answer_seconds == 20.0
    assert m.abandonment_rate_percent == 0.0
    assert not m.HasField("average_handle_time_seconds")


@pytest.mark.parametrize(("wait", "within"), [(19.999, True), (20, True), (20.001, False)])
def test_the_threshold_is_inclusive(wait: float, within: bool) -> None:
    feed = new_feed(threshold=20)
    answer_after(feed, "call-1", "a-1", enqueued=0, wait=wait)

    assert metrics(feed).service_level_percent == (100.0 if within else 0.0)


def test_the_threshold_of_the_board_is_used() -> None:
    feed = new_feed(threshold=5)
    answer_after(feed, "call-1", "a-1", enqueued=0, wait=4)
    answer_after(feed, "call-2", "a-2", enqueued=0, wait=6)
    answer_after(feed, "call-3", "a-3", enqueued=0, wait=7)

    m = metrics(feed)

    assert m.service_level_threshold_seconds == 5
    assert m.service_level_percent == 33.33
    assert m.average_speed_of_answer_seconds == pytest.approx(5.667)


def test_abandoned_contacts_count_as_removed_in_the_service_level() -> None:
    feed = new_feed(threshold=20)
    answer_after(feed, "call-1", "a-1", enqueued=0, wait=5)  # removed within
    answer_after(feed, "call-2", "a-2", enqueued=0, wait=30)  # removed late
    abandon_after(feed, "call-3", enqueued=0, wait=8)  # removed within
    abandon_after(feed, "call-4", enqueued=0, wait=40)  # removed late
    feed.call("call-5", queued("member", 50), 50)  # still waiting: not removed

    m = metrics(feed, now=60)

    assert (m.offered, m.answered, m.abandoned) == (5, 2, 2)
    assert m.service_level_percent == 50.0
    assert m.average_speed_of_answer_seconds == 17.5  # abandoned waits are not part of ASA
    assert m.abandonment_rate_percent == 40.0


def test_a_caller_abandoning_while_an_agent_rings_is_abandoned_in_the_queue() -> None:
    feed = new_feed()
    feed.agent("a-1", logged_in(member=5), 0)
    feed.call("call-1", queued("member", 1), 1)
    assert len(dispatch(feed.board, ts(1))) == 1

    feed.call("call-1", ended("member", "a-1", abandoned=True), 31)

    m = metrics(feed)
    assert (m.offered, m.answered, m.abandoned) == (1, 0, 1)
    assert m.service_level_percent == 0.0
    assert m.abandonment_rate_percent == 100.0


def test_a_call_that_never_queued_is_no_offer_and_no_abandon() -> None:
    feed = new_feed()
    feed.call(
        "call-1",
        call_events.CallEnded(
            ended_by=call_events.PARTY_CALLER, reason=call_events.END_REASON_CALLER_LEFT_IVR
        ),
        3,
    )

    assert (metrics(feed).offered, metrics(feed).abandoned) == (0, 0)
    assert "member" not in feed.board.tallies


def test_ending_an_answered_call_is_no_abandon() -> None:
    feed = new_feed()
    answer_after(feed, "call-1", "a-1", enqueued=0, wait=10)

    feed.call("call-1", ended("member", "a-1"), 70)

    m = metrics(feed)
    assert (m.answered, m.abandoned) == (1, 0)
    assert m.service_level_percent == 100.0


# ---- ring-no-answer ------------------------------------------------------------------------------


def test_a_ring_no_answer_requeue_is_the_same_offer_and_the_wait_runs_from_the_first_enqueue() -> None:
    feed = new_feed(threshold=20)
    feed.agent("a-1", logged_in(member=5), 0)
    feed.agent("a-2", logged_in(member=5), 1)
    feed.call("call-1", queued("member", 10), 10)
    assert dispatch(feed.board, ts(10))[0].routed.agent_id == "a-1"
    feed.call("call-1", call_events.CallRingNoAnswer(agent_id="a-1", queue_id="member"), 25)
    feed.call("call-1", queued("member", 10, reason="ring-no-answer"), 25)
    assert metrics(feed, now=26).offered == 1
    assert metrics(feed, now=26).contacts_waiting == 1
    assert dispatch(feed.board, ts(26))[0].routed.agent_id == "a-2"

    feed.call("call-1", answered("a-2", "member", 10), 40)

    m = metrics(feed)
    assert (m.offered, m.answered, m.abandoned) == (1, 1, 0)
    assert m.average_speed_of_answer_seconds == 30.0
    assert m.service_level_percent == 0.0


# ---- handle time ---------------------------------------------------------------------------------


def talk(feed: Feed, call_id: str, agent_id: str, answered_at: float, hung_up_at: float) -> None:
    """An answered call (enqueued at 0) whose agent goes on contact, then into wrap-up when it ends."""
    feed.call(call_id, queued("member", 0), 0)
    feed.call(call_id, answered(agent_id, "member", 0), answered_at)
    feed.agent(agent_id, changed(ON_CONTACT, READY, contact_id=call_id), answered_at)
    feed.call(call_id, ended("member", agent_id), hung_up_at)
    feed.agent(agent_id, changed(WRAP_UP, ON_CONTACT, contact_id=call_id), hung_up_at)


def test_handle_time_runs_from_answer_to_the_end_of_wrap_up() -> None:
    feed = new_feed()
    feed.agent("a-1", logged_in(member=5), 0)
    feed.agent("a-2", logged_in(member=5), 0)
    talk(feed, "call-1", "a-1", answered_at=10, hung_up_at=70)
    talk(feed, "call-2", "a-2", answered_at=20, hung_up_at=90)
    assert not metrics(feed).HasField("average_handle_time_seconds")  # both still wrapping up

    feed.agent("a-1", changed(READY, WRAP_UP, contact_id="call-1"), 80)  # wrap-up timer
    assert metrics(feed).average_handle_time_seconds == 70.0

    feed.agent("a-2", changed(NOT_READY, WRAP_UP, contact_id="call-2", reason="break"), 120)  # left early
    assert metrics(feed).average_handle_time_seconds == 85.0
    assert feed.board.tally("member").handled == 2


def test_logging_out_from_wrap_up_completes_the_handle_time() -> None:
    feed = new_feed()
    feed.agent("a-1", logged_in(member=5), 0)
    talk(feed, "call-1", "a-1", answered_at=10, hung_up_at=70)

    feed.agent("a-1", routing_events.AgentLoggedOut(previous_state=WRAP_UP), 75)

    assert metrics(feed).average_handle_time_seconds == 65.0
    assert feed.board.talking == {}


def test_handle_time_is_counted_once() -> None:
    feed = new_feed()
    feed.agent("a-1", logged_in(member=5), 0)
    talk(feed, "call-1", "a-1", answered_at=10, hung_up_at=70)
    feed.agent("a-1", changed(READY, WRAP_UP, contact_id="call-1"), 80)

    feed.agent("a-1", changed(NOT_READY, READY, reason="break"), 90)
    feed.agent("a-1", changed(READY, NOT_READY), 95)

    assert feed.board.tally("member").handled == 1
    assert metrics(feed).average_handle_time_seconds == 70.0


# ---- agents --------------------------------------------------------------------------------------


def staffing(m: routing_events.QueueMetrics) -> tuple[int, int, int, int, int]:
    return m.agents_staffed, m.agents_ready, m.agents_on_contact, m.agents_not_ready, m.agents_wrap_up


def test_agents_are_counted_for_each_queue_whose_skill_they_have() -> None:
    feed = new_feed()
    feed.agent("a-reserved", logged_in(member=5), 0)  # longest idle: will ring for call-1
    feed.agent("a-ready", logged_in(member=5, payment=5), 1)
    feed.agent("a-not-ready", logged_in(initial=NOT_READY, member=5), 1)
    feed.agent("a-on-contact", logged_in(member=5), 1)
    feed.agent("a-on-contact", changed(ON_CONTACT, READY, contact_id="call-x"), 2)
    feed.agent("a-wrap-up", logged_in(member=5), 1)
    feed.agent("a-wrap-up", changed(ON_CONTACT, READY, contact_id="call-y"), 2)
    feed.agent("a-wrap-up", changed(WRAP_UP, ON_CONTACT, contact_id="call-y"), 3)
    feed.agent("a-payment", logged_in(payment=5), 1)
    feed.call("call-1", queued("member", 4), 4)
    (decision,) = dispatch(feed.board, ts(5))
    assert decision.routed.agent_id == "a-reserved"

    assert staffing(metrics(feed, "member")) == (5, 1, 2, 1, 1)
    assert staffing(metrics(feed, "payment")) == (2, 2, 0, 0, 0)
    assert staffing(metrics(feed, "general")) == (0, 0, 0, 0, 0)


def test_a_reserved_agent_that_went_not_ready_still_counts_as_on_contact() -> None:
    feed = new_feed()
    feed.agent("a-1", logged_in(member=5), 0)
    feed.call("call-1", queued("member", 1), 1)
    dispatch(feed.board, ts(1))

    feed.agent("a-1", changed(NOT_READY, READY, reason="break"), 2)

    assert staffing(metrics(feed)) == (1, 0, 1, 0, 0)


def test_a_logged_out_agent_is_not_staffed() -> None:
    feed = new_feed()
    feed.agent("a-1", logged_in(member=5), 0)
    feed.agent("a-2", logged_in(member=5), 0)

    feed.agent("a-1", routing_events.AgentLoggedOut(previous_state=READY), 5)

    assert staffing(metrics(feed)) == (1, 1, 0, 0, 0)


# ---- waiting contacts ----------------------------------------------------------------------------


def test_contacts_waiting_and_oldest_wait_per_queue() -> None:
    feed = new_feed()
    feed.call("call-1", queued("member", 0), 0)
    feed.call("call-2", queued("member", 5), 5)
    feed.call("call-3", queued("payment", 12), 12)

    member, payment = metrics(feed, "member", now=30), metrics(feed, "payment", now=30)

    assert (member.contacts_waiting, member.oldest_wait_seconds) == (2, 30.0)
    assert (payment.contacts_waiting, payment.oldest_wait_seconds) == (1, 18.0)
    feed.call("call-1", ended("member", abandoned=True), 31)
    after = metrics(feed, "member", now=40)
    assert (after.contacts_waiting, after.oldest_wait_seconds) == (1, 35.0)


def test_queues_use_the_skill_of_their_first_contact() -> None:
    feed = new_feed()
    feed.agent("a-1", logged_in(vip=5), 0)
    feed.call("call-1", queued("gold", 0, skill="vip"), 0)

    assert feed.board.queues["gold"] == implicit_rule("gold", "vip", 20)
    assert staffing(metrics(feed, "gold")) == (1, 1, 0, 0, 0)


def test_all_queue_metrics_covers_every_known_queue_in_order() -> None:
    feed = Feed(Board(tenant_id=TENANT, queues=implicit_rules({"member": "member", "general": "general"})))
    feed.call("call-1", queued("payment", 0), 0)

    result = all_queue_metrics(feed.board, ts(10))

    assert [m.queue_id for m in result] == ["general", "member", "payment"]
    assert [m.offered for m in result] == [0, 0, 1]
    assert {m.as_of.seconds for m in result} == {int(ts(10))}


# ---- the day -------------------------------------------------------------------------------------


def test_counters_start_again_on_a_new_utc_day() -> None:
    feed = new_feed()
    answer_after(feed, "call-1", "a-1", enqueued=0, wait=10)
    assert metrics(feed).answered == 1

    next_day = 24 * 3600
    feed.call("call-2", queued("member", next_day), next_day)

    m = metrics(feed, now=next_day + 5)
    assert (m.offered, m.answered, m.abandoned) == (1, 0, 0)
    assert present(m) == {"abandonment_rate_percent"}
    assert feed.board.day == "2025-03-04"


def test_a_late_event_from_before_midnight_does_not_wipe_the_new_day() -> None:
    feed = new_feed()
    midnight = 15 * 3600  # T0 is 09:00 UTC
    feed.call("call-1", queued("member", midnight + 5), midnight + 5)
    assert (metrics(feed).offered, feed.board.day) == (1, "2025-03-04")

    feed.agent("a-1", logged_in(member=5), midnight - 1)  # appended a little after, stamped a little before

    assert feed.board.day == "2025-03-04"
    assert metrics(feed).offered == 1


def test_a_queue_counts_its_day_in_its_line_s_time_zone() -> None:
    seoul = replace(implicit_rule("member", "member", 20), time_zone="Asia/Seoul")
    feed = Feed(Board(TENANT, queues={"member": seoul, **implicit_rules({"payment": "payment"})}))
    seoul_midnight = 6 * 3600  # T0 is 09:00 UTC, 18:00 in Seoul; Seoul's midnight is 15:00 UTC
    for queue_id in ("member", "payment"):
        feed.call(f"{queue_id}-1", queued(queue_id, seoul_midnight - 60), seoul_midnight - 60)
    assert metrics(feed, now=seoul_midnight + 60).offered == 0  # a new day in Seoul, before any event
    assert metrics(feed, "payment", now=seoul_midnight + 60).offered == 1  # still the same UTC day

    for queue_id in ("member", "payment"):
        feed.call(f"{queue_id}-2", queued(queue_id, seoul_midnight + 60), seoul_midnight + 60)

    assert (metrics(feed, now=seoul_midnight + 90).offered, feed.board.tallies["member"].day) == (
        1,
        "2025-03-04",
    )
    assert metrics(feed, "payment", now=seoul_midnight + 90).offered == 2


def test_a_queue_moved_west_keeps_today_s_counts_until_midnight_in_its_new_zone() -> None:
    seoul = replace(implicit_rule("member", "member", 20), time_zone="Asia/Seoul")
    feed = Feed(Board(TENANT, queues={"member": seoul}))
    feed.call("call-1", queued("member", 7 * 3600), 7 * 3600)  # 16:00 UTC: Mar 4 in Seoul, Mar 3 in LA
    west = replace(seoul, time_zone="America/Los_Angeles")
    feed.queue("member", routing_events.QueueRulesChanged(rules=proto_of(west)), 7 * 3600 + 1)
    feed.call("call-2", queued("member", 14 * 3600), 14 * 3600)  # 15:00 in LA, Mar 3

    assert metrics(feed, now=14 * 3600).offered == 2
    la_midnight = 23 * 3600  # 08:00 UTC on Mar 4
    assert metrics(feed, now=la_midnight + 60).offered == 0
    feed.call("call-3", queued("member", la_midnight + 60), la_midnight + 60)
    assert metrics(feed, now=la_midnight + 90).offered == 1


def test_after_midnight_the_counters_show_zero_before_any_new_event() -> None:
    feed = Feed(Board(tenant_id=TENANT, service_level_threshold_seconds=20))
    feed.call("call-1", queued("member", 1), 1)
    assert metrics(feed, now=10).offered == 1

    assert metrics(feed, now=24 * 3600 + 1).offered == 0  # a new UTC day, nothing has happened yet
