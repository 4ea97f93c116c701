"""Outbound campaigns (TEL-8), pure: a campaign's contacts are given, one at a time and in order, to its
agents who are ready; do-not-call numbers are skipped for good, the line's hours are the calling hours,
unanswered contacts are tried again after the retry time up to the attempt limit, and the campaign
completes once no contact is open. The pacer, the policy and the timer around it are pure too."""

import dataclasses
from datetime import timedelta
from typing import Any

import pytest
from cc.common.v1 import event_pb2, types_pb2
from cc.routing.v1 import events_pb2 as agent_events
from cc.telephony.v1 import commands_pb2, events_pb2
from google.protobuf.message import Message

from services.common.aggregate import Versioned
from services.common.deadlines import Deadlines
from services.common.envelope import timestamp
from services.common.errors import IllegalTransition, InvalidArgument, NotFound
from services.common.projection import Projection
from services.common.snapshots import StateCodec
from services.telephony import campaigns
from services.telephony.app import campaign_spec
from services.telephony.caller_list import ListedNumber
from services.telephony.campaign_pacing import (
    AGENT_READINESS,
    AgentReadiness,
    CampaignCalls,
    CampaignPacer,
    CampaignTimer,
    dials,
    readiness,
)
from services.telephony.campaigns import (
    COMPLETED,
    DIALLING,
    FAILED,
    PAUSED,
    PENDING,
    REACHED,
    RUNNING,
    SKIPPED,
    STOPPED,
    WAITING,
    CampaignRules,
    CampaignState,
    call_id_of,
)
from services.telephony.customers import KnownCustomer
from tests.unit.support import T0, TENANT, History, at, envelope, meta, refused, violated_fields
from tests.unit.test_outbound import Directory, hang_up, place, report
from tests.unit.test_outbound import history as outbound_call

NUMBERS = ("+82 10-5555-0101", "821055550102", "821055550103")
CONNECTED = events_pb2.CALLBACK_OUTCOME_CONNECTED
NO_ANSWER = events_pb2.CALLBACK_OUTCOME_NO_ANSWER
NOT_CURRENT = "campaign-call-not-current"


class Campaign:
    def __init__(self, directory: Directory | None = None) -> None:
        self.directory = directory or Directory()
        rules = CampaignRules(lines=self.directory, callers=self.directory)
        self.history = History(
            campaigns.decide, campaigns.evolve, campaigns.customer_of, rules, "telephony", "campaign", "cmp-1"
        )

    @property
    def state(self) -> CampaignState:
        assert self.history.state is not None
        return self.history.state

    @property
    def entry(self) -> Versioned[CampaignState]:
        return Versioned(self.state, self.history.version, TENANT, "cmp-1")

    def send(self, t: float, **body: Message) -> list[Message]:
        command = commands_pb2.CampaignCommand(meta=meta("cmp-1"), **body)  # type: ignore[arg-type]
        return self.history.handle(command, at(t))

    def define(
        self,
        numbers: tuple[str, ...] = NUMBERS,
        agents: tuple[str, ...] = ("kim", "lee"),
        **settings: int | str,
    ) -> list[Message]:
        given = {"name": "Renewals", "line_id": "sales", **settings}
        asked = events_pb2.CampaignSettings(agent_ids=agents, **given)  # type: ignore[arg-type]
        contacts = [events_pb2.CampaignContact(number=n, name=f"customer {i}") for i, n in enumerate(numbers)]
        return self.send(0, define=commands_pb2.DefineCampaign(settings=asked, contacts=contacts))

    def status(self, status: "events_pb2.CampaignStatus.ValueType", t: float = 1) -> list[Message]:
        return self.send(t, set_status=commands_pb2.SetCampaignStatus(status=status))

    def dial(self, agent_id: str = "kim", t: float = 2) -> list[Message]:
        return self.send(t, dial=commands_pb2.DialCampaignContact(agent_id=agent_id))

    def outcome(
        self,
        call_id: str,
        outcome: "events_pb2.CallbackOutcome.ValueType",
        t: float = 30,
        no_call: bool = False,
    ) -> list[Message]:
        record = commands_pb2.RecordCampaignOutcome(call_id=call_id, outcome=outcome, no_call=no_call)
        return self.send(t, record_outcome=record)


