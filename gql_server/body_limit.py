"""S27: request bodies larger than MAX_REQUEST_BODY_BYTES are refused with 413 before they are read whole.

A pure ASGI middleware, below the request log and the security headers and above everything that reads
a body. A declared `Content-Length` over the limit is answered at once, without calling the app and without
reading a byte of the body. A body without a length (chunked) is counted as the app reads it: the moment
the count passes the limit, the app's read fails and the caller gets the same 413, so no more than the limit
is ever held in memory. The server discards whatever the client still sends (uvicorn drops body data that
arrives after the response is complete), and the connection stays usable.
"""

from __future__ import annotations

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAYLOAD_TOO_LARGE = 413


class BodyTooLarge(Exception):
    """Raised from `receive` inside the app once the body read so far passes the limit."""


class BodyLimitMiddleware:
    """Refuses HTTP request bodies over `max_bytes` with 413 and a JSON error, before they are read whole."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        message = f"The request body is larger than {max_bytes} bytes, the most this service accepts."
        self._refusal = orjson.dumps({"errors": [{"message": message}]})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer 413 for a declared length over the limit; otherwise count the body as the app reads it."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(send)
            return
        received = 0
        response_started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                # Counted for every body, a declared length included: a server or proxy in front might pass
                # on more than was declared, and the limit holds whatever the headers said.
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def watching_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except BodyTooLarge:
            if response_started:
                # Nothing sensible can follow a response already under way; the server closes the connection.
                raise
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": PAYLOAD_TOO_LARGE,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(self._refusal)).encode("ascii")),
                ],
            }
        )
        await send({"type": "http.response.body", "body": self._refusal})


def _content_length(scope: Scope) -> int | None:
    """The declared Content-Length, or None when there is none (or it is not a number: the server refuses those)."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
