"""The web console in a real browser (Debian's Chromium, driven by Playwright): a supervisor signs in,
the key stays out of the page's reach, the wallboard paints a tile per queue from the one tenant-wide
stream and picks up a new queue live, a failed sign-in says why, signing out ends the session, and the
agent grid shows each agent's state and lets a supervisor take one off or put it back. An agent signs in
with its own key to the agent desktop, logs in from its profile, takes a break with a reason, sees the call
offered to it pop up with its caller, answers, holds, resumes and hangs up, and files the call's ticket
(category, note, canned reply, status) after the call; once the desk is closed, its agent loses
presence and goes not ready. The wallboard charts today's service level hour by hour from the call
statistics."""

import contextlib
import json
import os
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import ConsoleMessage, Locator, Page, async_playwright, expect
from playwright.async_api import TimeoutError as PlaywrightTimeout

from services.common.settings import REPO_ROOT
from services.platform import Platform
from tests.e2e.platform import PRESENCE_TIMEOUT_SECONDS
from tests.e2e.support import journey_to_the_end
from tests.e2e.test_call_life import eventually, ok

CHROMIUM = Path("/usr/bin/chromium")
# As this machine's browser tests need it: no sandbox as root, no calls home (its network is closed).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ADMIN, SUPERVISOR = "e2e-console", "e2e-console-supervisor"
CHART_ADMIN, CHART_SUPERVISOR = "e2e-console-chart", "e2e-console-chart-supervisor"
ANALYTICS_ADMIN, ANALYST = "e2e-console-analytics", "e2e-console-analyst"
FLOOR_ADMIN, FLOOR_SUPERVISOR = "e2e-console-floor", "e2e-console-floor-supervisor"
FLOOR_AGENT_KEY, FLOOR_AGENT = "e2e-console-floor-lee", "console-lee"
SCREENSHOTS = REPO_ROOT / ".local" / "console-screenshots"
LIVE_SECONDS = 20_000  # ms: the stream sends once a second; a loaded CI machine stalls for seconds

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists() and not os.environ.get("CI"),
    reason="Debian's chromium is not installed (apt-get install chromium); CI installs it",
)


