"""The floor under `make bench-commands`: what gRPC alone costs on this machine.

A bare `grpc.aio` server, in a process of its own, answers `OfferCall` at once with a call shaped
like telephony's answer: no interceptors, no Kafka, no state. The same client drives it as drives
telephony, so the rate it reaches and the CPU it takes per call on each side bound what any Python
service behind this protocol can do here, whatever its engine.

    python -m bench.grpc_floor PORT      serve until killed (bench.commands starts and stops it)
"""

import asyncio
import os
import socket
import sys
import time
from datetime import UTC, datetime

import grpc
from cc.telephony.v1 import telephony_pb2, telephony_pb2_grpc

from services.common.envelope import new_id, timestamp


class InstantTelephony(telephony_pb2_grpc.TelephonyServiceServicer):
    async def OfferCall(
        self, request: telephony_pb2.OfferCallRequest, context: grpc.aio.ServicerContext
    ) -> telephony_pb2.Call:
        return telephony_pb2.Call(
            call_id=new_id(),
            ani=request.ani,
            dnis=request.dnis,
            status=telephony_pb2.CALL_STATUS_IN_IVR,
            version=2,
            offered_at=timestamp(datetime.now(UTC)),
        )


async def serve(port: int) -> None:
    server = grpc.aio.server()
    telephony_pb2_grpc.add_TelephonyServiceServicer_to_server(InstantTelephony(), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def started(port: int, timeout: float = 30.0) -> asyncio.subprocess.Process:
    """Start the floor server in a process of its own and return once it accepts connections."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.grpc_floor", str(port), env=os.environ.copy()
    )
    deadline = time.monotonic() + timeout
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if time.monotonic() > deadline or process.returncode is not None:
                process.kill()
                raise RuntimeError(f"the gRPC floor server did not listen on {port}") from None
            await asyncio.sleep(0.1)
            continue
        writer.close()
        await writer.wait_closed()
        return process


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1])))