def running(directory: Directory | None = None, **settings: int | str) -> Campaign:
    campaign = Campaign(directory)
    campaign.define(**settings)  # type: ignore[arg-type]
    campaign.status(RUNNING)
    return campaign


# ---- defining and running ------------------------------------------------------------------------


def test_a_campaign_is_defined_paused_with_its_line_s_caller_id_and_default_retries() -> None:
    campaign = Campaign()

    [defined] = campaign.define()

    assert isinstance(defined, events_pb2.CampaignDefined)
    assert defined.settings.caller_id == "15881234"
    assert (defined.settings.max_attempts, defined.settings.retry_seconds) == (3, 3600)
    assert [c.number for c in defined.contacts] == ["821055550101", "821055550102", "821055550103"]
    assert campaign.state.status == PAUSED
    assert [c.status for c in campaign.state.contacts] == [PENDING] * 3
    refused(campaign.define, IllegalTransition, "campaign-exists")


def test_a_campaign_names_every_fault_of_its_definition() -> None:
    error = refused(
        lambda: Campaign().define(
            numbers=("821055550101", "12x", "821055550101"), agents=(), max_attempts=11, retry_seconds=5
        ),
        InvalidArgument,
        "invalid-argument",
    )

    assert violated_fields(error) == [
        "settings.agent_ids",
        "settings.max_attempts",
        "settings.retry_seconds",
        "contacts[1].number",
        "contacts[2].number",
    ]
    refused(lambda: Campaign().define(agents=("kim", "kim")), InvalidArgument, "invalid-argument")
    refused(lambda: Campaign().define(numbers=()), InvalidArgument, "invalid-argument")
    refused(lambda: Campaign().define(line_id="nowhere"), NotFound, "line-not-found")
    refused(lambda: Campaign().define(caller_id="0200000000"), InvalidArgument, "invalid-argument")


def test_a_supervisor_runs_pauses_and_stops_a_campaign_and_a_stopped_one_stays_stopped() -> None:
    campaign = Campaign()
    campaign.define()

    assert campaign.status(RUNNING) == [
        events_pb2.CampaignStatusChanged(status=RUNNING, previous_status=PAUSED)
    ]
    refused(lambda: campaign.status(RUNNING), IllegalTransition, "campaign-status-unchanged")
    refused(lambda: campaign.status(COMPLETED), InvalidArgument, "invalid-argument")
    campaign.status(PAUSED)
    campaign.status(STOPPED)
    refused(lambda: campaign.status(RUNNING), IllegalTransition, "campaign-ended")
    refused(lambda: Campaign().status(RUNNING), NotFound, "campaign-not-found")


# ---- dialling ------------------------------------------------------------------------------------


def test_a_ready_agent_is_given_the_first_due_contact_with_a_call_id_of_its_attempt() -> None:
    campaign = running()

    assert campaign.dial("kim") == [
        events_pb2.CampaignContactDialled(
            contact=0,
            number="821055550101",
            agent_id="kim",
            call_id=call_id_of(TENANT, "cmp-1", 0, 1),
            attempt=1,
            line_id="sales",
            caller_id="15881234",
        )
    ]
    [second] = campaign.dial("lee")
    assert isinstance(second, events_pb2.CampaignContactDialled)
    assert (second.contact, second.agent_id) == (1, "lee")
    assert call_id_of(TENANT, "cmp-1", 0, 1) != call_id_of(TENANT, "cmp-1", 0, 2)
    assert campaign.state.agents_dialling() == {"kim", "lee"}
    assert campaign.state.last_dial == {"kim": at(2), "lee": at(2)}


def test_an_agent_gets_one_contact_at_a_time_and_only_while_the_campaign_runs_and_its_line_is_open() -> None:
    campaign = running()
    campaign.dial("kim")

    refused(lambda: campaign.dial("kim"), IllegalTransition, "agent-dialling")
    refused(lambda: campaign.dial("park"), IllegalTransition, "agent-not-in-campaign")
    # 09:00-18:00: at 20:00 the line is closed, so nobody is called
    refused(lambda: campaign.dial("lee", t=11 * 3600), IllegalTransition, "outside-calling-hours")
    campaign.status(PAUSED, t=3)
    refused(lambda: campaign.dial("lee", t=4), IllegalTransition, "campaign-not-running")


