"""What keeps the server bounded: a request body read with a size limit and a per-read timeout, and a pool of
decoders with a bounded wait queue (503 + Retry-After past it)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

CLOSE = {"Connection": "close"}  # an answer before the body was read: the connection cannot be reused


class ApiError(Exception):
    """An answer other than 200: ``status`` and a message for the client (rendered as JSON by the app)."""

    def __init__(self, status: int, message: str, code: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers or {}


@dataclass(frozen=True)
class Limits:
    max_upload: int = 50 * 1024 * 1024  # bytes of request body
    client_timeout: float = 30.0  # seconds a client may leave a request's head or body unfinished between reads
    queue_timeout: float = 60.0  # seconds a request may wait for a free decoder
    max_queue: int = 16  # requests waiting for a decoder; more get 503 at once
    max_connections: int = 64  # open connections; more get 503 and are closed
    keep_alive: float = 5.0  # seconds an idle keep-alive connection stays open


async def read_body(receive: Callable[[], Awaitable[dict]], headers, limits: Limits) -> bytes:
    """The whole request body, at most ``limits.max_upload`` bytes (413 past it), each piece arriving within
    ``limits.client_timeout`` (408 otherwise: a client that stalls mid-upload does not hold the server)."""
    announced = headers.get("content-length")
    size = int(announced) if announced and announced.isdigit() else None  # h11 has already refused malformed ones
    over = size is not None and size > limits.max_upload
    if over and size > 4 * limits.max_upload + (1 << 20):
        raise ApiError(413, f"upload of {size} bytes is over the limit of {limits.max_upload} bytes", headers=CLOSE)
    chunks, received = [], 0
    while True:
        try:
            message = await asyncio.wait_for(receive(), limits.client_timeout)
        except TimeoutError:
            raise ApiError(408, f"the body stopped arriving ({received} of {size if size is not None else '?'} "
                                f"bytes, {limits.client_timeout:g} s without data)", headers=CLOSE) from None
        if message["type"] == "http.disconnect":
            raise ApiError(400, f"the client went away after {received} bytes of the body", headers=CLOSE)
        body = message.get("body", b"")
        received += len(body)
        if received > limits.max_upload:
            over = True  # a moderately oversized body is read (and dropped) so the client hears the 413, not a reset
        elif not over:
            chunks.append(body)
        if not message.get("more_body", False):
            break
    if over:
        raise ApiError(413, f"upload of {received} bytes is over the limit of {limits.max_upload} bytes",
                       headers=CLOSE)
    return b"".join(chunks)


class DecoderPool:
    """Recognizers lent one request at a time (the beam decoder is not thread-safe). At most ``max_queue`` requests
    wait for one, each at most ``queue_timeout`` seconds; the rest get 503 with Retry-After."""

    def __init__(self, recognizers: list, limits: Limits):
        self.size = len(recognizers)
        self._free: asyncio.Queue | None = None
        self._recognizers = recognizers
        self.limits = limits
        self.waiting = 0
        self.served = 0

    @property
    def idle(self) -> int:
        return self.size if self._free is None else self._free.qsize()

    def _queue(self) -> asyncio.Queue:
        if self._free is None:  # made on the server's event loop, on first use
            self._free = asyncio.Queue()
            for r in self._recognizers:
                self._free.put_nowait(r)
        return self._free

    async def run(self, work: Callable):
        """``work(recognizer)`` on a worker thread (never on the event loop) with a recognizer of the pool."""
        from starlette.concurrency import run_in_threadpool

        free = self._queue()
        busy = {"Retry-After": str(max(1, round(self.limits.queue_timeout / 4)))}
        if free.empty() and self.waiting >= self.limits.max_queue:
            raise ApiError(503, f"busy: {self.size} decoders in use and {self.waiting} requests waiting; retry later",
                           headers=busy)
        self.waiting += 1
        try:
            recognizer = await asyncio.wait_for(free.get(), self.limits.queue_timeout)
        except TimeoutError:
            raise ApiError(503, f"busy: no decoder free within {self.limits.queue_timeout:g} s; retry later",
                           headers=busy) from None
        finally:
            self.waiting -= 1
        try:
            result = await run_in_threadpool(work, recognizer)
        finally:
            free.put_nowait(recognizer)  # before answering: the decoder is free when the client hears back
        self.served += 1
        return result
