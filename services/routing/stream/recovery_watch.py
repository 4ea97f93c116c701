"""A board table recovery that has stopped making progress is started again, by rejoining the group.

After a rebalance under load, a worker was seen reading the changelog partitions it kept from their start
and receiving nothing from them for as long as it ran (Faust logs "No event received for active tp ...
since recovery start"; see the README's known limits). Such a worker serves no board, so routing stops
for the tenants of those partitions. The cause is inside faust-streaming's recovery; what a worker can do
is notice it (no changelog record applied for a while, some still to read) and ask its group coordinator
to rebalance, which revokes every partition and recovers them again from a clean start. No Faust here:
the worker feeds it what Faust's recovery reports (`services.routing.stream.agents`).
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer


@dataclass
class RecoveryWatch:
    # How long a recovery may read nothing, with records still to read, before it is started again.
    stall_seconds: float
    _offsets: tuple[tuple[Any, int], ...] | None = field(default=None, init=False)
    _since: float = field(default=0.0, init=False)

    def stalled(self, in_recovery: bool, offsets: Mapping[Any, int], remaining: int, now: float) -> bool:
        """Whether to start the recovery again, given what it has read so far (offsets by changelog
        partition) and how many records it still has to read. Once told so, the watch waits a whole
        stall_seconds again before it says so twice."""
        if not in_recovery or remaining <= 0:
            self._offsets = None
            return False
        progress = tuple(sorted(offsets.items(), key=repr))
        if progress != self._offsets:
            self._offsets, self._since = progress, now
            return False
        if now - self._since < self.stall_seconds:
            return False
        self._since = now
        return True


async def request_rejoin(consumer: AIOKafkaConsumer) -> None:
    """Ask the consumer's group coordinator for a rebalance, which it starts at its next turn (aiokafka
    0.14's coordinator; tests/integration/test_stream_transport.py holds it to that). Run it on the
    consumer's own loop."""
    consumer._coordinator.request_rejoin()