def test_a_do_not_call_number_is_skipped_for_good_on_the_way_to_the_next_contact() -> None:
    directory = Directory()
    directory.listed["821055550101"] = ListedNumber("821055550101", "do-not-call", "asked", T0)
    campaign = running(directory)

    skipped, dialled = campaign.dial("kim")

    assert skipped == events_pb2.CampaignContactSkipped(contact=0, reason="do-not-call: asked")
    assert isinstance(dialled, events_pb2.CampaignContactDialled) and dialled.contact == 1
    assert campaign.state.contacts[0].status == SKIPPED
    # a block is no do-not-call entry: that number is still called
    directory.listed["821055550103"] = ListedNumber("821055550103", "block", "abusive", T0)
    [third] = campaign.dial("lee")
    assert isinstance(third, events_pb2.CampaignContactDialled) and third.contact == 2


def test_a_campaign_whose_last_contacts_are_all_do_not_call_completes_on_the_dial() -> None:
    directory = Directory()
    for number in NUMBERS[1:]:
        directory.listed[number] = ListedNumber(number, "do-not-call", "asked", T0)
    campaign = running(directory, numbers=NUMBERS[1:])  # type: ignore[arg-type]

    assert campaign.dial("kim") == [
        events_pb2.CampaignContactSkipped(contact=0, reason="do-not-call: asked"),
        events_pb2.CampaignContactSkipped(contact=1, reason="do-not-call: asked"),
        events_pb2.CampaignStatusChanged(status=COMPLETED, previous_status=RUNNING),
    ]


# ---- outcomes ------------------------------------------------------------------------------------


def test_an_unanswered_contact_is_tried_again_after_the_retry_time_then_given_up() -> None:
    campaign = running(numbers=NUMBERS[:2], max_attempts=2, retry_seconds=600)  # type: ignore[arg-type]
    campaign.dial("kim", t=2)
    first_call = campaign.state.contacts[0].call_id

    [attempted] = campaign.outcome(first_call, NO_ANSWER, t=30)

    assert attempted == events_pb2.CampaignContactAttempted(
        contact=0, call_id=first_call, outcome=NO_ANSWER, retry_at=timestamp(at(630))
    )
    assert campaign.state.contacts[0].status == WAITING
    # not due before 630 s: the next contact comes first
    [dialled] = campaign.dial("kim", t=100)
    assert isinstance(dialled, events_pb2.CampaignContactDialled) and dialled.contact == 1
    campaign.outcome(dialled.call_id, CONNECTED, t=120)
    refused(lambda: campaign.dial("kim", t=629), IllegalTransition, "no-contact-due")
    [again] = campaign.dial("kim", t=630)
    assert isinstance(again, events_pb2.CampaignContactDialled)
    assert (again.contact, again.attempt, again.call_id) == (0, 2, call_id_of(TENANT, "cmp-1", 0, 2))

    # the last attempt unanswered: given up, and with no contact open the campaign completes
    assert campaign.outcome(again.call_id, events_pb2.CALLBACK_OUTCOME_BUSY, t=650) == [
        events_pb2.CampaignContactAttempted(
            contact=0, call_id=again.call_id, outcome=events_pb2.CALLBACK_OUTCOME_BUSY
        ),
        events_pb2.CampaignStatusChanged(status=COMPLETED, previous_status=RUNNING),
    ]
    assert [c.status for c in campaign.state.contacts] == [FAILED, REACHED]
    assert campaign.state.counts() == {
        "pending": 0,
        "dialling": 0,
        "waiting": 0,
        "reached": 1,
        "failed": 1,
        "skipped": 0,
    }


def test_only_the_call_being_dialled_for_a_contact_settles_it() -> None:
    campaign = running()
    [dialled] = campaign.dial("kim")
    assert isinstance(dialled, events_pb2.CampaignContactDialled)

    refused(
        lambda: campaign.outcome("another-call", CONNECTED), IllegalTransition, "campaign-call-not-current"
    )
    refused(
        lambda: campaign.outcome(dialled.call_id, events_pb2.CALLBACK_OUTCOME_RINGING),
        InvalidArgument,
        "invalid-argument",
    )
    campaign.outcome(dialled.call_id, CONNECTED)
    assert campaign.state.contacts[0].status == REACHED
    refused(
        lambda: campaign.outcome(dialled.call_id, CONNECTED), IllegalTransition, "campaign-call-not-current"
    )


