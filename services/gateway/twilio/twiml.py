"""What a Twilio call does next, as TwiML built with the library, from the call as telephony has it: no
I/O, so every answer is a pure function of the call, the flow node it waits on and the agent it rings.

| the call                  | TwiML                                                                   |
|---------------------------|-------------------------------------------------------------------------|
| at a menu or collect node | `<Say>` what it was told, `<Gather>` around the prompt, then a          |
|                           | `<Redirect>` that reports an empty entry (the caller's timeout)         |
| at a voicemail node       | `<Say>` the prompt, `<Record>`, then `<Hangup>` when nothing was said  |
| queued                    | `<Say>` any announcement, `<Enqueue>` in a waiting room of its own     |
| waiting for a callback    | `<Say>` what it was told, `<Hangup>`: its place is kept                 |
| ringing an agent          | `<Dial>` the agent's endpoint; its `url` reports the answer             |
| connected                 | nothing: the `<Dial>` bridge goes on                                    |
| transferred out           | `<Say>` any last announcement, `<Dial>` the number                      |
| ended                     | `<Say>` any last announcement, `<Hangup>`                               |

Routing is the platform's, so `<Enqueue>` is only where the caller waits: each call has a Twilio queue
named by its call id, and the dialer (`dialer.py`) moves the call out of it when an agent is chosen.
"""

from dataclasses import dataclass
from urllib.parse import urlencode

from cc.telephony.v1 import events_pb2, telephony_pb2
from twilio.twiml.voice_response import Dial, VoiceResponse

from services.common import numbers

Status = telephony_pb2.CallStatus
# How long Twilio waits for the caller's first key (and between keys) before the entry counts as none.
GATHER_TIMEOUT_SECONDS = 5
# Twilio's own ring limit on the agent's leg; the platform's ring timeout (RONA) usually comes first.
DIAL_TIMEOUT_SECONDS = 60
PREFIX = "/v1/adapters/twilio"


@dataclass(frozen=True)
class Urls:
    """Where Twilio reports back, under `base` (CC_TWILIO_PUBLIC_URL: Twilio would resolve a relative
    URL against the host alone, losing any path the public URL has)."""

    base: str = ""

    def to(self, name: str, **query: str | int) -> str:
        return f"{self.base}{PREFIX}/{name}?{urlencode(query)}"


def render(
    call: telephony_pb2.Call,
    node: events_pb2.FlowNode | None,
    endpoint: str,
    urls: Urls,
    language: str,
) -> str:
    """The TwiML for `call` now; `node` is the flow node it waits on in the IVR, `endpoint` where the
    agent it rings answers (empty: none known)."""
    response = VoiceResponse()
    told = list(call.heard)
    if call.status == Status.CALL_STATUS_IN_IVR and node is not None and node.type in ("menu", "collect"):
        prompt = told.pop() if told else ""
        _say(response, told, language)
        action = urls.to("digits", call_id=call.call_id, version=call.version)
        gather = response.gather(
            input="dtmf",
            action=action,
            method="POST",
            timeout=GATHER_TIMEOUT_SECONDS,
            **_entry_length(node),
        )
        _say(gather, [prompt], language)
        response.redirect(action, method="POST")  # no key pressed: an entry of nothing
    elif call.status == Status.CALL_STATUS_IN_IVR and node is not None and node.type == "voicemail":
        _say(response, told, language)
        seconds = int(node.parameters.get("max_seconds") or 120)
        response.record(action=urls.to("recording", call_id=call.call_id), method="POST", max_length=seconds)
        response.hangup()  # the caller said nothing: Twilio reaches here without calling the action
    elif call.HasField("callback") and call.status != Status.CALL_STATUS_CONNECTED:
        _say(response, told, language)  # the caller hangs up: the call keeps its place for the callback
        response.hangup()
    elif call.status == Status.CALL_STATUS_QUEUED or (
        call.status == Status.CALL_STATUS_RINGING and not endpoint
    ):
        # an agent without an endpoint cannot be rung here: the platform's ring timeout moves the call on
        _say(response, told, language)
        response.enqueue(call.call_id)
    elif call.status == Status.CALL_STATUS_RINGING:
        # the version names this ring: a second ring of the same agent is another answer and dial end
        ring: dict[str, str | int] = {
            "call_id": call.call_id,
            "agent_id": call.agent_id,
            "version": call.version,
        }
        answered = urls.to("answered", **ring)
        dial = Dial(
            action=urls.to("dialed", **ring),
            method="POST",
            timeout=DIAL_TIMEOUT_SECONDS,
            answer_on_bridge=True,
        )
        _dial_endpoint(dial, endpoint, answered)
        response.append(dial)
    elif call.status == Status.CALL_STATUS_CONNECTED:
        pass  # the bridge holds the call; an empty answer changes nothing
    elif (
        call.end_reason == events_pb2.END_REASON_TRANSFERRED_OUT and call.ended_by == events_pb2.PARTY_SYSTEM
    ):
        _say(response, told, language)  # the flow's transfer node: Twilio connects the caller on
        response.dial(e164(call.transferred_to))
    else:  # ended
        _say(response, told, language)
        response.hangup()
    return str(response)


