"""Request limits that protect the service: a cap on request bodies, enforced before they are read."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["MAX_BODY_BYTES", "BodySizeLimit"]

# Task text is at most 4,000 characters and context a few kilobytes; 256 KB leaves room for large
# edited argument lists while keeping one request from holding megabytes of memory (the seed's 10 MB
# limit was a denial-of-service finding).
MAX_BODY_BYTES = 256 * 1024


class BodySizeLimit:
    """Answers 413 for bodies over the limit: by Content-Length at once, or while streaming.

    A streamed (chunked) body is refused the moment it passes the limit: the 413 is sent from inside
    `receive`, and whatever the app answers after that is dropped. (Raising alone is not enough: FastAPI
    turns any error while it reads a body into a 400 before this middleware could see it.)
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_large = int(value) > self.max_bytes
                except ValueError:
                    too_large = False
                if too_large:
                    await self._refuse(send)
                    return
        received = 0
        responded = False
        refused = False

        async def limited_receive() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    if not responded and not refused:
                        refused = True
                        await self._refuse(send)
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal responded
            if refused:
                return  # the 413 is the response; the app's answer to the broken-off body is not
            if message["type"] == "http.response.start":
                responded = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not responded and not refused:
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            {"error": {"code": "body_too_large", "message": f"request bodies are limited to {self.max_bytes} bytes"}}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _BodyTooLarge(Exception):
    pass
