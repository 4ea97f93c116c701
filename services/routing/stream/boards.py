"""The boards this worker holds in memory: a cache of the board table, per tenant, for the tenants
whose board partition it owns. No Faust here, so it is tested without a broker.

A board is never read from the table while the table is recovering, after a start or after any
rebalance: during recovery the table holds part of the changelog, so a board read then is older than
the one the previous owner had, and routing would carry on from it (calls left unrouted, agents left
reserved). The cache is emptied when a rebalance begins and rebuilt in one pass once recovery has
finished; until then `board` waits and `owned` refuses.
"""

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any

from services.routing.board import Board, entries_by_tenant
from services.routing.rules import implicit_rules
from services.routing.stream.board_input import board_partition


class OwnedBoards:
    def __init__(self, partitions: int, queues: Mapping[str, str]) -> None:
        self._partitions = partitions
        self._queues = implicit_rules(queues)
        self._boards: dict[str, Board] = {}
        self._recovered = asyncio.Event()

    @property
    def recovered(self) -> bool:
        return self._recovered.is_set()

    def forget(self) -> None:
        """A rebalance begins: partitions may move, and the table will recover before it is read."""
        self._recovered.clear()
        self._boards.clear()

    def rebuild(self, entries: Iterable[tuple[str, Any]], owned_partitions: set[int]) -> list[str]:
        """Rebuild every owned board from the recovered table. Returns the keys of entries on
        partitions this worker no longer owns: the caller drops them from its local copy, since a
        partition assigned again is recovered from the whole changelog."""
        stale: list[str] = []
        self._boards.clear()
        for tenant_id, tenant_entries in entries_by_tenant(entries).items():
            if board_partition(tenant_id, self._partitions) in owned_partitions:
                self._boards[tenant_id] = Board.restore(tenant_id, tenant_entries, self._queues)
            else:
                stale.extend(key for key, _ in tenant_entries)
        self._recovered.set()
        return stale

    def reload(self, tenant_id: str, entries: Iterable[tuple[str, Any]]) -> Board:
        """The tenant's board as the table has it, dropping whatever an event that failed half-way
        changed in memory (its changelog was never written)."""
        mine = entries_by_tenant(entries).get(tenant_id, [])
        board = self._boards[tenant_id] = Board.restore(tenant_id, mine, self._queues)
        return board

    async def board(self, tenant_id: str) -> Board:
        """The tenant's board, once the table has recovered; a tenant new to this worker starts empty."""
        await self._recovered.wait()
        board = self._boards.get(tenant_id)
        if board is None:
            board = self._boards[tenant_id] = Board(tenant_id, queues=dict(self._queues))
        return board

    def owned(self) -> list[Board]:
        if not self.recovered:
            raise RuntimeError("boards read before the board table recovered")
        return list(self._boards.values())
