"""The gateway keeps an idle keep-alive connection open longer than clients' pools keep theirs: with
uvicorn's 5 s default, a request sent on a pooled connection just as the server closed it failed
(seen as ReadError by httpx under load), and a POST cannot be retried blindly."""

import asyncio

from services.platform import Platform

REQUEST = b"GET /healthz HTTP/1.1\r\nHost: gateway\r\nConnection: keep-alive\r\n\r\n"


async def test_an_idle_connection_stays_usable_past_a_pools_idle_time(platform: Platform) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", platform.settings.gateway_port)
    try:
        for _ in range(2):
            writer.write(REQUEST)
            await writer.drain()
            status = await asyncio.wait_for(reader.readline(), 10)
            assert status.startswith(b"HTTP/1.1 200"), status
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            await asyncio.sleep(6)  # past httpx's 5 s and uvicorn's default keep-alive
    finally:
        writer.close()
