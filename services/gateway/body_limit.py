"""The gateway's request-size edge: a body above the limit is answered 413 before any route sees it.

uvicorn and FastAPI read whatever body arrives; without this a single request could make the gateway
hold (and try to parse) megabytes. The rest of a body over the limit is read and dropped, never kept,
before the answer: a server that answers and closes while the client is still sending makes most
clients report a broken connection instead of the 413."""

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

ERROR_ID = "request-too-large"


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        body, size, more = b"", 0, True
        over = declared.isdigit() and int(declared) > self.max_bytes
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: nothing to answer
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            over = over or size > self.max_bytes
            if not over:
                body += chunk
            more = message.get("more_body", False)
        if over:
            await self._refuse(send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()  # after the body: the disconnect, when it comes
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send) -> None:
        content = json.dumps(
            {
                "error_id": ERROR_ID,
                "message": f"the request body is larger than {self.max_bytes} bytes",
                "field_violations": [],
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": content})
