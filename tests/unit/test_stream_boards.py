"""The stream worker's pieces that need no broker: where a tenant's board lives, how a board-input
record names its source, and the in-memory boards that are read only once the table has recovered."""

import asyncio
from datetime import UTC, datetime

import pytest
from aiokafka.partitioner import DefaultPartitioner
from cc.common.v1 import event_pb2

from services.common.topics import CALLS
from services.routing.board import Board, SourcePosition, entries_by_tenant
from services.routing.matching import dispatch
from services.routing.rules import implicit_rules
from services.routing.stream.board_input import (
    SOURCE_HEADER,
    board_partition,
    is_tick,
    source_header,
    source_of,
    tick_record,
)
from services.routing.stream.boards import OwnedBoards
from services.routing.stream.decisions import decision_record
from tests.unit.support import Changelog, Feed, logged_in, queued, ts

QUEUES = {"member": "member"}
TENANT_A = "tenant-a"


def test_a_tenants_board_partition_is_the_default_partitioner_on_its_key() -> None:
    partitioner = DefaultPartitioner()
    for tenant in ("acme", "globex", "tenant-a", "odd/tenant"):
        expected = partitioner(tenant.encode(), list(range(6)), list(range(6)))
        assert board_partition(tenant, 6) == expected
    assert {board_partition(f"tenant-{n}", 6) for n in range(60)} == set(range(6))


def test_a_board_input_record_names_its_source() -> None:
    position = SourcePosition(CALLS.events, 4, 1234)

    assert source_header(position) == b"telephony.call.events.v1/4/1234"
    assert source_of([("traceparent", b"00-x"), (SOURCE_HEADER, source_header(position))]) == position
    assert source_of({SOURCE_HEADER: source_header(position)}) == position
    with pytest.raises(ValueError, match=SOURCE_HEADER):
        source_of([("traceparent", b"00-x")])
    with pytest.raises(ValueError, match=SOURCE_HEADER):
        source_of(None)


def tenant_on(partition: int, partitions: int = 2) -> str:
    return next(t for t in (f"tenant-{n}" for n in range(100)) if board_partition(t, partitions) == partition)


def table_of(*tenants: str) -> Changelog:
    """A recovered board table holding, for each tenant, a ready agent and a routed call."""
    table = Changelog()
    for tenant in tenants:
        feed = Feed(Board(tenant, queues=implicit_rules(QUEUES)))
        feed.agent("kim", logged_in(member=5), 0)
        feed.call("call-1", queued("member", 1), 1)
        dispatch(feed.board, ts(1))
        table.write(feed.board.take_changelog())
    return table


async def test_no_board_is_read_before_the_table_has_recovered() -> None:
    mine = tenant_on(0)
    boards = OwnedBoards(2, QUEUES)
    waiting = asyncio.create_task(boards.board(mine))
    await asyncio.sleep(0)

    assert not boards.recovered
    assert not waiting.done()
    with pytest.raises(RuntimeError, match="recovered"):
        boards.owned()

    table = table_of(mine)
    boards.rebuild(table.entries.items(), owned_partitions={0})

    board = await asyncio.wait_for(waiting, 1)
    assert board == Board.restore(mine, table.entries.items(), implicit_rules(QUEUES))
    assert board.routed["call-1"].agent_id == "kim"
    assert boards.owned() == [board]


async def test_a_rebuild_keeps_the_owned_tenants_and_hands_back_the_others_entries() -> None:
    mine, theirs = tenant_on(0), tenant_on(1)
    table = table_of(mine, theirs)
    boards = OwnedBoards(2, QUEUES)

    stale = boards.rebuild(table.entries.items(), owned_partitions={0})

    assert [b.tenant_id for b in boards.owned()] == [mine]
    assert sorted(stale) == sorted(key for key, _ in entries_by_tenant(table.entries.items())[theirs])
    newcomer = await boards.board(tenant_on(0) + "-new")
    assert (newcomer.queues, newcomer.agents) == (implicit_rules(QUEUES), {})


async def test_a_rebalance_forgets_every_board_until_the_table_recovers_again() -> None:
    mine = tenant_on(0)
    table = table_of(mine)
    boards = OwnedBoards(2, QUEUES)
    boards.rebuild(table.entries.items(), owned_partitions={0})
    before = await boards.board(mine)

    boards.forget()

    assert not boards.recovered
    with pytest.raises(RuntimeError):
        boards.owned()
    waiting = asyncio.create_task(boards.board(mine))
    await asyncio.sleep(0)
    assert not waiting.done()
    boards.rebuild(table.entries.items(), owned_partitions={0, 1})
    after = await asyncio.wait_for(waiting, 1)
    assert after == before
    assert after is not before  # rebuilt from the table, not the copy held before the rebalance


async def test_a_reload_drops_what_a_failed_event_half_changed() -> None:
    mine = tenant_on(0)
    table = table_of(mine)
    boards = OwnedBoards(2, QUEUES)
    boards.rebuild(table.entries.items(), owned_partitions={0})
    board = await boards.board(mine)
    del board.agents["kim"]  # an event that failed half-way through: memory changed, no changelog written

    reloaded = boards.reload(mine, table.entries.items())

    assert reloaded == Board.restore(mine, table.entries.items(), implicit_rules(QUEUES))
    assert reloaded.agents["kim"].reserved_for == "call-1"
    assert await boards.board(mine) is reloaded


def test_a_decision_sent_again_is_the_same_event() -> None:
    feed = Feed(Board(TENANT_A, queues=implicit_rules(QUEUES)))
    feed.agent("kim", logged_in(member=5), 0)
    feed.agent("lee", logged_in(member=5), 0)
    feed.call("call-1", queued("member", 1), 1)
    feed.call("call-2", queued("member", 1), 1)
    first, second = dispatch(feed.board, ts(2))

    _, sent = decision_record(TENANT_A, first, causation_id="the-queued-event")
    key, again = decision_record(TENANT_A, first, causation_id=first.routed.decision_id)  # the re-send

    original, copy = event_pb2.Event.FromString(sent), event_pb2.Event.FromString(again)
    assert key == f"{TENANT_A}/call-1".encode()
    assert copy.event_id == original.event_id
    assert copy.occurred_at == original.occurred_at
    assert original.occurred_at.ToDatetime(tzinfo=UTC) == datetime.fromtimestamp(ts(2), UTC)
    other = event_pb2.Event.FromString(decision_record(TENANT_A, second, "the-queued-event")[1])
    assert other.event_id != original.event_id


def test_a_tick_goes_to_its_tenants_board_partition_and_is_told_from_an_event() -> None:
    key, value, partition, headers = tick_record("tenant-a", 6)
    assert (key, value, partition) == (b"tenant-a", b"tenant-a", board_partition("tenant-a", 6))
    assert is_tick(headers) and is_tick(dict(headers))
    assert not is_tick([(SOURCE_HEADER, b"telephony.call.events.v1/0/1")]) and not is_tick(None)
