"""`asr serve`: transcription over HTTP, bound to 127.0.0.1 unless told otherwise.

    POST /transcribe[?format=json|text|srt|vtt]   body: the audio file's bytes (wav, flac, ogg, mp3; any rate)
    GET  /health                                  {"status": "ok", ...}

Answers are what ``asr transcribe --format ...`` prints (JSON by default). Uploads above ``max_upload_mb`` get 413,
unreadable audio 400 with the reason, a missing, non-numeric or negative Content-Length 411 / 400, an unknown path
404, a failure while decoding 500; every error is a JSON ``{"error": ...}``. At most ``max_concurrent`` decodes run
at once (each on its own recognizer: the beam decoder is not thread-safe); a request that waits longer than
``queue_timeout`` seconds for one gets 503. Every connection has a socket timeout (``client_timeout``: a client that
stalls in its headers or body is dropped, a short body gets 408), and at most ``max_connections`` are served at
once (more get 503 at once), so neither idle nor hostile clients can exhaust the server's threads.
"""

from __future__ import annotations

import json
import logging
import queue
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from asr.audio import AudioError, load_audio_bytes
from asr.formats import FORMATS, render
from asr.transcribe import Recognizer, load_model

log = logging.getLogger(__name__)
CONTENT_TYPES = {"json": "application/json", "text": "text/plain; charset=utf-8",
                 "srt": "application/x-subrip; charset=utf-8", "vtt": "text/vtt; charset=utf-8"}


class TranscriptionServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, recognizers: list[Recognizer], host: str = "127.0.0.1", port: int = 8000,
                 max_upload_mb: float = 50.0, queue_timeout: float = 60.0, model_name: str = "",
                 client_timeout: float = 30.0, max_connections: int = 64):
        self.client_timeout = client_timeout
        self.connections = threading.BoundedSemaphore(max_connections)
        self.max_connections = max_connections
        self._lock = threading.Lock()
        super().__init__((host, port), _Handler)
        self.pool: queue.Queue[Recognizer] = queue.Queue()
        for r in recognizers:
            self.pool.put(r)
        self.max_concurrent = len(recognizers)
        self.max_upload = int(max_upload_mb * 1024 * 1024)
        self.queue_timeout = queue_timeout
        self.model_name = model_name
        self.served = 0

    def count_served(self) -> None:
        with self._lock:
            self.served += 1

    def process_request(self, request: socket.socket, client_address) -> None:
        """A thread per connection, up to ``max_connections``; past that, 503 and close (no thread)."""
        if not self.connections.acquire(blocking=False):
            try:
                body = json.dumps({"error": f"busy: {self.max_connections} connections open; retry later"}) + "\n"
                request.sendall(f"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                                f"Retry-After: 5\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
                                f"{body}".encode())
            except OSError:
                pass
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.connections.release()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class _Handler(BaseHTTPRequestHandler):
    server: TranscriptionServer
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        self.timeout = self.server.client_timeout  # socket timeout for every read and write of this connection
        super().setup()

    def _content_length(self) -> int | None:
        """The announced body size; None (after answering 411 / 400 and closing) when missing or not a size."""
        value = self.headers.get("Content-Length")
        if value is None:
            self.close_connection = True
            self._error(411, "a Content-Length header is required")
            return None
        try:
            size = int(value.strip())
        except ValueError:
            size = -1
        if size < 0 or not value.strip().isdigit():
            self.close_connection = True
            self._error(400, f"Content-Length must be a number of bytes, got {value!r}")
            return None
        return size

    def log_message(self, fmt: str, *args) -> None:
        log.info("%s %s", self.address_string(), fmt % args)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own errors (malformed request line or headers, 414, 501, ...) as JSON too, with a status
        line even when the request line was too garbled to name an HTTP version."""
        self.close_connection = True
        self.request_version = self.protocol_version
        try:
            self._error(code, message or self.responses.get(code, ("error",))[0])
        except OSError:
            pass

    def _send(self, status: int, body: str, content_type: str = "application/json") -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str) -> None:
        self._send(status, json.dumps({"error": message}) + "\n")

    def do_GET(self) -> None:
        if urlparse(self.path).path == "/health":
            self._send(200, json.dumps({"status": "ok", "model": self.server.model_name,
                                        "max_concurrent": self.server.max_concurrent,
                                        "idle": self.server.pool.qsize(), "served": self.server.served}) + "\n")
        else:
            self._error(404, f"no such endpoint: {self.path} (POST /transcribe, GET /health)")

    def do_POST(self) -> None:
        url = urlparse(self.path)
        if url.path != "/transcribe":
            self._discard_body()
            self._error(404, f"no such endpoint: {url.path} (POST /transcribe, GET /health)")
            return
        fmt = parse_qs(url.query).get("format", ["json"])[0]
        if fmt not in FORMATS:
            self._discard_body()
            self._error(400, f"unknown format {fmt!r}: choose {', '.join(FORMATS)}")
            return
        size = self._content_length()
        if size is None:
            return
        length = size
        if size > self.server.max_upload:
            # read (and drop) a moderately oversized body so that the client, still sending, gets the 413 rather than
            # a broken pipe; a far larger one is not read at all and the connection is closed
            if size <= 4 * self.server.max_upload + (1 << 20):
                for _ in range(0, size, 1 << 16):
                    self.rfile.read(min(1 << 16, size))
                    size -= 1 << 16
            self.close_connection = True
            self._error(413, f"upload of {length} bytes is over the limit of {self.server.max_upload} bytes")
            return
        try:
            data = self.rfile.read(size)
        except TimeoutError:
            self.close_connection = True
            self._error(408, f"the body stopped arriving ({size} bytes announced, "
                             f"{self.server.client_timeout:g} s without data)")
            return
        if len(data) < size:
            self.close_connection = True
            self._error(400, f"the body is shorter than its Content-Length ({len(data)} of {size} bytes)")
            return
        try:
            if not data:
                raise AudioError("upload: the request has no audio")
            wave = load_audio_bytes(data, "upload")
        except AudioError as e:
            self._error(400, str(e))
            return
        try:
            recognizer = self.server.pool.get(timeout=self.server.queue_timeout)
        except queue.Empty:
            self._error(503, f"busy: all {self.server.max_concurrent} decoders in use; retry later")
            return
        failure = None
        try:
            result = recognizer.transcripts([wave], ["upload"])[0]
        except Exception as e:  # noqa: BLE001 - the client gets an answer, the log the details
            log.exception("decoding an upload failed")
            failure = e
        finally:
            self.server.pool.put(recognizer)  # before answering: the decoder is free when the client hears back
        if failure is not None:
            self._error(500, f"decoding failed: {type(failure).__name__}: {failure}")
            return
        self.server.count_served()
        self._send(200, render(result, fmt), CONTENT_TYPES[fmt])

    def _discard_body(self) -> None:
        value = (self.headers.get("Content-Length") or "0").strip()
        length = int(value) if value.isdigit() else -1
        try:
            if 0 < length <= self.server.max_upload:
                self.rfile.read(length)
            elif length:
                self.close_connection = True
        except TimeoutError:
            self.close_connection = True


def make_server(model: Path, host: str = "127.0.0.1", port: int = 8000, max_concurrent: int = 2,
                max_upload_mb: float = 50.0, lm: Path | None = None, decode: str | None = None,
                queue_timeout: float = 60.0, runtime: str = "torch", client_timeout: float = 30.0,
                max_connections: int = 64) -> TranscriptionServer:
    if max_concurrent < 1:
        raise ValueError(f"max_concurrent must be >= 1, got {max_concurrent}")
    recognizers = [load_model(model, lm=lm, decode=decode, runtime=runtime) for _ in range(max_concurrent)]
    return TranscriptionServer(recognizers, host, port, max_upload_mb, queue_timeout, str(model), client_timeout,
                               max_connections)


def serve(server: TranscriptionServer) -> float:
    """Serve until interrupted (Ctrl-C); returns the seconds served. The caller reports (see `asr serve`)."""
    started = time.time()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return time.time() - started