class ConsoleErrors:
    """The page's script errors and failed loads. An API's answer the page expects is not one: 401 (a
    signed-out page asking who it is, a refused sign-in), 404 (the desk asking for its agent before the
    first log-in, or for its call while it has none), and any a test names with `expect_answer`. A page's
    own file missing is a failure still."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.expected = [(status, "/v1/") for status in (401, 404)]

    def expect_answer(self, status: int, url_part: str) -> None:
        self.expected.append((status, url_part))

    def said(self, said: ConsoleMessage) -> None:
        if said.type == "error":
            self.seen.append(f"{said.text} at {said.location.get('url', '')}")

    def failures(self) -> list[str]:
        return [
            error
            for error in self.seen
            if not any(f"status of {status}" in error and part in error for status, part in self.expected)
        ]


@pytest.fixture
def console_errors() -> ConsoleErrors:
    return ConsoleErrors()


@pytest.fixture
async def page(platform: Platform, console_errors: ConsoleErrors) -> AsyncIterator[Page]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            # A browser in Seoul on a machine that keeps UTC: what the page makes of local time shows.
            context = await browser.new_context(
                base_url=f"http://127.0.0.1:{platform.settings.gateway_port}", timezone_id="Asia/Seoul"
            )
            page = await context.new_page()
            # A script error or a CSP refusal fails the test, whatever the page still shows.
            page.on("pageerror", lambda error: console_errors.seen.append(str(error)))
            page.on("console", console_errors.said)
            yield page
            assert console_errors.failures() == []
        finally:
            await browser.close()


async def test_a_supervisor_signs_in_and_watches_every_queue_live(page: Page, platform: Platform) -> None:
    base = f"http://127.0.0.1:{platform.settings.gateway_port}"
    await page.goto("/console/")
    key = page.get_by_label("API key", exact=True)
    await key.fill("not-a-key")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_contain_text("Sign-in failed", timeout=LIVE_SECONDS)

    await key.fill(ADMIN)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#who")).to_contain_text("admin, tenant-console", timeout=LIVE_SECONDS)
    assert "cc_session" not in await page.evaluate("document.cookie")  # HttpOnly: no script reads the key

    # A queue defined now shows up on the open wallboard, with zeros, from the live stream.
    async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": ADMIN}, timeout=30) as rest:
        body = {"queue_id": "console-live", "skills": [{"skill": "x"}]}
        ok(await rest.post("/v1/queues", json=body), 201)
    live = page.locator('[data-queue="console-live"]')
    await expect(live).to_be_visible(timeout=LIVE_SECONDS)
    await expect(live.locator('[data-fact="waiting"]')).to_have_text("0")
    await expect(page.get_by_role("status")).to_contain_text("Live:")
    # A tile's colour by its service level: green from 80 %, amber from 60 %, red below, none unmeasured.
    levels = await page.evaluate(
        "import('/console/console.js').then(m => [85, 80, 79.9, 60, 59.9, null].map(m.level))"
    )
    assert levels == ["good", "good", "warn", "warn", "bad", ""]

    # The session outlives a reload (the cookie), and signing out ends it.
    await page.reload()
    await expect(live).to_be_visible(timeout=LIVE_SECONDS)
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_label("API key", exact=True)).to_be_visible(timeout=LIVE_SECONDS)
    await expect(page.locator("[data-queue]")).to_have_count(0)  # nothing of the session stays behind
    assert (await page.request.get("/v1/session")).status == 401


async def sign_in(page: Page, key: str) -> None:
    await page.goto("/console/")
    await page.get_by_label("API key", exact=True).fill(key)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#who")).to_contain_text("tenant-console", timeout=LIVE_SECONDS)


async def test_a_supervisor_takes_an_agent_off_from_the_grid_and_filters_it_by_site(
    page: Page, platform: Platform
) -> None:
    base = f"http://127.0.0.1:{platform.settings.gateway_port}"
    async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": ADMIN}, timeout=30) as rest:
        for agent_id, site in (("console-ann", "seoul"), ("console-bo", "busan")):
            body = {"site_id": site, "skills": [{"name": "x", "proficiency": 5}]}
            ok(await rest.post(f"/v1/agents/{agent_id}/login", json=body))
        vip_queue = {"queue_id": "console-vip", "skills": [{"skill": "vip", "min_proficiency": 7}]}
        ok(await rest.post("/v1/queues", json=vip_queue), 201)
        await sign_in(page, SUPERVISOR)
        ann = page.locator('[data-agent="console-ann"]')
        await expect(ann.locator('[data-fact="state"]')).to_have_text("ready", timeout=LIVE_SECONDS)

        await page.get_by_role("button", name="Set not ready: console-ann").click()
        await expect(ann.locator('[data-fact="state"]')).to_have_text("not-ready", timeout=LIVE_SECONDS)
        await expect(ann.locator('[data-fact="reason"]')).to_have_text("supervisor")
        assert ok(await rest.get("/v1/agents/console-ann"))["state"] == "not-ready"

        await page.get_by_role("button", name="Set ready: console-ann").click()
        await expect(ann.locator('[data-fact="state"]')).to_have_text("ready", timeout=LIVE_SECONDS)

        # Skills, edited in place: a badly written list is refused in the page, a good one saved.
        skills = ann.locator('[data-fact="skills"]')
        await expect(skills).to_have_text("x:5")
        await page.get_by_role("button", name="Edit skills: console-ann").click()
        await page.get_by_role("textbox", name="Skills: console-ann").fill("vip")
        await page.get_by_role("button", name="Save skills: console-ann").click()
        await expect(page.get_by_role("alert").filter(has_text="name:level")).to_be_visible()
        await page.get_by_role("textbox", name="Skills: console-ann").fill("x:5, vip:8")
        # A refresh of the grid meanwhile (the time in state moves on) leaves the field as typed.
        in_state = ann.locator('[data-fact="in-state"]')
        await expect(in_state).not_to_have_text(await in_state.text_content() or "", timeout=LIVE_SECONDS)
        await expect(page.get_by_role("textbox", name="Skills: console-ann")).to_have_value("x:5, vip:8")
        await page.get_by_role("button", name="Save skills: console-ann").click()
        await expect(skills).to_have_text("x:5, vip:8", timeout=LIVE_SECONDS)
        saved = ok(await rest.get("/v1/agents/console-ann"))["skills"]
        assert {(s["name"], s["proficiency"]) for s in saved} == {("x", 5), ("vip", 8)}

    # By queue: the agents whose skills the queue's rules accept.
    queue_filter = page.locator("#queue-filter")
    await queue_filter.select_option("console-vip")
    await expect(page.locator('[data-agent="console-bo"]')).to_be_hidden()
    await expect(ann).to_be_visible()
    await queue_filter.select_option("")

    await page.get_by_label("Site", exact=True).select_option("busan")
    await expect(ann).to_be_hidden()
    await expect(page.locator('[data-agent="console-bo"]')).to_be_visible()
    # A queue's eligibility, as the filter reckons it: sites, then all or any of the skills at their minimum.
    verdicts = await page.evaluate(
        """import('/console/console.js').then(m => {
            const skills = [{name: 'vip', proficiency: 7}, {name: 'x', proficiency: 2}];
            const kim = {site_id: 'seoul', skills};
            const need = (skill, min) => ({skill, min_proficiency: min});
            return [
                m.eligible(kim, {skills: [need('vip', 7)]}), m.eligible(kim, {skills: [need('vip', 8)]}),
                m.eligible(kim, {skills: [need('vip', 7), need('x', 3)]}),
                m.eligible(kim, {skill_match: 'any-of', skills: [need('vip', 7), need('x', 3)]}),
                m.eligible(kim, {sites: ['busan'], skills: [need('vip', 1)]}),
            ];
        })"""
    )
    assert verdicts == [True, False, False, True, False]


async def test_the_console_speaks_korean_on_request_and_remembers_it(page: Page, platform: Platform) -> None:
    base = f"http://127.0.0.1:{platform.settings.gateway_port}"
    async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": ADMIN}, timeout=30) as rest:
        ok(await rest.post("/v1/queues", json={"queue_id": "console-ko", "skills": [{"skill": "x"}]}), 201)
    await sign_in(page, SUPERVISOR)
    heading = page.get_by_role("heading", level=1)
    await expect(heading).to_have_text("Wallboard")

    await page.get_by_role("button", name="한국어").click()
    await expect(heading).to_have_text("실시간 현황판")
    await expect(page.locator("html")).to_have_attribute("lang", "ko")
    await expect(page.get_by_role("button", name="로그아웃")).to_be_visible()
    tile = page.locator('[data-queue="console-ko"]')
    await expect(tile.get_by_text("대기 고객")).to_be_visible(timeout=LIVE_SECONDS)  # the next paint's labels

    await page.reload()  # a preference kept by the browser
    await expect(heading).to_have_text("실시간 현황판")
    await page.get_by_role("button", name="English").click()
    await expect(heading).to_have_text("Wallboard")
    await expect(tile.get_by_text("Waiting")).to_be_visible(timeout=LIVE_SECONDS)


AGENT_KEY, AGENT = "e2e-console-kim", "console-kim"


async def answer_when_it_rings(page: Page) -> Locator:
    """Answer the call the desk pops up. The e2e platform rings for 3 s only: a loaded machine may miss
    it, and then the agent is made ready for the next ring. Answers the desk's "On a call" heading."""
    answer, set_ready = (
        page.get_by_role("button", name="Answer"),
        page.get_by_role("button", name="Set ready"),
    )
    on_call = page.get_by_role("heading", name="On a call")
    for _ in range(5):
        await expect(answer.or_(set_ready)).to_be_visible(timeout=LIVE_SECONDS)
        clicked = answer if await answer.is_visible() else set_ready
        with contextlib.suppress(PlaywrightTimeout):  # the ring ended first: the loop sees what is next
            await clicked.click(timeout=2000)
        # Until the desk has drawn what the click did, the button is still there: a second click on it
        # would set a ready agent ready again.
        await expect(clicked).to_be_hidden(timeout=LIVE_SECONDS)
        await expect(on_call.or_(set_ready).or_(answer)).to_be_visible(timeout=LIVE_SECONDS)
        if await on_call.is_visible():
            break
    await expect(on_call).to_be_visible()
    return on_call