def dial_out(number: str) -> str:
    """The agent transferred the call to an outside number: Twilio connects the caller to it, and the
    call is over for the platform."""
    response = VoiceResponse()
    response.dial(e164(number))
    return str(response)


def e164(number: str) -> str:
    """A number as Twilio dials it, E.164: + and its digits. The platform keeps numbers' digits (and
    lines' numbers as written), so numbers meant for Twilio are written with their country code
    (+82 10-..., not 010-...)."""
    return f"+{numbers.canonical(number).removeprefix('+')}"


def connect_agent(call: telephony_pb2.Call, endpoint: str, urls: Urls) -> str:
    """The customer answered an outbound leg (an outbound call, a callback's attempt): `<Dial>` the agent
    who is on the call; the `<Dial>`'s end is reported as a ring's is (`dialed`: the agent's leg ended,
    or the customer's). An agent without an endpoint cannot be reached here: the leg is hung up."""
    response = VoiceResponse()
    if not endpoint:
        response.hangup()
        return str(response)
    this: dict[str, str | int] = {"call_id": call.call_id, "agent_id": call.agent_id, "version": call.version}
    dial = Dial(action=urls.to("dialed", **this), method="POST", timeout=DIAL_TIMEOUT_SECONDS)
    _dial_endpoint(dial, endpoint, "")
    response.append(dial)
    return str(response)


def hang_up() -> str:
    """The call (or, answering the agent's leg, that leg) ends."""
    response = VoiceResponse()
    response.hangup()
    return str(response)


def bridge() -> str:
    """Answering the agent's leg: nothing to do, so Twilio connects it to the caller."""
    return str(VoiceResponse())


def _say(verb: VoiceResponse, texts: list[str], language: str) -> None:
    for text in texts:
        if text:
            verb.say(text, language=language)


def _entry_length(node: events_pb2.FlowNode) -> dict[str, int | str]:
    """Let Twilio hand over the entry as soon as it is complete: at a menu whose options are all as long,
    that many keys; at a collect node of one length, that many; else up to `#` or the timeout."""
    if node.type == "menu":
        lengths = {len(option) for option in node.branches}
        return {"num_digits": lengths.pop()} if len(lengths) == 1 else {"finish_on_key": "#"}
    fewest, most = node.parameters.get("min_digits", "1"), node.parameters.get("max_digits", "16")
    return {"num_digits": int(most)} if fewest == most else {"finish_on_key": "#"}


def _dial_endpoint(dial: Dial, endpoint: str, answered: str) -> None:
    """`sip:…` rings a SIP address, `client:name` a Twilio Client identity, anything else a number;
    `answered` (when given) is asked when the agent picks up."""
    told: dict[str, str] = {"url": answered, "method": "POST"} if answered else {}
    if endpoint.startswith("sip:"):
        dial.sip(endpoint, **told)
    elif endpoint.startswith("client:"):
        dial.client(endpoint.removeprefix("client:"), **told)
    else:
        dial.number(endpoint, **told)
