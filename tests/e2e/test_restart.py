"""A service killed without warning comes back with identical state, rebuilt from the log."""

import signal

import grpc
from cc.telephony.v1 import events_pb2 as call_events
from cc.telephony.v1 import telephony_pb2, telephony_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.platform import Platform


async def test_a_killed_telephony_service_rebuilds_identical_calls(platform: Platform) -> None:
    md = (("x-api-key", "e2e-grpc"),)
    address = platform.settings.address(platform.settings.telephony_port)
    async with grpc.aio.insecure_channel(address) as channel:
        telephony = telephony_pb2_grpc.TelephonyServiceStub(channel)
        calls = []
        # ended by the announcement, queued where tenant-grpc has no agent with the skill, still in the IVR
        for digit in ("3", "2", "7"):
            call = await telephony.OfferCall(
                telephony_pb2.OfferCallRequest(ani="+821012121212", dnis="1588"), metadata=md
            )
            calls.append(
                await telephony.SendDigits(
                    telephony_pb2.SendDigitsRequest(call_id=call.call_id, digits=digit), metadata=md
                )
            )

    platform.stop_service("telephony", sig=signal.SIGKILL)
    platform.start_service("telephony", "services.telephony")
    await platform.wait_ready(timeout=90)

    async with grpc.aio.insecure_channel(address) as channel:
        health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        telephony = telephony_pb2_grpc.TelephonyServiceStub(channel)
        for before in calls:
            after = await telephony.GetCall(telephony_pb2.GetCallRequest(call_id=before.call_id), metadata=md)
            assert after == before
        # and it still writes: the queued call can be abandoned at the version it had
        ended = await telephony.HangUpCall(
            telephony_pb2.HangUpCallRequest(
                call_id=calls[1].call_id, party=call_events.PARTY_CALLER, expected_version=calls[1].version
            ),
            metadata=md,
        )
        assert ended.version == calls[1].version + 1
