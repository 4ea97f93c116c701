"""A payment call end to end (TEL-7, SEC-1): the caller enters a card number at a masked collect node
while the recording is paused, an agent answers, pauses and resumes the recording, and types the card
number into the call's ticket; another caller types a card number at a menu. Then every store is
scanned: every record of every Kafka topic (aborted transactions included), the ClickHouse journey
rows, the ticket and every service's log hold no card number, and the journey shows the recording's
segments around the masked entry."""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from services.common import kafka
from services.platform import Platform
from tests.e2e.support import until
from tests.e2e.test_call_life import ok

ADMIN, KIM = "e2e-pci", {"X-API-Key": "e2e-pci-kim"}
CARD = "4012888888881881"
TYPED = "4012 8888 8888 1881"
PAYMENT_FLOW = {
    "start": "hello",
    "nodes": [
        {"id": "hello", "type": "play", "parameters": {"announcement": "Payments"}, "next": "card"},
        {
            "id": "card",
            "type": "collect",
            "parameters": {"prompt": "Card number", "masked": "true", "min_digits": "13", "max_digits": "19"},
            "next": "pay",
        },
        {"id": "pay", "type": "queue", "parameters": {"queue_id": "pci-pay"}},
    ],
}


@pytest.fixture
async def rest(platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    base = f"http://127.0.0.1:{platform.settings.gateway_port}"
    async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": ADMIN}, timeout=30) as client:
        yield client


async def every_record(bootstrap: str) -> list[bytes]:
    """Key, value and headers of every record of every topic, aborted transactions' too."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, isolation_level="read_uncommitted"
    )
    await consumer.start()
    try:
        topics = sorted(await consumer.topics())
        partitions = await kafka.partitions_of(consumer, topics)
        found: list[bytes] = []
        async for records in kafka.read_to_end(consumer, dict.fromkeys(partitions, 0)):
            for record in records:
                found += [record.key or b"", record.value or b""]
                found += [value for _, value in record.headers]
        return found
    finally:
        await consumer.stop()


def holds_card(text: str | bytes) -> bool:
    if isinstance(text, bytes):
        return CARD.encode() in text or TYPED.encode() in text
    return CARD in text or TYPED in text


async def test_no_card_number_is_stored_anywhere_after_a_payment_call(
    rest: httpx.AsyncClient, platform: Platform, kafka_bootstrap: str
) -> None:
    ok(await rest.put("/v1/lines/pay", json={"display_name": "Payments", "numbers": ["15887000"]}))
    ok(await rest.post("/v1/lines/pay/flows", json=PAYMENT_FLOW), 201)
    skilled = {"site_id": "seoul", "skills": [{"name": "pci-pay", "proficiency": 5}]}
    ok(await rest.post("/v1/agents/kim/login", json=skilled, headers=KIM))

    call = ok(await rest.post("/v1/calls", json={"ani": "+821077770001", "dnis": "15887000"}), 201)
    call_id = call["call_id"]
    assert (call["node_id"], call["recording_segments"], call["recording_paused"]) == ("card", 1, "pci")
    paid = ok(await rest.post(f"/v1/calls/{call_id}/digits", json={"digits": CARD}))
    assert (paid["status"], paid["recording_segments"], paid["recording_paused"]) == ("queued", 2, "")

    await until(
        rest, f"/v1/calls/{call_id}", lambda c: c["status"] == "ringing", "the payment never rang kim"
    )
    ok(await rest.post(f"/v1/calls/{call_id}/answer", json={"agent_id": "kim"}, headers=KIM))
    paused = ok(
        await rest.post(f"/v1/calls/{call_id}/recording/pause", json={"agent_id": "kim"}, headers=KIM)
    )
    assert paused["recording_paused"] == "agent"
    again = await rest.post(f"/v1/calls/{call_id}/recording/pause", json={"agent_id": "kim"}, headers=KIM)
    assert (again.status_code, again.json()["error_id"]) == (409, "recording-paused")
    resumed = ok(
        await rest.post(f"/v1/calls/{call_id}/recording/resume", json={"agent_id": "kim"}, headers=KIM)
    )
    assert (resumed["recording_segments"], resumed["recording_paused"]) == (3, "")

    tickets = await until(
        rest, "/v1/tickets", lambda b: b["tickets"], "no ticket for the call", customer_id=call["customer_id"]
    )
    ticket_id = tickets["tickets"][0]["ticket_id"]
    noted = ok(
        await rest.post(f"/v1/tickets/{ticket_id}/notes", json={"body": f"read back {TYPED}"}, headers=KIM),
        201,
    )
    assert noted["notes"][-1]["body"] == "read back **** **** **** 1881"
    ok(await rest.post(f"/v1/calls/{call_id}/hangup", json={"party": "agent"}, headers=KIM))

    # a card number typed at the default line's menu is masked too
    other = ok(await rest.post("/v1/calls", json={"ani": "+821077770002", "dnis": "1588"}), 201)
    typed = ok(await rest.post(f"/v1/calls/{other['call_id']}/digits", json={"digits": CARD}))
    assert typed["ivr_digits"] == ["*" * 16]

    journey = await until(
        rest,
        f"/v1/customers/{call['customer_id']}/journey",
        lambda body: (
            any(e["event_type"] == "ticketing.ticket.note_added" for e in body["events"])
            and any(e["event_type"] == "telephony.call.ended" for e in body["events"])
        ),
        "the journey never held the whole payment call",
    )
    kinds = [e["event_type"] for e in journey["events"]]
    assert (
        kinds.index("telephony.call.recording_segment_ended")  # paused before the card prompt
        < kinds.index("telephony.call.ivr_menu_entered")
        < kinds.index("telephony.call.ivr_digits_collected")
        < kinds.index(
            "telephony.call.recording_segment_started", kinds.index("telephony.call.ivr_menu_entered")
        )
    )
    assert kinds.count("telephony.call.recording_segment_started") == 3
    assert not holds_card(str(journey))
    assert not holds_card(str(ok(await rest.get(f"/v1/tickets/{ticket_id}"))))
    assert not holds_card(str(ok(await rest.get(f"/v1/calls/{call_id}"))))

    # a card number typed into any other free text is masked before a command holds it; as a tag it is
    # no tag at all
    tagged = {"subject": "s", "channel": "chat", "customer_id": "pci-customer", "tags": [CARD]}
    assert (await rest.post("/v1/tickets", json=tagged)).status_code == 422
    for answer in (
        await rest.put("/v1/agents/kim/state", json={"state": "not-ready", "reason": TYPED}, headers=KIM),
        await rest.put("/v1/caller-list/+821077770003", json={"action": "flag", "reason": f"paid {TYPED}"}),
        await rest.put("/v1/lines/pay", json={"display_name": f"Pay {TYPED}", "numbers": ["15887000"]}),
        await rest.put("/v1/agents/pci-lee/profile", json={**skilled, "display_name": TYPED}),
        await rest.post("/v1/api-keys", json={"user": "pci-bot", "role": "analyst", "description": TYPED}),
        await rest.post(
            "/v1/tickets",
            json={
                "subject": f"paid with {TYPED}",
                "description": f"card\n{CARD}",
                "channel": "chat",
                "customer_id": "pci-customer",
                "category": f"cards/{CARD}",
                "fields": {"card": TYPED},
            },
        ),
        await rest.patch(f"/v1/tickets/{ticket_id}", json={"subject": TYPED, "fields": {"card": CARD}}),
        await rest.post(f"/v1/tickets/{ticket_id}/replies", json={"body": f"your card {TYPED}"}),
        await rest.post(f"/v1/tickets/{ticket_id}/escalate", json={"reason": f"chargeback {CARD}"}),
    ):
        assert answer.is_success, answer.text
        assert "1881" in answer.text and not holds_card(answer.text)

    records = await every_record(kafka_bootstrap)
    assert records and not any(holds_card(record) for record in records)
    logs: dict[Path, Any] = {path: path.read_bytes() for path in platform.logs.glob("*.log")}
    assert logs and not [path.name for path, text in logs.items() if holds_card(text)]