async def test_an_agent_works_a_call_from_the_desk_and_files_its_ticket(
    page: Page, platform: Platform, console_errors: ConsoleErrors
) -> None:
    base = f"http://127.0.0.1:{platform.settings.gateway_port}"
    async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": ADMIN}, timeout=30) as rest:
        profile = {
            "site_id": "seoul",
            "display_name": "Kim",
            "skills": [{"name": "member", "proficiency": 5}],
        }
        ok(await rest.put(f"/v1/agents/{AGENT}/profile", json=profile))
        ok(await rest.put("/v1/reply-templates/desk-thanks", json={"title": "Thanks", "body": "Thank you!"}))

        await page.goto("/console/")
        await page.get_by_label("API key", exact=True).fill(AGENT_KEY)
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text("Agent desktop", timeout=LIVE_SECONDS)
        state = page.locator("#desk-state")
        await expect(state).to_contain_text("Logged out", timeout=LIVE_SECONDS)
        await page.get_by_role("button", name="Log in").click()
        await expect(state).to_contain_text("Ready", timeout=LIVE_SECONDS)

        # A break, with its reason, and back.
        await page.get_by_label("Reason", exact=True).select_option("lunch")
        await page.get_by_role("button", name="Set not ready").click()
        await expect(state).to_contain_text("Not ready · lunch", timeout=LIVE_SECONDS)
        assert ok(await rest.get(f"/v1/agents/{AGENT}"))["reason"] == "lunch"
        await page.get_by_role("button", name="Set ready").click()
        await expect(state).to_contain_text("Ready", timeout=LIVE_SECONDS)

        # A call for the agent's skill pops up with its caller; the agent answers it. The e2e platform rings
        # for 3 s only: a loaded machine may miss it, and then the agent is made ready for the next ring. An
        # answer that comes after its ring ended is refused (409) and the desk says so; the call still has
        # to be answered in the end.
        call = ok(await rest.post("/v1/calls", json={"ani": "+821055501234", "dnis": "1588-1234"}), 201)
        call_id = call["call_id"]
        console_errors.expect_answer(409, f"/v1/calls/{call_id}/answer")
        ok(await rest.post(f"/v1/calls/{call_id}/digits", json={"digits": "1"}))
        on_call = await answer_when_it_rings(page)
        await expect(page.locator('[data-fact="caller"]')).to_contain_text("+821055501234")
        assert ok(await rest.get(f"/v1/calls/{call_id}"))["status"] == "connected"
        assert ok(await rest.get(f"/v1/agents/{AGENT}/call"))["call_id"] == call_id

        await page.get_by_role("button", name="Hold").click()
        await expect(page.get_by_role("button", name="Resume")).to_be_visible(timeout=LIVE_SECONDS)
        assert ok(await rest.get(f"/v1/calls/{call_id}"))["on_hold"] is True
        await page.get_by_role("button", name="Resume").click()
        await expect(page.get_by_role("button", name="Hold")).to_be_visible(timeout=LIVE_SECONDS)
        # A consultation with an outside number, the caller on hold meanwhile; then back to the caller.
        await page.get_by_label("Consult whom", exact=True).select_option("number")
        await page.get_by_label("Agent, number or queue to consult", exact=True).fill("+8215889999")
        await page.get_by_role("button", name="Consult").click()
        consultation = page.locator('[data-fact="consultation"]')
        await expect(consultation).to_have_text("Consulting +8215889999", timeout=LIVE_SECONDS)
        await expect(page.get_by_role("button", name="Hold")).to_be_hidden()
        assert ok(await rest.get(f"/v1/calls/{call_id}"))["consult"]["number"] == "+8215889999"
        await page.get_by_role("button", name="Back to the caller").click()
        await expect(page.get_by_role("button", name="Hold")).to_be_visible(timeout=LIVE_SECONDS)
        assert ok(await rest.get(f"/v1/calls/{call_id}"))["consult"] is None
        await page.get_by_role("button", name="Hang up").click()
        await expect(on_call).to_be_hidden(timeout=LIVE_SECONDS)

        # The call's ticket stays on the desk after the call (and its wrap-up) until it is filed.
        form = page.locator("#desk-ticket")
        await expect(form.get_by_role("heading")).to_contain_text("Ticket #", timeout=LIVE_SECONDS)
        await expect(state).to_contain_text("Ready", timeout=LIVE_SECONDS)
        await form.get_by_label("Category", exact=True).fill("billing")
        await form.get_by_label("Note", exact=True).fill("asked about a refund")
        await form.get_by_label("Canned reply", exact=True).select_option(label="Thanks")
        await form.get_by_label("Status", exact=True).select_option("solved")
        await form.get_by_role("button", name="Save ticket").click()
        await expect(form.get_by_role("status")).to_have_text("Ticket saved", timeout=LIVE_SECONDS)
        tickets = ok(await rest.get("/v1/tickets", params={"assignee": AGENT}))["tickets"]
        filed = next(ticket for ticket in tickets if ticket["call_id"] == call_id)
        assert (filed["category"], filed["status"]) == ("billing", "solved")
        assert [note["body"] for note in filed["notes"]] == ["asked about a refund"]
        assert [reply["body"] for reply in filed["replies"]] == ["Thank you!"]

    # The wrap-up countdown, as the desk counts it.
    left = await page.evaluate(
        """import('/console/desk.js').then(m => [
            m.wrapUpLeft({state: 'wrap-up', wrap_up_seconds: 10, state_since: '2026-01-01T00:00:00Z'},
                         Date.parse('2026-01-01T00:00:03Z')),
            m.wrapUpLeft({state: 'wrap-up', wrap_up_seconds: 10, state_since: '2026-01-01T00:00:00Z'},
                         Date.parse('2026-01-01T00:00:30Z')),
            m.wrapUpLeft({state: 'ready', wrap_up_seconds: 0, state_since: '2026-01-01T00:00:00Z'})])"""
    )
    assert left == [7, 0, None]

    # The desk beat for its agent while it was open (RT-9): closing it takes the ready agent out of
    # routing, rather than leaving calls to ring at an empty desk.
    await page.close()
    async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": ADMIN}, timeout=30) as rest:

        async def gone() -> dict[str, Any] | None:
            seen = ok(await rest.get(f"/v1/agents/{AGENT}"))
            return seen if seen["reason"] == "lost-presence" else None

        left_alone = await eventually(gone, "the closed desk's agent stayed", PRESENCE_TIMEOUT_SECONDS + 30)
        assert left_alone["state"] == "not-ready"