def test_a_stopped_campaign_still_hears_its_calls_but_tries_nobody_again() -> None:
    campaign = running()
    [dialled] = campaign.dial("kim")
    assert isinstance(dialled, events_pb2.CampaignContactDialled)
    campaign.status(STOPPED, t=3)

    [attempted] = campaign.outcome(dialled.call_id, NO_ANSWER)

    assert not attempted.HasField("retry_at")  # type: ignore[attr-defined]
    assert campaign.state.contacts[0].status == FAILED
    assert campaign.state.status == STOPPED


def test_a_dial_that_made_no_call_frees_its_agent_at_once() -> None:
    campaign = running()
    [dialled] = campaign.dial("kim")
    assert isinstance(dialled, events_pb2.CampaignContactDialled)

    campaign.outcome(dialled.call_id, events_pb2.CALLBACK_OUTCOME_FAILED, no_call=True)

    assert "kim" not in campaign.state.last_dial
    assert campaign.state.contacts[0].status == WAITING


def test_a_campaign_survives_its_snapshot_codec() -> None:
    campaign = running()
    [dialled] = campaign.dial("kim")
    assert isinstance(dialled, events_pb2.CampaignContactDialled)
    campaign.outcome(dialled.call_id, NO_ANSWER)
    codec = StateCodec(CampaignState)

    assert codec.decode(codec.encode(campaign.state)) == campaign.state


# ---- the pacer -----------------------------------------------------------------------------------


def ready_since(t: float, ready: bool = True, version: int = 3) -> Versioned[AgentReadiness]:
    return Versioned(AgentReadiness(ready, at(t)), version, TENANT, "agent")


def test_the_pacer_dials_for_each_ready_idle_agent_while_contacts_are_due() -> None:
    campaign = running()
    agents = {"kim": ready_since(0), "lee": ready_since(0, ready=False)}

    [dial] = dials(TENANT, [campaign.entry], agents.get, campaign.directory, at(5))

    assert dial.dial.agent_id == "kim" and dial.meta.aggregate_id == "cmp-1"
    # the same read gives the same command, so two instances' pacers post one dial
    [again] = dials(TENANT, [campaign.entry], agents.get, campaign.directory, at(6))
    assert again.meta.command_id == dial.meta.command_id
    # closed line, or paused: nobody
    assert dials(TENANT, [campaign.entry], agents.get, campaign.directory, at(11 * 3600)) == []
    campaign.status(PAUSED, t=7)
    assert dials(TENANT, [campaign.entry], agents.get, campaign.directory, at(8)) == []


def test_the_pacer_waits_for_a_readiness_newer_than_the_agent_s_last_campaign_call() -> None:
    campaign = running()
    [dialled] = campaign.dial("kim", t=10)
    assert isinstance(dialled, events_pb2.CampaignContactDialled)
    kim = {"kim": ready_since(5)}

    assert dials(TENANT, [campaign.entry], kim.get, campaign.directory, at(11)) == []  # dialling
    campaign.outcome(dialled.call_id, CONNECTED, t=20)
    assert dials(TENANT, [campaign.entry], kim.get, campaign.directory, at(21)) == []  # stale readiness
    same_moment = {"kim": ready_since(10, version=5)}  # ready as of the dial itself: still stale
    assert dials(TENANT, [campaign.entry], same_moment.get, campaign.directory, at(21)) == []
    kim = {"kim": ready_since(80, version=7)}
    [dial] = dials(TENANT, [campaign.entry], kim.get, campaign.directory, at(81))
    assert dial.dial.agent_id == "kim"


def test_the_pacer_gives_an_agent_of_two_campaigns_one_contact_and_no_more_dials_than_due() -> None:
    first, second = running(numbers=NUMBERS[:1]), running()  # type: ignore[arg-type]
    entries = [Versioned(second.state, 2, TENANT, "cmp-2"), first.entry]
    both = {"kim": ready_since(0), "lee": ready_since(0)}

    posted = dials(TENANT, entries, both.get, first.directory, at(5))

    # cmp-1 (first by id) has one due contact: kim; lee goes to cmp-2
    assert [(d.meta.aggregate_id, d.dial.agent_id) for d in posted] == [("cmp-1", "kim"), ("cmp-2", "lee")]


