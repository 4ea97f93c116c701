"""What the single writer remembers of the commands it decided, so a repeated command_id gets its first
answer (a refusal too) for the whole outcome window, across restarts, with bounded memory.

Every outcome is written to `<context>.<aggregate>.outcomes.v1` in the same transaction as the
command's events. In memory the writer keeps:
- per aggregate, a `CommandLedger`: 24 bytes per command within the window (a fingerprint of the
  command id, where its outcome is on the outcomes topic, and when). It travels in the aggregate's
  snapshot, so a new owner does not read a day of outcomes to rebuild it;
- per partition, the most recent outcomes themselves (`RecentOutcomes`, bounded by count). An older
  one is read back from the outcomes topic at the offset its ledger entry names.
"""

import hashlib
from array import array
from collections import OrderedDict

from cc.common.v1 import types_pb2

_TRIPLE = 3  # fingerprint, outcome offset, epoch ms


def fingerprint(command_id: str) -> int:
    """64 bits of a hash of the id: two command ids of one aggregate collide with odds of about n²/2⁶⁴,
    and a ledger hit is confirmed against the stored outcome's command_id anyway."""
    return int.from_bytes(hashlib.blake2b(command_id.encode(), digest_size=8).digest(), "little", signed=True)


class CommandLedger:
    """The commands one aggregate had within the outcome window, oldest first."""

    __slots__ = ("_entries",)

    def __init__(self, packed: bytes = b"") -> None:
        self._entries = array("q")
        self._entries.frombytes(packed)

    def __len__(self) -> int:
        return len(self._entries) // _TRIPLE

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CommandLedger) and self._entries == other._entries

    def copy(self) -> "CommandLedger":
        twin = CommandLedger()
        twin._entries = array("q", self._entries)
        return twin

    def find(self, command_fingerprint: int) -> int | None:
        """The outcome offset of the command, if the aggregate had it (fingerprints are unique here)."""
        try:
            index = self._entries[::_TRIPLE].index(command_fingerprint)
        except ValueError:
            return None
        return self._entries[index * _TRIPLE + 1]

    def add(self, command_fingerprint: int, outcome_offset: int, at_ms: int, keep_at_most: int) -> None:
        """Record an outcome met while replaying, which a snapshot may already cover."""
        if self.find(command_fingerprint) is None:
            self.append(command_fingerprint, outcome_offset, at_ms, keep_at_most)

    def append(self, command_fingerprint: int, outcome_offset: int, at_ms: int, keep_at_most: int) -> None:
        """Record the outcome of a command just decided: the writer has already looked it up, so the
        ledger is not searched a second time."""
        self._entries.extend((command_fingerprint, outcome_offset, at_ms))
        excess = len(self) - keep_at_most
        if excess > 0:
            del self._entries[: excess * _TRIPLE]

    def forget_before(self, at_ms: int) -> None:
        """Drop the commands older than the window (entries are in time order)."""
        entries = self._entries
        keep = 0
        while keep < len(entries) and entries[keep + 2] < at_ms:
            keep += _TRIPLE
        if keep:
            del entries[:keep]

    def to_bytes(self) -> bytes:
        return self._entries.tobytes()


class RecentOutcomes:
    """The latest outcomes of one partition by command id, least recently decided dropped first."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._replies: OrderedDict[str, types_pb2.CommandReply] = OrderedDict()

    def __len__(self) -> int:
        return len(self._replies)

    def get(self, command_id: str) -> types_pb2.CommandReply | None:
        return self._replies.get(command_id)

    def put(self, reply: types_pb2.CommandReply) -> None:
        self._replies[reply.command_id] = reply
        self._replies.move_to_end(reply.command_id)
        while len(self._replies) > self._capacity:
            self._replies.popitem(last=False)
