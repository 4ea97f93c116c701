"""Omnichannel capacity (RT-7): how many contacts of each channel an agent takes at once, and which
channels it takes nothing else beside. Pure: the agent aggregate validates a profile with it, the board
routes by it.

A profile is per agent, as in Amazon Connect's routing profiles: say voice 1, chat 3, email 5. A channel
marked exclusive blocks every other while the agent holds a contact of it: with voice exclusive an
agent on a call is offered no chat, but an agent on two chats can still take a call unless chat is
exclusive too. An agent with no profile takes one voice call at a time, as before channels existed."""

from collections.abc import Iterable

from cc.routing.v1 import events_pb2

from services.common.errors import FieldViolation, InvalidArgument

VOICE = "voice"
CHANNELS = (VOICE, "chat", "email", "task")
MAX_CONTACTS = 20
# A phone line carries one call: voice capacity is 0 or 1.
MAX_VOICE_CONTACTS = 1
DEFAULT_CAPACITY = {VOICE: 1}


def validated_capacity(wanted: Iterable[events_pb2.ChannelCapacity]) -> list[events_pb2.ChannelCapacity]:
    """The profile as the agent's event records it (one entry per channel, in the order of CHANNELS: a
    channel named twice takes the higher count and is exclusive if either says so), or InvalidArgument
    naming every entry at fault."""
    violations = []
    merged: dict[str, events_pb2.ChannelCapacity] = {}
    for index, entry in enumerate(wanted):
        if entry.channel not in CHANNELS:
            violations.append(FieldViolation(f"capacity[{index}].channel", f"one of {', '.join(CHANNELS)}"))
            continue
        most = MAX_VOICE_CONTACTS if entry.channel == VOICE else MAX_CONTACTS
        if not 0 <= entry.max_contacts <= most:
            violations.append(FieldViolation(f"capacity[{index}].max_contacts", f"0 to {most}"))
            continue
        held = merged.get(entry.channel)
        if held is not None:
            entry = events_pb2.ChannelCapacity(
                channel=entry.channel,
                max_contacts=max(held.max_contacts, entry.max_contacts),
                exclusive=held.exclusive or entry.exclusive,
            )
        merged[entry.channel] = entry
    if violations:
        raise InvalidArgument("invalid-argument", "the agent's capacity is not valid", violations)
    return [merged[channel] for channel in CHANNELS if channel in merged]


def capacity_of(profile: Iterable[events_pb2.ChannelCapacity]) -> tuple[dict[str, int], list[str]]:
    """Contacts at once per channel, and the exclusive channels, of a recorded profile (empty: one
    voice call at a time)."""
    entries = list(profile)
    if not entries:
        return dict(DEFAULT_CAPACITY), []
    return (
        {e.channel: e.max_contacts for e in entries if e.max_contacts},
        [e.channel for e in entries if e.exclusive],
    )