async def test_the_wallboard_charts_the_service_level_of_today_hour_by_hour(
    page: Page, platform: Platform
) -> None:
    base = f"http://127.0.0.1:{platform.settings.gateway_port}"
    async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": CHART_ADMIN}, timeout=30) as rest:
        # The tenant's one call, answered well within the service level's 20 s: today's chart shows its
        # hour at 100 %.
        ok(
            await rest.post(
                "/v1/agents/console-lee/login", json={"site_id": "busan", "skills": [{"name": "member"}]}
            )
        )
        call_id = ok(await rest.post("/v1/calls", json={"ani": "+821055507777", "dnis": "1588-1234"}), 201)[
            "call_id"
        ]
        ok(await rest.post(f"/v1/calls/{call_id}/digits", json={"digits": "1"}))

        async def ringing() -> dict[str, Any] | None:
            current = ok(await rest.get(f"/v1/calls/{call_id}"))
            return current if current["status"] == "ringing" else None

        rang = await eventually(ringing, "the call never rang")
        ok(await rest.post(f"/v1/calls/{call_id}/answer", json={"agent_id": rang["agent_id"]}))

        async def counted() -> list[dict[str, Any]] | None:
            rows: list[dict[str, Any]] = ok(await rest.get("/v1/statistics/calls"))["rows"]
            return rows if rows and rows[0]["answered"] else None

        await eventually(counted, "the answer never reached the statistics")

    await sign_in(page, CHART_SUPERVISOR)
    chart = page.locator("#service-level-chart")
    await expect(chart.locator('rect[data-service-level="100.0"]')).to_have_count(1, timeout=LIVE_SECONDS)
    description = await chart.locator("svg").get_attribute("aria-label")
    assert description is not None and "answered within 20 s" in description and "100.0 %" in description
    await expect(page.locator("#service-level-error")).to_have_text("")

    # The bars of the statistics' rows: each at its local hour, coloured as the tiles; none unmeasured.
    bars = await page.evaluate(
        """import('/console/service_level.js').then(m => m.bars([
            {bucket_start: new Date(2026, 0, 1, 14).toISOString(), service_level_percent: 55},
            {bucket_start: new Date(2026, 0, 1, 9).toISOString(), service_level_percent: 90},
            {bucket_start: new Date(2026, 0, 1, 10).toISOString(), service_level_percent: null},
        ]).map(bar => [bar.hour, bar.serviceLevel, bar.level]))"""
    )
    assert bars == [[9, 90, "good"], [14, 55, "bad"]]