def test_an_agent_s_readiness_follows_its_routing_events() -> None:
    def event(payload: Message, t: float) -> AgentReadiness:
        envelope_ = envelope(
            payload, context="routing", aggregate_type="agent", aggregate_id="kim", version=1, when=at(t)
        )
        return readiness(None, envelope_)

    ready, not_ready = agent_events.AGENT_STATE_READY, agent_events.AGENT_STATE_NOT_READY
    assert event(agent_events.AgentLoggedIn(initial_state=ready), 1) == AgentReadiness(True, at(1))
    assert event(agent_events.AgentLoggedIn(initial_state=not_ready), 1) == AgentReadiness(False, at(1))
    changed = agent_events.AgentStateChanged(state=agent_events.AGENT_STATE_ON_CONTACT, previous_state=ready)
    assert event(changed, 2) == AgentReadiness(False, at(2))
    assert event(agent_events.AgentLoggedOut(), 3) == AgentReadiness(False, at(3))


# ---- the policy and the timer --------------------------------------------------------------------


class Customers:
    def caller(self, tenant_id: str, ani: str) -> KnownCustomer | None:
        return KnownCustomer("cust-7", "Kim", False, (ani,), T0) if ani == "821055550101" else None


def campaign_event(
    payload: Message, aggregate_type: str = "campaign", aggregate_id: str = "cmp-1"
) -> event_pb2.Event:
    return envelope(
        payload,
        context="telephony",
        aggregate_type=aggregate_type,
        aggregate_id=aggregate_id,
        version=4,
        when=at(2),
    )


def test_a_dialled_contact_s_call_is_placed_for_its_agent_with_its_customer() -> None:
    dialled = events_pb2.CampaignContactDialled(
        contact=0, number="821055550101", agent_id="kim", call_id="call-9", attempt=1, line_id="sales"
    )

    [(topics, command)] = CampaignCalls(Customers())(campaign_event(dialled))

    assert topics.aggregate == "call" and command.meta.aggregate_id == "call-9"
    assert command.place_outbound_call == commands_pb2.PlaceOutboundCall(  # type: ignore[union-attr]
        agent_id="kim", number="821055550101", line_id="sales", customer_id="cust-7", campaign_id="cmp-1"
    )


@pytest.mark.parametrize(
    ("payload", "outcome"),
    [
        (events_pb2.OutboundCallConnected(agent_id="kim", campaign_id="cmp-1"), CONNECTED),
        (
            events_pb2.CallEnded(reason=events_pb2.END_REASON_OUTBOUND_BUSY, campaign_id="cmp-1"),
            events_pb2.CALLBACK_OUTCOME_BUSY,
        ),
        (
            events_pb2.CallEnded(reason=events_pb2.END_REASON_OUTBOUND_NO_ANSWER, campaign_id="cmp-1"),
            NO_ANSWER,
        ),
        (
            events_pb2.CallEnded(reason=events_pb2.END_REASON_OUTBOUND_FAILED, campaign_id="cmp-1"),
            events_pb2.CALLBACK_OUTCOME_FAILED,
        ),
    ],
)
def test_a_campaign_call_s_answer_or_unanswered_end_is_its_contact_s_outcome(
    payload: Message, outcome: "events_pb2.CallbackOutcome.ValueType"
) -> None:
    [(topics, command)] = CampaignCalls(Customers())(campaign_event(payload, "call", "call-9"))

    assert topics.aggregate == "campaign" and command.meta.aggregate_id == "cmp-1"
    assert command.record_outcome == commands_pb2.RecordCampaignOutcome(call_id="call-9", outcome=outcome)  # type: ignore[union-attr]


def test_calls_of_no_campaign_concern_the_policy() -> None:
    ended = events_pb2.CallEnded(reason=events_pb2.END_REASON_OUTBOUND_NO_ANSWER)

    assert CampaignCalls(Customers())(campaign_event(ended, "call", "call-9")) == []
    assert CampaignCalls(Customers())(campaign_event(events_pb2.OutboundCallConnected(), "call", "c")) == []


