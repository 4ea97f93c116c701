"""The Twilio adapter (TEL-10) end to end: the test is Twilio. It sends the webhooks a real number would,
signed by the `twilio` library with the account's token, follows the TwiML answers, and stands in for
Twilio's REST API on loopback (CC_TWILIO_API_URL), where the gateway's dialer sends its call updates
with the library's own HTTP client."""

import asyncio
import json
import queue
import threading
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from twilio.request_validator import RequestValidator

from services.common.command_bus import created_id
from services.platform import Platform
from tests.e2e.platform import TWILIO_ACCOUNT_SID, TWILIO_TOKEN
from tests.e2e.support import until
from tests.e2e.test_call_life import ok

ADMIN = {"X-API-Key": "e2e-twilio-admin"}
VOICE = "/v1/adapters/twilio/voice"
ENDPOINT = "+82212340001"  # the agent's desk phone, which Twilio dials


class TwilioApi:
    """Twilio's REST API on loopback: each call update the dialer sends, as (path, form)."""

    def __init__(self, port: int) -> None:
        self.updates: queue.Queue[tuple[str, dict[str, str]]] = queue.Queue()
        updates = self.updates

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = dict(parse_qsl(self.rfile.read(length).decode()))
                updates.put((self.path, form))
                # an update answers with its call; a new call gets a sid of its own, after its number
                sid = self.path.rsplit("/", 1)[-1].removesuffix(".json")
                body = json.dumps({"sid": f"CA{form['To'][1:]}" if sid == "Calls" else sid}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)

    async def next_update(self, call_sid: str, having: str = "Url") -> dict[str, str]:
        """The next update of that call that sets `having` (Url: a redirect, Status: the end), past any
        redirect of a ring the test did not wait for."""
        calls = f"/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}/Calls"
        return await self._next(lambda path, form: path == f"{calls}/{call_sid}.json" and having in form)

    async def next_create(self, to: str) -> dict[str, str]:
        """The next call the dialer places at Twilio to `to`."""
        calls = f"/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}/Calls.json"
        return await self._next(lambda path, form: path == calls and form.get("To") == to)

    async def _next(self, wanted: Callable[[str, dict[str, str]], bool]) -> dict[str, str]:
        """The next request the dialer sent that is `wanted` (45 s at most: the dialer follows events on
        a loaded machine)."""
        async with asyncio.timeout(45):
            while True:
                try:
                    path, form = await asyncio.to_thread(self.updates.get, timeout=1)
                except queue.Empty:
                    continue
                if wanted(path, form):
                    return form
        raise AssertionError("unreachable")


@pytest.fixture
def twilio_api(platform: Platform) -> Iterator[TwilioApi]:
    api = TwilioApi(int(platform.env["CC_TWILIO_API_URL"].rsplit(":", 1)[1]))
    serving = threading.Thread(target=api.server.serve_forever, daemon=True)
    serving.start()
    yield api
    api.server.shutdown()
    api.server.server_close()