async def test_an_analyst_reads_a_journey_and_the_statistics_of_a_period(
    page: Page, platform: Platform
) -> None:
    base = f"http://127.0.0.1:{platform.settings.gateway_port}"
    async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": ANALYTICS_ADMIN}, timeout=30) as rest:
        customer = {"name": "Yoon Analyst", "identifiers": [{"kind": "phone", "value": "+821055509999"}]}
        customer_id = ok(await rest.post("/v1/customers", json=customer), 201)["customer_id"]
        login = {"site_id": "seoul", "skills": [{"name": "member"}]}
        ok(await rest.post("/v1/agents/console-yoon/login", json=login))
        call = ok(await rest.post("/v1/calls", json={"ani": "+821055509999", "dnis": "1588-1234"}), 201)
        call_id = call["call_id"]
        ok(await rest.post(f"/v1/calls/{call_id}/digits", json={"digits": "1"}))

        async def ringing() -> dict[str, Any] | None:
            current = ok(await rest.get(f"/v1/calls/{call_id}"))
            return current if current["status"] == "ringing" else None

        await eventually(ringing, "the call never rang")
        ok(await rest.post(f"/v1/calls/{call_id}/answer", json={"agent_id": "console-yoon"}))
        ok(await rest.post(f"/v1/calls/{call_id}/hangup", json={"party": "caller"}))
        await journey_to_the_end(rest, customer_id)

        async def counted() -> list[dict[str, Any]] | None:
            rows: list[dict[str, Any]] = ok(await rest.get("/v1/statistics/calls"))["rows"]
            return rows if rows and rows[0]["answered"] else None

        await eventually(counted, "the answer never reached the statistics", timeout=45)

    # An analyst lands on the analytics page.
    await sign_in(page, ANALYST)
    await expect(page.get_by_role("heading", name="Analytics", level=1)).to_be_visible()
    await expect(page.get_by_role("button", name="Analytics")).to_have_attribute("aria-current", "page")

    # The journey of the caller, found by the phone number, each event's payload one click away.
    await page.get_by_label("Find by", exact=True).select_option("phone")
    await page.get_by_label("Value", exact=True).fill("+821055509999")
    await page.get_by_role("button", name="Show journey").click()
    await expect(page.locator("#journey-summary")).to_contain_text(customer_id, timeout=LIVE_SECONDS)
    answered = page.locator('#journey li[data-event-type="telephony.call.answered"]')
    await expect(answered).to_have_count(1)
    await answered.get_by_text("Payload").click()
    await expect(answered.locator("pre")).to_contain_text('"agent_id": "console-yoon"')
    types = await page.locator("#journey li").evaluate_all("items => items.map(i => i.dataset.eventType)")
    # The profile's registration first, then the call from its offer to its end.
    assert types[:2] == ["ticketing.customer.registered", "telephony.call.offered"], types
    assert "telephony.call.ended" in types, types
    # A number nobody has is said so, and the timeline empties.
    await page.get_by_label("Value", exact=True).fill("+821000000000")
    await page.get_by_role("button", name="Show journey").click()
    await expect(page.locator("#journey-error")).to_contain_text("no customer has +821000000000")
    await expect(page.locator("#journey li")).to_have_count(0)
    # By the call's own id (its contact), the same story.
    await page.get_by_label("Find by", exact=True).select_option("contact")
    await page.get_by_label("Value", exact=True).fill(call_id)
    await page.get_by_role("button", name="Show journey").click()
    await expect(answered).to_have_count(1, timeout=LIVE_SECONDS)
    await expect(page.locator("#journey-error")).to_have_text("")

    # This week's calls by queue, a day a row: the call is counted, charted, and the same table is a file.
    await page.get_by_label("By", exact=True).select_option("queue")
    await page.get_by_role("button", name="Show statistics").click()
    rows = page.locator("#statistics-rows tr")
    await expect(rows).to_have_count(1, timeout=LIVE_SECONDS)
    cells = await rows.first.locator("td").all_text_contents()
    assert cells[1] == "member" and cells[2:4] == ["1", "1"], cells  # key, offered, answered
    await expect(page.locator('#statistics-chart rect[data-total="1"]')).to_have_count(1)
    csv = page.get_by_role("link", name="Download CSV")
    href = await csv.get_attribute("href")
    assert href is not None and href.startswith("/v1/exports/statistics/calls?") and "by=queue" in href
    exported = await page.request.get(href)  # the session cookie is enough for a download
    await page.screenshot(path=screenshot_path("analytics"), full_page=True)
    assert exported.status == 200 and "member" in await exported.text()

    # Tickets are broken down their own ways; a period that ends before it starts is refused in place.
    await page.get_by_label("Of", exact=True).select_option("tickets")
    options = page.get_by_label("By", exact=True).locator("option")
    by = await options.evaluate_all("options => options.map(o => o.value)")
    assert by == ["", "channel", "category", "agent", "group", "status", "kind", "claim"]
    await page.get_by_label("From", exact=True).fill("2026-03-02")
    await page.get_by_label("To", exact=True).fill("2026-03-01")
    await page.get_by_role("button", name="Show statistics").click()
    await expect(page.locator("#statistics-error")).to_have_text("The period ends before it starts")

    # The wallboard is a click away, and coming back keeps the page as it was.
    await page.get_by_role("button", name="Wallboard").click()
    await expect(page.get_by_role("heading", name="Wallboard", level=1)).to_be_visible()
    await expect(page.locator("#analytics")).to_be_hidden()
    await page.get_by_role("button", name="Analytics").click()
    await expect(rows).to_have_count(1)

    # The pure parts: a picked period is the local days' midnights; buckets read by their size.
    helpers = await page.evaluate(
        """import('/console/analytics.js').then(m => {
            const query = m.statisticsQuery({from: '2026-03-01', to: '2026-03-02', bucket: 'hour', by: ''},
                                            'Asia/Seoul');
            return [Object.fromEntries(query), m.bucketText('2026-03-01T05:00:00Z', 'hour'),
                    m.bucketText('2026-03-01T00:00:00+09:00', 'month'), m.bucketText(null, ''),
                    m.totals([{bucket_start: 'b', offered: 2}, {bucket_start: 'a', offered: 1},
                              {bucket_start: 'b', offered: 3}], 'offered')];
        })"""
    )
    assert helpers == [
        {
            "from": "2026-02-28T15:00:00.000Z",
            "to": "2026-03-02T15:00:00.000Z",
            "time_zone": "Asia/Seoul",
            "bucket": "hour",
        },
        "2026-03-01 14:00",
        "2026-03",
        "Whole period",
        [{"start": "a", "total": 1}, {"start": "b", "total": 5}],
    ]
    # Both languages name everything the page can say.
    keys = await page.evaluate(
        "import('/console/labels.js').then(m => [m.LABELS.en, m.LABELS.ko].map(l => Object.keys(l).sort()))"
    )
    assert keys[0] == keys[1]


