"""Call recording in segments (TEL-7, SEC-1), pure: a call is recorded from its offer (an outbound call
from the customer's answer) to its end; a pause
ends the segment being recorded and a resume starts the next, so a paused interval is in no recording.

Telephony pauses by itself while the caller is at a masked collect node (a card number is being
entered) and resumes once the entry is complete or the call moves on; the agent on the call pauses and
resumes over the API. `recorded` adds the segment events to what a command decided, so every path that
enters or leaves a masked node, or ends the call, is covered in one place."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from cc.telephony.v1 import events_pb2
from google.protobuf.message import Message

# Why a segment ended, and why a recording is paused.
PCI_PAUSE, AGENT_PAUSE, CALL_ENDED = "pci-pause", "agent-pause", "call-ended"
PCI, AGENT = "pci", "agent"


@dataclass(frozen=True)
class Recording:
    """Where a call's recording stands: the segment being recorded (0: none), how many were started,
    since when the open one records, and why it is paused ("" while recording or after the end)."""

    segment: int = 0
    segments: int = 0
    since: datetime | None = None
    paused: str = ""


def recording_ref(call_id: str, segment: int) -> str:
    """The name the carrier records a segment under: the call's, numbered."""
    return f"{call_id}/recording/{segment}"


def recorded(
    call_id: str,
    recording: Recording,
    at_masked: bool,
    events: list[Message],
    masked: Callable[[str], bool],
    now: datetime,
) -> list[Message]:
    """`events` with the recording's segment events among them: the first segment starts with the offer;
    before the call reaches a masked node the segment ends (pci-pause) and after the entry is complete,
    or the call has left the node, the next one starts; before the call ends, its segment ends.
    `at_masked`: whether the call waits at a masked node before these events."""
    out: list[Message] = []
    segment, count, paused = recording.segment, recording.segments, recording.paused

    def end(reason: str) -> None:
        nonlocal segment
        since = recording.since if segment == recording.segment and recording.since else now
        ref = recording_ref(call_id, segment)
        seconds = max(0.0, (now - since).total_seconds())
        out.append(
            events_pb2.RecordingSegmentEnded(
                segment=segment, recording_ref=ref, reason=reason, seconds=seconds
            )
        )
        segment = 0

    def start() -> None:
        nonlocal segment, count
        count += 1
        segment = count
        out.append(
            events_pb2.RecordingSegmentStarted(segment=segment, recording_ref=recording_ref(call_id, segment))
        )

    for event in events:
        if isinstance(event, events_pb2.IvrMenuEntered):
            at_masked = masked(event.menu_id)
        elif isinstance(event, events_pb2.IvrDigitsCollected) and event.masked:
            at_masked = False  # the entry is complete
        elif isinstance(event, events_pb2.CallQueued | events_pb2.VoicemailOffered | events_pb2.CallEnded):
            at_masked = False
        if at_masked and segment:
            end(PCI_PAUSE)
            paused = PCI
        if isinstance(event, events_pb2.CallEnded):
            if segment:
                end(CALL_ENDED)
            paused = ""
        out.append(event)
        if isinstance(event, events_pb2.CallOffered | events_pb2.OutboundCallConnected):
            start()  # an outbound call has nothing to record until the customer answers
        elif _resumes(paused, at_masked, event):
            paused = ""
            start()
    return out


def _resumes(paused: str, at_masked: bool, event: Message) -> bool:
    """Whether a paused recording goes on after `event`: a masked entry is over (and the call goes
    on), or the agent who paused it has left the call (its pause ends with its part of the call)."""
    if paused == PCI:
        return not at_masked and not isinstance(event, events_pb2.CallEnded)
    return paused == AGENT and _agent_left(event)


def _agent_left(event: Message) -> bool:
    """The agent left a call that goes on: transferred to a queue or an agent, or a failed callback
    attempt that will be tried again."""
    if isinstance(event, events_pb2.CallTransferred):
        return event.target != events_pb2.TRANSFER_TARGET_NUMBER
    return isinstance(event, events_pb2.CallbackAttemptFailed) and event.HasField("retry_at")


def pause(call_id: str, recording: Recording, now: datetime) -> events_pb2.RecordingSegmentEnded:
    """The agent pauses the recording: the open segment ends."""
    since = recording.since or now
    return events_pb2.RecordingSegmentEnded(
        segment=recording.segment,
        recording_ref=recording_ref(call_id, recording.segment),
        reason=AGENT_PAUSE,
        seconds=max(0.0, (now - since).total_seconds()),
    )


def resume(call_id: str, recording: Recording) -> events_pb2.RecordingSegmentStarted:
    """The agent resumes the recording: the next segment starts."""
    segment = recording.segments + 1
    return events_pb2.RecordingSegmentStarted(segment=segment, recording_ref=recording_ref(call_id, segment))


def evolved(recording: Recording, event: Message, at: datetime) -> Recording:
    """The recording after one of its segment events."""
    if isinstance(event, events_pb2.RecordingSegmentStarted):
        return Recording(event.segment, event.segment, at, "")
    if isinstance(event, events_pb2.RecordingSegmentEnded):
        paused = {PCI_PAUSE: PCI, AGENT_PAUSE: AGENT}.get(event.reason, "")
        return Recording(0, recording.segments, None, paused)
    return recording