@pytest.fixture
async def rest(platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    base = f"http://127.0.0.1:{platform.settings.gateway_port}"
    async with httpx.AsyncClient(base_url=base, headers=ADMIN, timeout=30) as client:
        yield client


async def twilio(rest: httpx.AsyncClient, url: str, **form: str) -> httpx.Response:
    """A webhook as Twilio sends it: the account's form, signed over the full URL."""
    form = {"AccountSid": TWILIO_ACCOUNT_SID, **form}
    full = f"{rest.base_url}{url.removeprefix(str(rest.base_url))}"
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(full, form)
    return await rest.post(full, data=form, headers={"X-Twilio-Signature": str(signature), "X-API-Key": ""})


def twiml(response: httpx.Response) -> ET.Element:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    return ET.fromstring(response.text)


def verbs(response: ET.Element) -> list[str]:
    return [verb.tag for verb in response]


async def test_a_webhook_not_signed_by_the_account_is_refused(rest: httpx.AsyncClient) -> None:
    form = {"AccountSid": TWILIO_ACCOUNT_SID, "CallSid": "CAforged", "From": "+8210", "To": "1588"}
    unsigned = await rest.post(VOICE, data=form, headers={"X-API-Key": ""})
    wrong = RequestValidator("not-the-token").compute_signature(f"{rest.base_url}{VOICE}", form)
    forged = await rest.post(VOICE, data=form, headers={"X-Twilio-Signature": str(wrong), "X-API-Key": ""})

    for refused in (unsigned, forged):
        assert (refused.status_code, refused.json()["error_id"]) == (403, "invalid-twilio-signature")
    never_offered = created_id("call", "tenant-twilio", "twilio-CAforged")
    assert (await rest.get(f"/v1/calls/{never_offered}")).status_code == 404
    nothing = await twilio(rest, "/v1/adapters/twilio/status", CallSid="CAforged", CallStatus="completed")
    assert nothing.status_code == 204  # the status of a call never offered changes nothing


async def test_a_twilio_call_through_the_ivr_to_an_agent(
    rest: httpx.AsyncClient, twilio_api: TwilioApi
) -> None:
    profile = {"site_id": "seoul", "skills": [{"name": "member", "proficiency": 5}], "endpoint": ENDPOINT}
    ok(await rest.put("/v1/agents/tw-kim/profile", json=profile))
    ok(await rest.post("/v1/agents/tw-kim/login", json={}))
    sid = "CAe2e0000000000000000000000000001"

    # The number is called: the default line's welcome, then its menu in a <Gather>.
    first = twiml(
        await twilio(rest, VOICE, CallSid=sid, From="+821077770001", To="1588", CallStatus="ringing")
    )
    assert verbs(first) == ["Say", "Gather", "Redirect"]
    assert first[1].get("numDigits") == "1"
    again = twiml(
        await twilio(rest, VOICE, CallSid=sid, From="+821077770001", To="1588", CallStatus="ringing")
    )
    assert first[1].get("action") == again[1].get("action")  # Twilio's retry: the same call
    call_id = dict(parse_qsl(urlsplit(first[1].get("action", "")).query))["call_id"]
    call = ok(await rest.get(f"/v1/calls/{call_id}"))
    assert (call["carrier_ref"], call["ani"], call["status"]) == (sid, "+821077770001", "in-ivr")

    # Silence until Twilio's timeout: its <Redirect> reports no entry, a miss; the menu is played again.
    replayed = twiml(await twilio(rest, first[2].text or "", CallSid=sid))
    assert verbs(replayed) == ["Gather", "Redirect"]
    assert ok(await rest.get(f"/v1/calls/{call_id}"))["ivr_digits"] == [""]

    # 1: member enquiries. The caller waits in <Enqueue> until routing rings tw-kim and the dialer moves
    # the live call back to the voice webhook, which dials the agent.
    queued = twiml(await twilio(rest, replayed[0].get("action", ""), CallSid=sid, Digits="1"))
    assert verbs(queued) in (["Enqueue"], ["Dial"])  # routing may have been quicker than the answer

    # tw-kim's phone rings out: Twilio ends the <Dial> as no-answer; the call goes back to its place.
    dial = await dial_of(rest, twilio_api, sid, call_id)
    form = {"CallSid": sid, "DialCallStatus": "no-answer", "CallStatus": "in-progress"}
    back = twiml(await twilio(rest, dial[0].get("action", ""), **form))
    assert verbs(back) == ["Enqueue"]
    await ready_again(rest)
    connected, dial = await answered_by_kim(rest, twilio_api, sid, call_id)
    assert connected["carrier_ref"] == sid

    # The agent hangs up at the desktop: the dialer ends the call at Twilio; Twilio then reports the end
    # of the <Dial>, which finds the call over.
    ok(await rest.post(f"/v1/calls/{call_id}/hangup", json={"party": "agent"}))
    assert await twilio_api.next_update(sid, "Status") == {"Status": "completed"}
    done = twiml(
        await twilio(
            rest,
            dial[0].get("action", ""),
            CallSid=sid,
            DialCallStatus="completed",
            CallStatus="in-progress",
        )
    )
    assert verbs(done) == ["Hangup"]
    ended = ok(await rest.get(f"/v1/calls/{call_id}"))
    assert (ended["status"], ended["ended_by"]) == ("ended", "agent")
    status = await twilio(rest, "/v1/adapters/twilio/status", CallSid=sid, CallStatus="completed")
    assert status.status_code == 204
    assert ok(await rest.get(f"/v1/calls/{call_id}"))["ended_by"] == "agent"  # not the caller's end


async def dial_of(
    rest: httpx.AsyncClient,
    twilio_api: TwilioApi,
    sid: str,
    call_id: str,
    endpoint: tuple[str, str] = ("Number", ENDPOINT),
) -> ET.Element:
    """Follow the dialer's updates to the <Dial> of an agent's `endpoint` (tw-kim's desk phone)."""
    for _ in range(5):
        moved = await twilio_api.next_update(sid)
        assert moved["Method"] == "POST"
        assert moved["Url"].startswith(f"{rest.base_url}{VOICE}?call_id={call_id}&version=")
        dial = twiml(await twilio(rest, moved["Url"], CallSid=sid))
        if verbs(dial) == ["Dial"]:
            number = dial[0][0]
            assert (number.tag, number.text) == endpoint
            return dial
        # the call went back to its queue meanwhile: the next update rings again
    raise AssertionError(f"{endpoint} was never dialled")


async def ready_again(rest: httpx.AsyncClient) -> None:
    """After a ring no answer (or a rejection) the agent is not ready until it says so."""
    await until(rest, "/v1/agents/tw-kim", lambda a: a["state"] == "not-ready", "tw-kim stayed ready")
    ok(await rest.put("/v1/agents/tw-kim/state", json={"state": "ready"}))


async def answered_by_kim(
    rest: httpx.AsyncClient, twilio_api: TwilioApi, sid: str, call_id: str
) -> tuple[dict[str, Any], ET.Element]:
    """Answer the agent's leg. The platform's ring timeout here is 3 s: on a loaded machine the answer may
    come after it, when the leg is hung up, the agent is made ready again and the call rings it again."""
    for _ in range(5):
        dial = await dial_of(rest, twilio_api, sid, call_id)
        leg = twiml(await twilio(rest, dial[0][0].get("url", ""), CallSid=f"{sid}-leg"))
        if verbs(leg) == []:  # the legs are bridged
            call: dict[str, Any] = ok(await rest.get(f"/v1/calls/{call_id}"))
            assert (call["status"], call["agent_id"]) == ("connected", "tw-kim")
            return call, dial
        assert verbs(leg) == ["Hangup"]
        await ready_again(rest)
    raise AssertionError("tw-kim never answered in time")


async def test_a_caller_who_hangs_up_while_queued_or_ringing_ends_the_call(
    rest: httpx.AsyncClient, twilio_api: TwilioApi
) -> None:
    profile = {
        "site_id": "seoul",
        "skills": [{"name": "payment", "proficiency": 5}],
        "endpoint": "client:lee",
    }
    ok(await rest.put("/v1/agents/tw-lee/profile", json=profile))
    ok(await rest.post("/v1/agents/tw-lee/login", json={}))

    async def queued(sid: str, digits: str) -> str:
        first = twiml(
            await twilio(rest, VOICE, CallSid=sid, From="+821077770002", To="1588", CallStatus="ringing")
        )
        waiting = twiml(await twilio(rest, first[1].get("action", ""), CallSid=sid, Digits=digits))
        assert verbs(waiting) in (["Enqueue"], ["Dial"])
        return dict(parse_qsl(urlsplit(first[1].get("action", "")).query))["call_id"]

    # 9: the general queue, which nobody here serves; the caller gives up waiting.
    general = await queued("CAe2e0000000000000000000000000002", "9")
    gone = await twilio(
        rest,
        "/v1/adapters/twilio/status",
        CallSid="CAe2e0000000000000000000000000002",
        CallStatus="completed",
    )
    assert gone.status_code == 204
    ended = await until(rest, f"/v1/calls/{general}", lambda c: c["status"] == "ended", "never ended")
    assert (ended["ended_by"], ended["end_reason"]) == ("caller", "abandoned-in-queue")

    # 2: payment, tw-lee's (a Twilio Client); the caller hangs up while it rings: the <Dial> ends as
    # canceled with the call completed. The call is the caller's to end, not tw-lee's to reject.
    sid = "CAe2e0000000000000000000000000003"
    payment = await queued(sid, "2")
    dial = await dial_of(rest, twilio_api, sid, payment, endpoint=("Client", "lee"))
    form = {"CallSid": sid, "DialCallStatus": "canceled", "CallStatus": "completed"}
    assert verbs(twiml(await twilio(rest, dial[0].get("action", ""), **form))) == ["Hangup"]
    call = ok(await rest.get(f"/v1/calls/{payment}"))
    assert (call["status"], call["ended_by"]) == ("ended", "caller")
    lee = await until(rest, "/v1/agents/tw-lee", lambda a: a["state"] != "reserved", "tw-lee stayed reserved")
    assert lee["state"] == "ready"  # not marked as passing on the call


async def test_an_agent_calls_a_customer_through_twilio_which_reports_the_leg(
    rest: httpx.AsyncClient, twilio_api: TwilioApi
) -> None:
    all_day = dict.fromkeys(("mon", "tue", "wed", "thu", "fri", "sat", "sun"), "00:00-24:00")
    line = {"numbers": ["+82215770001"], "hours": {"time_zone": "Asia/Seoul", "weekly": all_day}}
    ok(await rest.put("/v1/lines/tw-sales", json=line))
    for agent, endpoint in (
        ("tw-park", "+82212340003"),
        ("tw-choi", "+82212340004"),
        ("tw-han", "+82212340005"),
    ):
        profile = {"site_id": "seoul", "skills": [{"name": "outbound-only"}], "endpoint": endpoint}
        ok(await rest.put(f"/v1/agents/{agent}/profile", json=profile))
        ok(await rest.post(f"/v1/agents/{agent}/login", json={}))

    async def placed(agent: str, customer: str, to: str) -> tuple[str, dict[str, str]]:
        dialling = {"agent_id": agent, "number": customer, "line_id": "tw-sales"}
        call = ok(await rest.post("/v1/calls/outbound", json=dialling), 201)
        return call["call_id"], await twilio_api.next_create(to)

    # Twilio calls the customer from the line's number; they answer, and tw-park's desk phone is bridged.
    call_id, created = await placed("tw-park", "+82 10-7777-0011", "+821077770011")
    assert created["From"] == "+82215770001" and created["Url"].startswith(f"{rest.base_url}/v1/adapters")
    leg = "CA821077770011"  # the sid Twilio answered the placement with
    await until(
        rest, f"/v1/calls/{call_id}", lambda c: c["carrier_ref"] == leg, "the ringing leg was never kept"
    )
    bridge = twiml(await twilio(rest, created["Url"], CallSid=leg, CallStatus="in-progress"))
    assert verbs(bridge) == ["Dial"] and (bridge[0][0].tag, bridge[0][0].text) == ("Number", "+82212340003")
    call = ok(await rest.get(f"/v1/calls/{call_id}"))
    assert (call["status"], call["carrier_ref"], call["direction"]) == ("connected", leg, "outbound")

    # Another leg's end (a leg Twilio placed twice, say) ends nothing: the call is with this leg.
    stray = await twilio(
        rest, created["StatusCallback"], CallSid="CAe2e0000000000000000000000000099", CallStatus="completed"
    )
    assert stray.status_code == 204
    assert ok(await rest.get(f"/v1/calls/{call_id}"))["status"] == "connected"

    # tw-park hangs up at the desktop: the dialer ends the leg at Twilio, whose status then finds it over.
    ok(await rest.post(f"/v1/calls/{call_id}/hangup", json={"party": "agent"}))
    assert await twilio_api.next_update(leg, "Status") == {"Status": "completed"}
    status = await twilio(rest, created["StatusCallback"], CallSid=leg, CallStatus="completed")
    assert status.status_code == 204
    assert ok(await rest.get(f"/v1/calls/{call_id}"))["ended_by"] == "agent"

    # The next customer does not answer: the leg's final status ends the call unanswered.
    call_id, created = await placed("tw-choi", "+821077770012", "+821077770012")
    unanswered = "CA821077770012"
    status = await twilio(rest, created["StatusCallback"], CallSid=unanswered, CallStatus="no-answer")
    assert status.status_code == 204
    ended = ok(await rest.get(f"/v1/calls/{call_id}"))
    assert (ended["status"], ended["end_reason"]) == ("ended", "outbound-no-answer")
    late = twiml(await twilio(rest, created["Url"], CallSid=unanswered, CallStatus="in-progress"))
    assert verbs(late) == ["Hangup"]  # an answer after the call was given up connects nobody

    # tw-han gives up before the customer answers: Twilio stops ringing them.
    call_id, created = await placed("tw-han", "+821077770013", "+821077770013")
    ringing = "CA821077770013"
    await until(rest, f"/v1/calls/{call_id}", lambda c: c["carrier_ref"] == ringing, "the leg was never kept")
    ok(await rest.post(f"/v1/calls/{call_id}/hangup", json={"party": "agent"}))
    assert await twilio_api.next_update(ringing, "Status") == {"Status": "canceled"}
