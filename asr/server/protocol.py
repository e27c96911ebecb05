"""uvicorn's h11 protocol with the two limits uvicorn leaves to the application: a deadline for a request's head
(uvicorn waits for ever on a client that opens a connection and sends nothing, or its headers a byte at a time)
and a cap on open connections that answers JSON + Retry-After (uvicorn's ``limit_concurrency`` answers plain text
and still keeps the connections). Its protocol errors (malformed request line or headers, a bad Content-Length)
are answered as JSON too."""

from __future__ import annotations

import json

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol


def _raw_response(status: int, reason: str, message: str, extra: str = "") -> bytes:
    body = json.dumps({"error": message}) + "\n"
    return (f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"{extra}Connection: close\r\n\r\n{body}").encode()


class BoundedProtocol(H11Protocol):
    head_timeout: float = 30.0  # seconds from connecting (or from the last answer) to a complete request head
    max_connections: int = 64

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_deadline = None
        self._protocol_error = None
        next_event = self.conn.next_event

        def next_event_noting_errors():  # uvicorn drops h11's reason; keep it for the 400's message
            try:
                return next_event()
            except h11.RemoteProtocolError as e:
                self._protocol_error = e
                raise

        self.conn.next_event = next_event_noting_errors
        if len(self.connections) > self.max_connections:
            transport.write(_raw_response(503, "Service Unavailable", f"busy: {self.max_connections} connections "
                                          "open; retry later", "Retry-After: 5\r\n"))
            transport.close()
            return
        self._arm_head_deadline()

    def _arm_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
        self._head_deadline = self.loop.call_later(self.head_timeout, self._head_overdue)

    def _head_overdue(self) -> None:
        """No request in flight ``head_timeout`` seconds after connecting or answering: close (nothing is owed to a
        request that never arrived). A connection upgraded to a WebSocket belongs to another protocol by then."""
        idle = self.cycle is None or self.cycle.response_complete
        if idle and self.transport.get_protocol() is self and not self.transport.is_closing():
            self.transport.close()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_head_deadline()

    def connection_lost(self, exc) -> None:
        if getattr(self, "_head_deadline", None) is not None:
            self._head_deadline.cancel()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        """A malformed request (h11 refused its line or headers, e.g. a non-numeric Content-Length): JSON 400."""
        if self.conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            self.transport.write(_raw_response(400, "Bad Request", "malformed HTTP request: "
                                             f"{self._protocol_error or msg}"))
        self.transport.close()


def bounded_protocol(head_timeout: float, max_connections: int) -> type[BoundedProtocol]:
    """The protocol class for uvicorn's ``Config(http=...)`` with these limits."""
    return type("BoundedProtocol", (BoundedProtocol,), {"head_timeout": head_timeout,
                                                        "max_connections": max_connections})