def test_the_timer_gives_up_the_oldest_dial_that_made_no_call() -> None:
    campaign = running()
    campaign.dial("kim", t=10)
    campaign.dial("lee", t=20)
    clock = [100.0]
    deadlines = Deadlines(clock=lambda: clock[0])
    timer = CampaignTimer(deadlines, patience=timedelta(seconds=150), clock=lambda: at(30))

    timer(campaign.entry)

    clock[0] += 129
    assert deadlines.due() == []
    clock[0] += 1  # 150 s after kim's dial at 10 s
    [deadline] = deadlines.due()
    command = deadline.command()
    assert isinstance(command, commands_pb2.CampaignCommand)
    assert command.record_outcome == commands_pb2.RecordCampaignOutcome(
        call_id=campaign.state.contacts[0].call_id, outcome=events_pb2.CALLBACK_OUTCOME_FAILED, no_call=True
    )
    # once nothing is being dialled, no deadline
    for _, contact in list(campaign.state.dialling()):
        campaign.outcome(contact.call_id, CONNECTED, t=40)
    timer(campaign.entry)
    clock[0] += 1000
    assert deadlines.due() == []
    assert campaign.state.contacts[0].status == REACHED and campaign.state.contacts[2].status == PENDING
    assert DIALLING not in {c.status for c in campaign.state.contacts}


def test_a_campaign_call_tells_its_campaign_how_its_dialling_ended_and_nothing_after() -> None:
    answered, unanswered, own = outbound_call(), outbound_call(), outbound_call()
    for call in (answered, unanswered):
        [placed] = place(call, campaign_id="cmp-1")
        assert placed.campaign_id == "cmp-1"  # type: ignore[attr-defined]
    place(own)

    [connected] = report(answered, CONNECTED)
    [ended] = report(unanswered, NO_ANSWER)
    [own_ended] = report(own, NO_ANSWER)

    assert connected.campaign_id == "cmp-1" and ended.campaign_id == "cmp-1"  # type: ignore[attr-defined]
    assert own_ended.campaign_id == ""  # type: ignore[attr-defined]
    [hung_up] = [e for e in hang_up(answered, events_pb2.PARTY_AGENT) if isinstance(e, events_pb2.CallEnded)]
    assert hung_up.campaign_id == ""


# ---- the review's cases: size, lines that change, late answers, pacing across campaigns -----------


def test_a_campaign_whose_state_could_outgrow_a_snapshot_record_is_refused_and_the_bound_holds() -> None:
    long_name = "가" * 200  # 600 bytes in UTF-8
    agents = tuple(f"agent-{i:094d}" for i in range(campaigns.MAX_AGENTS))  # 100 characters each
    many = tuple(f"8210{i:08d}" for i in range(campaigns.MAX_CONTACTS))
    campaign = Campaign()
    contacts = [events_pb2.CampaignContact(number=n, name=long_name) for n in many]
    asked = events_pb2.CampaignSettings(name="Big", line_id="sales", agent_ids=agents)
    error = refused(
        lambda: campaign.send(0, define=commands_pb2.DefineCampaign(settings=asked, contacts=contacts)),
        InvalidArgument,
        "invalid-argument",
    )
    assert violated_fields(error) == ["contacts"]

    # the most the budget lets in, every contact dialled by its longest agent: it fits its record
    fitting = 0
    while campaigns.room_taken(list(agents), contacts[: fitting + 1]) <= campaigns.STATE_BYTES:
        fitting += 1
    one_too_many = commands_pb2.DefineCampaign(settings=asked, contacts=contacts[: fitting + 1])
    refused(lambda: campaign.send(0, define=one_too_many), InvalidArgument, "invalid-argument")
    campaign.send(0, define=commands_pb2.DefineCampaign(settings=asked, contacts=contacts[:fitting]))
    state = campaign.state
    busy = campaigns.CampaignContact("x", long_name, DIALLING, 10, NO_ANSWER, "c" * 36, agents[0], T0, T0)
    worst = dataclasses.replace(
        state,
        contacts=tuple(dataclasses.replace(busy, number=c.number) for c in state.contacts),
        last_dial=dict.fromkeys(agents, T0),
        dialling_agents={a: i for i, a in enumerate(agents)},
    )
    assert len(StateCodec(CampaignState).encode(worst)) <= campaigns.STATE_BYTES


def test_a_line_that_no_longer_has_the_campaign_s_caller_id_stops_its_dials() -> None:
    directory = Directory()
    campaign = running(directory)
    line = directory.lines["sales"]
    directory.lines["sales"] = dataclasses.replace(line, numbers=("15885678",))

    refused(lambda: campaign.dial("kim"), IllegalTransition, "caller-id-not-of-line")
    agents = {"kim": ready_since(0)}
    assert dials(TENANT, [campaign.entry], agents.get, directory, at(5)) == []