async def test_an_admin_edits_queues_a_flow_hours_and_keys_with_refusals_shown_in_place(
    page: Page, platform: Platform, console_errors: ConsoleErrors
) -> None:
    console_errors.expect_answer(422, "/v1/")  # the refusals this test provokes
    base = f"http://127.0.0.1:{platform.settings.gateway_port}"
    async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": ADMIN}, timeout=30) as rest:
        ok(await rest.put("/v1/lines/support", json={"display_name": "Support", "numbers": ["15887100"]}))
        await sign_in(page, ADMIN)
        await page.get_by_role("button", name="Admin").click()
        await expect(page.get_by_role("heading", name="Admin", level=1)).to_be_visible()

        # A new queue from the form; then a refusal names its field, and the field is marked.
        saved = page.locator("#queue-said")
        await page.get_by_role("button", name="New queue").click()
        await page.locator("#queue-form").get_by_label("Queue", exact=True).fill("console-admin-q")
        await page.get_by_label("Required skills (skill:minimum)", exact=True).fill("member:3, vip")
        await page.get_by_label("Strategy", exact=True).select_option("most-skilled")
        await page.get_by_label("Service level threshold (s)", exact=True).fill("30")
        await page.get_by_role("button", name="Save queue").click()
        await expect(saved).to_have_text("Queue console-admin-q saved", timeout=LIVE_SECONDS)
        await expect(page.locator('#queue-rows [data-queue="console-admin-q"]')).to_contain_text(
            "most-skilled"
        )
        rules = ok(await rest.get("/v1/queues/console-admin-q"))["rules"]
        assert rules["skills"] == [
            {"skill": "member", "min_proficiency": 3},
            {"skill": "vip", "min_proficiency": 0},
        ]
        assert (rules["strategy"], rules["service_level_threshold_seconds"]) == ("most-skilled", 30)
        await page.get_by_label("Overflow queue", exact=True).fill(
            "elsewhere"
        )  # with no wait before it: refused
        await page.get_by_role("button", name="Save queue").click()
        await expect(page.locator("#queue-error")).to_contain_text("after_seconds", timeout=LIVE_SECONDS)
        await expect(page.get_by_label("Overflow after (s)", exact=True)).to_have_attribute(
            "aria-invalid", "true"
        )
        await page.get_by_label("Overflow after (s)", exact=True).fill("60")
        await page.get_by_role("button", name="Save queue").click()
        await expect(saved).to_have_text("Queue console-admin-q saved", timeout=LIVE_SECONDS)
        await expect(page.get_by_label("Overflow after (s)", exact=True)).not_to_have_attribute(
            "aria-invalid", "true"
        )
        changed = ok(await rest.get("/v1/queues/console-admin-q"))
        assert changed["rules"]["overflow"] == {"after_seconds": 60, "queue_id": "elsewhere"}
        assert changed["rules"]["strategy"] == "most-skilled" and changed["version"] == 2

        # The line's flow: drawn as a graph; a flow with a node nobody reaches is refused and that node
        # marked; a good one is published.
        await expect(page.locator("#flow-version")).to_have_text(
            "No flow published yet", timeout=LIVE_SECONDS
        )
        flow = {
            "start": "welcome",
            "nodes": [
                {"id": "welcome", "type": "play", "parameters": {"announcement": "hi"}, "next": "member"},
                {"id": "member", "type": "queue", "parameters": {"queue_id": "console-admin-q"}},
                {"id": "orphan", "type": "hang-up"},
            ],
        }
        await page.get_by_label("The flow as data (JSON)", exact=True).fill(json.dumps(flow))
        await expect(page.locator('#flow-graph [data-node="orphan"]')).to_be_visible()
        await page.get_by_role("button", name="Publish flow").click()
        await expect(page.locator("#flow-error")).to_contain_text("nodes[orphan]", timeout=LIVE_SECONDS)
        await expect(page.locator('#flow-graph [data-node="orphan"]')).to_have_class("node fault")
        await expect(page.locator('#flow-graph [data-node="welcome"]')).to_have_class("node start")
        flow["nodes"] = flow["nodes"][:2]
        await page.get_by_label("The flow as data (JSON)", exact=True).fill(json.dumps(flow))
        await page.get_by_role("button", name="Publish flow").click()
        await expect(page.locator("#flow-said")).to_have_text("Version 1 published", timeout=LIVE_SECONDS)
        graph = await page.locator("#flow-graph svg").get_attribute("aria-label")
        assert graph is not None and "starts at welcome" in graph and "welcome → member" in graph
        assert ok(await rest.get("/v1/lines/support"))["flow_version"] == 1
        # Another admin publishes meanwhile: this page's next publish is refused, not laid over theirs.
        console_errors.expect_answer(409, "/v1/lines/support/flows")
        flow["nodes"][0]["parameters"] = {"announcement": "hello from elsewhere"}
        ok(await rest.post("/v1/lines/support/flows", json=flow), 201)
        await page.get_by_role("button", name="Publish flow").click()
        await expect(page.locator("#flow-error")).to_contain_text("not 2", timeout=LIVE_SECONDS)
        assert ok(await rest.get("/v1/lines/support"))["flow_version"] == 2
        # Opening the page again reads the line as it is now.
        await page.get_by_role("button", name="Wallboard").click()
        await page.get_by_role("button", name="Admin").click()
        await expect(page.locator("#flow-version")).to_have_text("Published version 2", timeout=LIVE_SECONDS)
        await expect(page.get_by_label("The flow as data (JSON)", exact=True)).to_have_value(
            re.compile("hello from elsewhere")
        )

        # Business hours: a day written wrong is refused and marked; a good week is kept with the rest.
        await page.get_by_label("Time zone", exact=True).fill("Asia/Seoul")
        await page.get_by_label("Monday", exact=True).fill("9 to 6")
        await page.get_by_role("button", name="Save hours").click()
        await expect(page.get_by_label("Monday", exact=True)).to_have_attribute(
            "aria-invalid", "true", timeout=LIVE_SECONDS
        )
        await page.get_by_label("Monday", exact=True).fill("09:00-18:00")
        await page.get_by_label("Closed on the public holidays of (country)", exact=True).fill("kr")
        special = page.get_by_label("Special days (a line each: date, then hours or closed)", exact=True)
        await special.fill("Christmas Eve")
        await page.get_by_role("button", name="Save hours").click()
        await expect(special).to_have_attribute("aria-invalid", "true")
        await special.fill("2026-12-24 09:00-13:00\n2026-12-31 closed")
        await page.get_by_role("button", name="Save hours").click()
        await expect(page.locator("#hours-said")).to_have_text("Hours saved", timeout=LIVE_SECONDS)
        settings = ok(await rest.get("/v1/lines/support"))["settings"]
        assert settings["hours"]["weekly"] == {"mon": "09:00-18:00"}
        assert settings["hours"]["special_days"] == {"2026-12-24": "09:00-13:00", "2026-12-31": ""}
        assert (settings["hours"]["holiday_country"], settings["numbers"]) == ("KR", ["15887100"])

        # A key issued to a named supervisor works once shown, and stops working once revoked.
        await page.get_by_label("User", exact=True).fill("lee@console.example")
        await page.get_by_label("Role", exact=True).select_option("supervisor")
        await page.get_by_role("button", name="Issue").click()
        secret = page.locator("#key-secret")
        await expect(secret).to_contain_text("cck.", timeout=LIVE_SECONDS)
        issued = (await secret.text_content() or "").rsplit(" ", 1)[-1]
        as_lee = {"X-API-Key": issued}
        assert ok(await rest.get("/v1/session", headers=as_lee))["role"] == "supervisor"
        await page.get_by_label("Reason for revoking", exact=True).fill("left the team")
        await page.get_by_role("button", name="Revoke: lee@console.example").click()
        key_row = page.locator("#key-rows tr", has_text="lee@console.example")
        await expect(key_row).to_contain_text("revoked (left the team)", timeout=LIVE_SECONDS)

        async def refused() -> bool:
            return (await rest.get("/v1/session", headers=as_lee)).status_code == 401

        await eventually(refused, "the revoked key still worked")

    # The secret is gone once the page is left; a supervisor has no admin page.
    await page.get_by_role("button", name="Wallboard").click()
    await expect(secret).to_have_text("")
    await page.get_by_role("button", name="Sign out").click()
    await sign_in(page, SUPERVISOR)
    await expect(page.get_by_role("button", name="Analytics")).to_be_visible()
    await expect(page.get_by_role("button", name="Admin")).to_be_hidden()

    # The pure parts: requirements as written, and a flow's columns by distance from its start.
    parsed = await page.evaluate(
        """import('/console/admin.js').then(m => [
            m.parseRequirements('member:3, vip'), m.parseRequirements('member:x'),
            m.layout({start: 'a', nodes: [{id: 'a', next: 'b', branches: {'1': 'c'}}, {id: 'b', next: 'c'},
                                         {id: 'c'}, {id: 'lost'}]}).nodes.map(n => [n.id, n.x, n.y]),
            [...m.faultyNodes([{field: 'nodes[x].next'}, {field: 'start'}])],
        ])"""
    )
    assert parsed == [
        [{"skill": "member", "min_proficiency": 3}, {"skill": "vip", "min_proficiency": 0}],
        None,
        [["a", 0, 0], ["b", 1, 0], ["c", 1, 1], ["lost", 2, 0]],
        ["x"],
    ]


