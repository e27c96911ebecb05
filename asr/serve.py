"""`asr serve`: transcription over HTTP, bound to 127.0.0.1 unless told otherwise.

    POST /transcribe[?format=json|text|srt|vtt]   body: the audio file's bytes (wav, flac, ogg, mp3; any rate)
    GET  /health                                  {"status": "ok", ...}

Answers are what ``asr transcribe --format ...`` prints (JSON by default). Uploads above ``max_upload_mb`` get 413,
unreadable audio 400 with the reason, an unknown path 404. At most ``max_concurrent`` decodes run at once (each on
its own recognizer: the beam decoder is not thread-safe); a request that waits longer than ``queue_timeout``
seconds for one gets 503.
"""

from __future__ import annotations

import json
import logging
import queue
import sys
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
                 max_upload_mb: float = 50.0, queue_timeout: float = 60.0, model_name: str = ""):
        super().__init__((host, port), _Handler)
        self.pool: queue.Queue[Recognizer] = queue.Queue()
        for r in recognizers:
            self.pool.put(r)
        self.max_concurrent = len(recognizers)
        self.max_upload = int(max_upload_mb * 1024 * 1024)
        self.queue_timeout = queue_timeout
        self.model_name = model_name
        self.served = 0

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class _Handler(BaseHTTPRequestHandler):
    server: TranscriptionServer
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt: str, *args) -> None:
        log.info("%s %s", self.address_string(), fmt % args)

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
        length = self.headers.get("Content-Length")
        if length is None:
            self.close_connection = True
            self._error(411, "a Content-Length header is required")
            return
        size = int(length)
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
        data = self.rfile.read(size)
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
        try:
            result = recognizer.transcripts([wave], ["upload"])[0]
        finally:
            self.server.pool.put(recognizer)
        self.server.served += 1
        self._send(200, render(result, fmt), CONTENT_TYPES[fmt])

    def _discard_body(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if 0 < length <= self.server.max_upload:
            self.rfile.read(length)
        elif length:
            self.close_connection = True


def make_server(model: Path, host: str = "127.0.0.1", port: int = 8000, max_concurrent: int = 2,
                max_upload_mb: float = 50.0, lm: Path | None = None, decode: str | None = None,
                queue_timeout: float = 60.0, runtime: str = "torch") -> TranscriptionServer:
    if max_concurrent < 1:
        raise ValueError(f"max_concurrent must be >= 1, got {max_concurrent}")
    recognizers = [load_model(model, lm=lm, decode=decode, runtime=runtime) for _ in range(max_concurrent)]
    return TranscriptionServer(recognizers, host, port, max_upload_mb, queue_timeout, str(model))


def run_server(model: Path, host: str, port: int, max_concurrent: int, max_upload_mb: float,
               lm: Path | None = None, decode: str | None = None, runtime: str = "torch") -> int:
    server = make_server(model, host, port, max_concurrent, max_upload_mb, lm, decode, runtime=runtime)
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"asr serve: warning: listening on {host}, reachable from other machines", file=sys.stderr)
    print(f"asr serve: {server.url} (POST /transcribe, GET /health); {max_concurrent} concurrent decodes, uploads "
          f"up to {max_upload_mb:g} MB; Ctrl-C stops", file=sys.stderr, flush=True)
    started = time.time()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        print(f"asr serve: stopped after {time.time() - started:.0f} s, {server.served} request(s) served",
              file=sys.stderr)
    return 0