def test_an_answer_after_the_timer_gave_the_dial_up_still_reaches_the_contact() -> None:
    campaign = running(numbers=NUMBERS[:1])  # type: ignore[arg-type]
    [dialled] = campaign.dial("kim")
    assert isinstance(dialled, events_pb2.CampaignContactDialled)
    campaign.outcome(dialled.call_id, events_pb2.CALLBACK_OUTCOME_FAILED, no_call=True)
    assert campaign.state.contacts[0].status == WAITING

    refused(lambda: campaign.outcome(dialled.call_id, NO_ANSWER, t=40), IllegalTransition, NOT_CURRENT)
    assert campaign.outcome(dialled.call_id, CONNECTED, t=41) == [
        events_pb2.CampaignContactAttempted(contact=0, call_id=dialled.call_id, outcome=CONNECTED),
        events_pb2.CampaignStatusChanged(status=COMPLETED, previous_status=RUNNING),
    ]
    assert campaign.state.contacts[0].status == REACHED


def test_the_pacer_gives_the_due_contact_to_the_agent_ready_longest_and_renames_its_dial_each_minute() -> (
    None
):
    campaign = running(numbers=NUMBERS[:1])  # type: ignore[arg-type]
    agents = {"kim": ready_since(30), "lee": ready_since(10)}

    [dial] = dials(TENANT, [campaign.entry], agents.get, campaign.directory, at(40))
    [later] = dials(TENANT, [campaign.entry], agents.get, campaign.directory, at(100))

    assert dial.dial.agent_id == "lee"
    assert later.meta.command_id != dial.meta.command_id  # a refusal is not cached for ever
    assert (
        dials(TENANT, [campaign.entry], agents.get, campaign.directory, at(40), pending={"lee"})[
            0
        ].dial.agent_id
        == "kim"
    )


class Bus:
    """Answers each dial as the campaign would: accepted at a version, or refused."""

    def __init__(self, refuse: set[str]) -> None:
        self.refuse = refuse
        self.sent: list[commands_pb2.CampaignCommand] = []

    async def send(self, topics: object, command: commands_pb2.CampaignCommand) -> types_pb2.CommandReply:
        self.sent.append(command)
        if command.dial.agent_id in self.refuse:
            raise IllegalTransition("no-contact-due", "none due")
        return types_pb2.CommandReply(aggregate_version=9)


async def test_the_pacer_gives_an_agent_whose_dial_was_accepted_nothing_else_until_the_model_shows_it() -> (
    None
):
    first, second = running(numbers=NUMBERS[:1]), running()  # type: ignore[arg-type]
    campaign_model: Projection[CampaignState, Any] = Projection(
        campaign_spec(CampaignRules(first.directory, first.directory)), "unused:9092"
    )
    for event in first.history.events:
        campaign_model._apply(event.SerializeToString(), 0)
    for event in second.history.events:  # the same history under another campaign id
        event.aggregate_id = "cmp-2"
        campaign_model._apply(event.SerializeToString(), 0)
    agent_model: Projection[AgentReadiness, Any] = Projection(AGENT_READINESS, "unused:9092")
    for version, agent_id in enumerate(("kim", "lee"), start=1):
        login = agent_events.AgentLoggedIn(initial_state=agent_events.AGENT_STATE_READY)
        event = envelope(
            login,
            context="routing",
            aggregate_type="agent",
            aggregate_id=agent_id,
            version=version,
            when=at(1),
        )
        agent_model._apply(event.SerializeToString(), 0)
    pacer = CampaignPacer(campaign_model, agent_model, first.directory, clock=lambda: at(5))
    bus = Bus(refuse={"lee"})

    await pacer.pace(bus)  # type: ignore[arg-type]
    assert [(c.meta.aggregate_id, c.dial.agent_id) for c in bus.sent] == [("cmp-1", "kim"), ("cmp-2", "lee")]
    bus.sent.clear()
    await pacer.pace(bus)  # type: ignore[arg-type]
    # kim's dial was accepted (the model has not shown it): nothing for kim; lee's refused dial is not
    # resent, though lee, free, may try cmp-1's due contact (the campaign decides whether kim took it)
    assert [(c.meta.aggregate_id, c.dial.agent_id) for c in bus.sent] == [("cmp-1", "lee")]
