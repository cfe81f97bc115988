"""HTTP plumbing: orjson responses, size-limited body reading, auth, the metrics middleware."""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable, Collection, MutableMapping
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse

from charter.server._metrics import ServerMetrics
from charter.serving._requests import FieldError, RequestRejected

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_ORJSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


class JSONBody(JSONResponse):
    """A JSON response rendered by orjson (numpy values included)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=_ORJSON_OPTIONS)


def error_response(
    errors: list[dict[str, Any]], status: int, headers: dict[str, str] | None = None, **extra: Any
) -> JSONBody:
    """The one error shape: {"detail": [{"loc": [...], "msg": ..., "type": ...}], ...}."""
    return JSONBody({"detail": errors, **extra}, status_code=status, headers=headers)


def too_large(limit: int, got: str) -> RequestRejected:
    return RequestRejected(
        [
            FieldError(
                ("body",),
                f"The request body must be at most {limit} bytes (serve.max_body_bytes). "
                f"Got {got} instead.",
                "body_too_large",
            )
        ],
        status=413,
    )


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 when its Content-Length or its streamed size passes `limit`."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise RequestRejected(
                [
                    FieldError(
                        ("header", "content-length"),
                        "The Content-Length must be a number.",
                        "header_invalid",
                    )
                ],
                status=400,
            )
        if int(declared) > limit:
            raise too_large(limit, f"{declared} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(limit, "more")
        chunks.append(chunk)
    return b"".join(chunks)


class BearerAuth:
    """`Authorization: Bearer <token>`, compared in constant time; None means open."""

    def __init__(self, token: str | None) -> None:
        self._token = token.encode("utf-8") if token is not None else None

    @property
    def enabled(self) -> bool:
        return self._token is not None

    def __repr__(self) -> str:
        return f"BearerAuth(enabled={self.enabled})"

    def check(self, request: Request) -> JSONBody | None:
        """None when the request may pass, else the 401 answer."""
        if self._token is None:
            return None
        return self.check_header(request.headers.get("authorization"))

    def check_header(self, header: str | None) -> JSONBody | None:
        """None when the Authorization header's value may pass, else the 401 answer."""
        if self._token is None:
            return None
        given = b""
        error = "invalid_request"
        if header is not None:
            scheme, _, value = header.partition(" ")
            if scheme.lower() == "bearer":
                given = value.strip().encode("utf-8", "replace")
                error = "invalid_token"
        if hmac.compare_digest(given, self._token):
            return None
        msg = (
            "The request must carry 'Authorization: Bearer <token>'. Got no bearer token instead."
            if error == "invalid_request"
            else "The bearer token of the request must be the server's token. Got another instead."
        )
        return error_response(
            [{"loc": ["header", "authorization"], "msg": msg, "type": "unauthorized"}],
            401,
            headers={"WWW-Authenticate": f'Bearer realm="charter", error="{error}"'},
        )


async def read_asgi_body(receive: Receive, declared: bytes | None, limit: int) -> bytes:
    """`read_body` for a raw ASGI request: Content-Length first, then the streamed size."""
    if declared is not None:
        if not declared.isdigit():
            raise RequestRejected(
                [
                    FieldError(
                        ("header", "content-length"),
                        "The Content-Length must be a number.",
                        "header_invalid",
                    )
                ],
                status=400,
            )
        if int(declared) > limit:
            raise too_large(limit, f"{declared.decode()} bytes")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise RequestRejected(
                [FieldError(("body",), "The client went away.", "disconnected")], status=400
            )
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large(limit, "more")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


class MetricsMiddleware:
    """Counts every HTTP request and its latency by endpoint (known paths only) and status."""

    def __init__(self, app: ASGIApp, metrics: ServerMetrics, paths: Collection[str]) -> None:
        self.app = app
        self.metrics = metrics
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            path = scope.get("path", "")
            endpoint = path if path in self.paths else "other"
            self.metrics.observe_request(endpoint, status, time.perf_counter() - start)