def screenshot_path(name: str) -> str:
    """Where the browser tests keep their screenshot of each page (the latest run's)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return str(SCREENSHOTS / f"{name}.png")


async def test_a_queued_call_shows_live_and_an_admin_s_queue_change_sends_it_to_the_desk(
    page: Page, platform: Platform, console_errors: ConsoleErrors
) -> None:
    """A supervisor's wallboard shows a call queued over the API; it waits, since no agent has the skill
    its queue asks for; an admin changes the queue's rules on the admin page, the call rings at the agent's
    desk, the agent answers it, and the wallboard shows the agent on contact."""
    base = f"http://127.0.0.1:{platform.settings.gateway_port}"
    browser = page.context.browser
    assert browser is not None
    desk, admin = [
        await (await browser.new_context(base_url=base, timezone_id="Asia/Seoul")).new_page()
        for _ in range(2)
    ]
    for other in (desk, admin):  # their script errors fail the test too
        other.on("pageerror", lambda error: console_errors.seen.append(str(error)))
        other.on("console", console_errors.said)
    async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": FLOOR_ADMIN}, timeout=30) as rest:
        ok(
            await rest.post(
                "/v1/queues",
                json={"queue_id": "floor-sales", "skills": [{"skill": "vip", "min_proficiency": 5}]},
            ),
            201,
        )
        ok(await rest.put("/v1/lines/floor", json={"display_name": "Floor", "numbers": ["15887200"]}))
        flow = {
            "start": "hello",
            "nodes": [
                {"id": "hello", "type": "play", "parameters": {"announcement": "hi"}, "next": "sales"},
                {"id": "sales", "type": "queue", "parameters": {"queue_id": "floor-sales"}},
            ],
        }
        ok(await rest.post("/v1/lines/floor/flows", json=flow), 201)
        profile = {"site_id": "seoul", "display_name": "Lee", "skills": [{"name": "sales", "proficiency": 5}]}
        ok(await rest.put(f"/v1/agents/{FLOOR_AGENT}/profile", json=profile))

        # The supervisor watches; a call offered over the API shows as waiting on its queue's tile.
        await sign_in(page, FLOOR_SUPERVISOR)
        tile = page.locator('[data-queue="floor-sales"]')
        await expect(tile).to_be_visible(timeout=LIVE_SECONDS)
        call_id = ok(await rest.post("/v1/calls", json={"ani": "+821055507272", "dnis": "15887200"}), 201)[
            "call_id"
        ]
        offered = time.monotonic()
        console_errors.expect_answer(409, f"/v1/calls/{call_id}/answer")  # a ring missed on a loaded machine
        await expect(tile.locator('[data-fact="waiting"]')).to_have_text("1", timeout=LIVE_SECONDS)
        print(f"offered over REST -> waiting on the wallboard: {time.monotonic() - offered:.2f} s")
        await page.screenshot(path=screenshot_path("wallboard-call-waiting"), full_page=True)

        # The agent logs in at the desk; the queue asks for a skill it lacks, so the call keeps waiting.
        await sign_in(desk, FLOOR_AGENT_KEY)
        await desk.get_by_role("button", name="Log in").click()
        await expect(desk.locator("#desk-state")).to_contain_text("Ready", timeout=LIVE_SECONDS)
        lee = page.locator(f'[data-agent="{FLOOR_AGENT}"]')
        await expect(lee.locator('[data-fact="state"]')).to_have_text("ready", timeout=LIVE_SECONDS)
        assert ok(await rest.get(f"/v1/calls/{call_id}"))["status"] == "queued"

        # The admin changes the queue's skill to one the agent has: the waiting call follows the new rules.
        await sign_in(admin, FLOOR_ADMIN)
        await admin.get_by_role("button", name="Admin").click()
        await admin.get_by_role("button", name="Edit: floor-sales").click()
        await admin.get_by_label("Required skills (skill:minimum)", exact=True).fill("sales:3")
        await admin.get_by_role("button", name="Save queue").click()
        await expect(admin.locator("#queue-said")).to_have_text(
            "Queue floor-sales saved", timeout=LIVE_SECONDS
        )
        await admin.screenshot(path=screenshot_path("admin"), full_page=True)

        await answer_when_it_rings(desk)
        await expect(desk.locator('[data-fact="caller"]')).to_contain_text("+821055507272")
        await expect(desk.locator("#desk-state")).to_contain_text("On a contact", timeout=LIVE_SECONDS)
        await desk.screenshot(path=screenshot_path("desk-on-call"), full_page=True)
        await expect(lee.locator('[data-fact="state"]')).to_have_text("on-contact", timeout=LIVE_SECONDS)
        await expect(tile.locator('[data-fact="waiting"]')).to_have_text("0", timeout=LIVE_SECONDS)
        await page.screenshot(path=screenshot_path("wallboard-agent-on-contact"), full_page=True)

        # The agent brings in an expert on an outside number, then leaves the caller talking with them.
        assert await unnamed_controls(desk) == []  # the call's controls too
        await desk.get_by_label("Consult whom", exact=True).select_option("number")
        await desk.get_by_label("Agent, number or queue to consult", exact=True).fill("+8215889999")
        await desk.get_by_role("button", name="Consult").click()
        await desk.get_by_role("button", name="Conference").click(timeout=LIVE_SECONDS)
        consultation = desk.locator('[data-fact="consultation"]')
        await expect(consultation).to_contain_text("In conference", timeout=LIVE_SECONDS)
        assert ok(await rest.get(f"/v1/calls/{call_id}"))["consult"]["conference"] is True
        await desk.get_by_role("button", name="Leave the conference").click()
        await expect(desk.get_by_role("heading", name="On a call")).to_be_hidden(timeout=LIVE_SECONDS)

        async def handed_over() -> dict[str, Any] | None:
            call = ok(await rest.get(f"/v1/calls/{call_id}"))
            return call if call["status"] == "ended" else None

        ended = await eventually(handed_over, "the call stayed with the agent")
        assert (ended["agent_id"], ended["end_reason"]) == (FLOOR_AGENT, "transferred-out")
    for other in (desk, admin):
        await other.context.close()


async def unnamed_controls(page: Page) -> list[str]:
    """The page's fields with neither a label nor an aria-label, and its buttons with no text either (a
    select's options are not its name)."""
    unnamed: list[str] = await page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea, button')].filter(el => {
            const labelled = el.labels && [...el.labels].some(l => l.textContent.trim());
            const named = labelled || (el.getAttribute('aria-label') || '').trim();
            return !(named || (el.tagName === 'BUTTON' && el.textContent.trim()));
        }).map(el => el.id || el.outerHTML.slice(0, 80))"""
    )
    return unnamed


async def focused(page: Page) -> str:
    """The focused element's accessible text: its label, its aria-label or its own text."""
    name: str = await page.evaluate(
        """() => {
            const el = document.activeElement;
            const labelled = el.labels && el.labels.length ? el.labels[0].textContent : null;
            return (labelled || el.getAttribute('aria-label') || el.textContent || '').trim();
        }"""
    )
    return name


