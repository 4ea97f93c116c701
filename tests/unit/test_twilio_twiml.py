"""The TwiML the Twilio adapter answers for each state of a call (TEL-10): pure, from the call, the flow
node it waits on and the agent's endpoint."""

import xml.etree.ElementTree as ET

from cc.telephony.v1 import events_pb2, telephony_pb2

from services.gateway.twilio import twiml

Status = telephony_pb2.CallStatus
URLS = twiml.Urls()
MENU = events_pb2.FlowNode(
    id="main", type="menu", parameters={"prompt": "Press 1 or 2"}, branches={"1": "a", "2": "b"}, next="a"
)


def call(status: "Status.ValueType", *heard: str, **fields: object) -> telephony_pb2.Call:
    return telephony_pb2.Call(call_id="c-1", status=status, heard=heard, version=4, **fields)  # type: ignore[arg-type]


def render(
    found: telephony_pb2.Call, node: events_pb2.FlowNode | None = None, endpoint: str = ""
) -> ET.Element:
    return ET.fromstring(twiml.render(found, node, endpoint, URLS, "ko-KR"))


def verbs(response: ET.Element) -> list[str]:
    return [verb.tag for verb in response]


def test_a_menu_says_the_announcements_then_gathers_around_its_prompt() -> None:
    response = render(call(Status.CALL_STATUS_IN_IVR, "Welcome", "Press 1 or 2"), MENU)

    assert verbs(response) == ["Say", "Gather", "Redirect"]
    assert response[0].text == "Welcome" and response[0].get("language") == "ko-KR"
    gather = response[1]
    assert [(say.tag, say.text) for say in gather] == [("Say", "Press 1 or 2")]
    # every option is one key long: Twilio hands the entry over at the first key
    assert gather.get("numDigits") == "1" and gather.get("finishOnKey") is None
    assert gather.get("action") == "/v1/adapters/twilio/digits?call_id=c-1&version=4"
    # nothing pressed before the timeout: the same action, with no Digits
    assert response[2].text == gather.get("action") and response[2].get("method") == "POST"


def test_a_menu_with_options_of_different_lengths_waits_for_hash() -> None:
    menu = events_pb2.FlowNode(
        id="m", type="menu", parameters={"prompt": "p"}, branches={"1": "a", "10": "b"}
    )

    gather = render(call(Status.CALL_STATUS_IN_IVR, "p"), menu)[0]

    assert gather.get("numDigits") is None and gather.get("finishOnKey") == "#"


def test_a_collect_node_of_one_length_takes_that_many_keys() -> None:
    exact = events_pb2.FlowNode(
        id="pin", type="collect", parameters={"prompt": "PIN", "min_digits": "4", "max_digits": "4"}
    )
    ranged = events_pb2.FlowNode(id="card", type="collect", parameters={"prompt": "Card", "masked": "true"})

    assert render(call(Status.CALL_STATUS_IN_IVR, "PIN"), exact)[0].get("numDigits") == "4"
    assert render(call(Status.CALL_STATUS_IN_IVR, "Card"), ranged)[0].get("finishOnKey") == "#"


def test_a_voicemail_node_records_up_to_its_limit_then_hangs_up() -> None:
    node = events_pb2.FlowNode(
        id="vm", type="voicemail", parameters={"prompt": "Leave a message", "max_seconds": "60"}
    )

    response = render(call(Status.CALL_STATUS_IN_IVR, "Closed", "Leave a message"), node)

    assert verbs(response) == ["Say", "Say", "Record", "Hangup"]
    record = response[2]
    assert record.get("maxLength") == "60"
    assert record.get("action") == "/v1/adapters/twilio/recording?call_id=c-1"


def test_a_queued_call_waits_in_a_twilio_queue_of_its_own() -> None:
    response = render(call(Status.CALL_STATUS_QUEUED, "Please hold"))

    assert verbs(response) == ["Say", "Enqueue"]
    assert response[1].text == "c-1"


