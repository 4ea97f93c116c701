"""The benchmarks' REST client: aiohttp, whose connection pool and HTTP parser are cheap enough that the
load generator does not starve the platform it measures on a 2-core machine.

httpx (the tests' client) spent about 100 ms of CPU per call in `make bench-routing` at 10 calls/s, a
fifth of the machine: py-spy showed a fifth of that in httpcore looking for an async library on every
request (a failing import each time) and most of the rest in its pool, scanning every connection for
each request."""

from collections.abc import Mapping
from typing import Any

import aiohttp


class RestError(Exception):
    """A request that failed: an HTTP status of 400 or more, or no answer at all."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


class Rest:
    """POST with an API key, JSON in and out, on a pool of `connections` keep-alive connections."""

    def __init__(self, base_url: str, api_key: str, connections: int, timeout: float = 30.0) -> None:
        self._session = aiohttp.ClientSession(
            base_url=base_url,
            headers={"X-API-Key": api_key},
            connector=aiohttp.TCPConnector(limit=connections),
            timeout=aiohttp.ClientTimeout(total=timeout),
        )

    async def __aenter__(self) -> "Rest":
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._session.close()

    async def post(self, path: str, body: Mapping[str, object]) -> Any:
        try:
            async with self._session.post(path, json=body) as answer:
                if answer.status >= 400:
                    raise RestError(f"HTTP {answer.status}")
                return await answer.json()
        except (aiohttp.ClientError, TimeoutError) as error:
            raise RestError(type(error).__name__) from error