async def tab_to(page: Page, name: str, presses: int = 40) -> None:
    """Press Tab until the control named `name` has the focus, as a keyboard user would."""
    for _ in range(presses):
        await page.keyboard.press("Tab")
        if await focused(page) == name:
            return
    raise AssertionError(f"{name!r} is not reachable with Tab")


async def test_the_console_works_from_the_keyboard_with_focus_shown_and_every_control_labelled(
    page: Page, platform: Platform, console_errors: ConsoleErrors
) -> None:
    console_errors.expect_answer(422, "/v1/customers")  # not a phone number: the page says so
    await page.goto("/console/")
    await expect(page.get_by_label("API key", exact=True)).to_be_focused(timeout=LIVE_SECONDS)
    await page.keyboard.type(ADMIN)
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Wallboard", level=1)).to_be_focused(timeout=LIVE_SECONDS)

    # The pages, from the header's buttons; the focused control shows a visible outline.
    await tab_to(page, "Analytics")
    # The console's own focus ring (console.css), not only the browser's default.
    outline = await page.evaluate(
        "(s => [s.outlineStyle, s.outlineColor])(getComputedStyle(document.activeElement))"
    )
    assert outline == ["solid", "rgb(240, 164, 0)"], outline
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Analytics", level=1)).to_be_focused(timeout=LIVE_SECONDS)
    # A journey asked for by keyboard alone: a refusal is said, not a blank page.
    await tab_to(page, "Value")
    await page.keyboard.type("no-such-contact")
    await page.keyboard.press("Enter")
    await expect(page.locator("#journey-error")).to_contain_text("Customer journey:", timeout=LIVE_SECONDS)
    await tab_to(page, "Admin")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Admin", level=1)).to_be_focused(timeout=LIVE_SECONDS)
    await tab_to(page, "New queue")
    await page.keyboard.press("Enter")
    await expect(page.locator("#queue-form").get_by_label("Queue", exact=True)).to_be_focused()

    # Every control of every page has a name a screen reader can say (a call's, in the floor test).
    assert await unnamed_controls(page) == []