def test_a_ringing_call_dials_the_agents_endpoint_and_learns_of_the_answer() -> None:
    for endpoint, noun, address in (
        ("+82212345678", "Number", "+82212345678"),
        ("sip:kim@pbx.example.com", "Sip", "sip:kim@pbx.example.com"),
        ("client:kim", "Client", "kim"),
    ):
        response = render(call(Status.CALL_STATUS_RINGING, agent_id="kim"), endpoint=endpoint)

        assert verbs(response) == ["Dial"]
        dial = response[0]
        # the version names the ring: the next ring of the same agent is another answer and dial end
        assert dial.get("action") == "/v1/adapters/twilio/dialed?call_id=c-1&agent_id=kim&version=4"
        assert dial.get("answerOnBridge") == "true"
        assert [(n.tag, n.text) for n in dial] == [(noun, address)]
        assert dial[0].get("url") == "/v1/adapters/twilio/answered?call_id=c-1&agent_id=kim&version=4"


def test_an_agent_without_an_endpoint_leaves_the_caller_waiting() -> None:
    response = render(call(Status.CALL_STATUS_RINGING, agent_id="kim"))

    assert verbs(response) == ["Enqueue"]


def test_a_connected_call_keeps_its_bridge() -> None:
    assert verbs(render(call(Status.CALL_STATUS_CONNECTED, agent_id="kim"))) == []


def test_an_ended_call_says_its_last_announcement_and_hangs_up() -> None:
    response = render(call(Status.CALL_STATUS_ENDED, "Goodbye"))

    assert [(verb.tag, verb.text) for verb in response] == [("Say", "Goodbye"), ("Hangup", None)]


def test_a_call_the_flow_transferred_out_says_its_announcement_and_dials_the_number() -> None:
    transferred = call(
        Status.CALL_STATUS_ENDED,
        "Connecting you to our partner",
        end_reason=events_pb2.END_REASON_TRANSFERRED_OUT,
        ended_by=events_pb2.PARTY_SYSTEM,
        transferred_to="+82 2-1588-7000",
    )

    assert [(verb.tag, verb.text) for verb in render(transferred)] == [
        ("Say", "Connecting you to our partner"),
        ("Dial", "+82215887000"),  # E.164, as Twilio dials
    ]
    by_agent = call(
        Status.CALL_STATUS_ENDED,
        end_reason=events_pb2.END_REASON_TRANSFERRED_OUT,
        ended_by=events_pb2.PARTY_AGENT,
        transferred_to="+8215887000",
    )
    assert verbs(render(by_agent)) == ["Hangup"]  # the dialer dialled it already: not a second time


def test_a_customer_who_answers_an_outbound_leg_is_bridged_to_the_agent() -> None:
    connected = call(Status.CALL_STATUS_CONNECTED, agent_id="kim")

    [dial] = ET.fromstring(twiml.connect_agent(connected, "sip:kim@pbx.example.com", URLS))
    assert dial.tag == "Dial" and dial.attrib["action"].startswith("/v1/adapters/twilio/dialed?call_id=c-1")
    assert [(leg.tag, leg.text, leg.attrib) for leg in dial] == [("Sip", "sip:kim@pbx.example.com", {})]
    assert verbs(ET.fromstring(twiml.connect_agent(connected, "", URLS))) == ["Hangup"]


def test_a_caller_who_accepts_a_callback_hangs_up_and_keeps_the_place() -> None:
    waiting = call(
        Status.CALL_STATUS_QUEUED, "We will call you back", callback=telephony_pb2.Callback(number="+8210")
    )

    assert verbs(render(waiting)) == ["Say", "Hangup"]


def test_urls_are_absolute_under_a_base() -> None:
    urls = twiml.Urls("https://cc.example.com")

    assert urls.to("voice", call_id="c 1") == "https://cc.example.com/v1/adapters/twilio/voice?call_id=c+1"
