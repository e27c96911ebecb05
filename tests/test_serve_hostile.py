"""`asr serve` against hostile and broken clients, on loopback only, bounded in count and time: every request gets
a JSON error or its transcript, stalled clients are dropped, connections are bounded, and valid clients are served
throughout."""

from __future__ import annotations

import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from asr.serve import make_server

SMALL = Path(__file__).parent / "data" / "small_model"


@pytest.fixture(scope="module")
def hostile_server():
    srv = make_server(SMALL, port=0, max_concurrent=2, max_upload_mb=0.5, client_timeout=1.0, max_connections=8)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture(scope="module")
def flac(tiny_corpus):
    return sorted((tiny_corpus / "LibriSpeech" / "test-clean-2").rglob("*.flac"))[0].read_bytes()


def raw(server, payload: bytes, wait: float = 5.0) -> tuple[int | None, dict | None]:
    """Send bytes, read the answer until the server closes or ``wait`` passes: (status, JSON body)."""
    host, port = server.server_address[:2]
    with socket.create_connection((host, port), timeout=wait) as s:
        s.sendall(payload)
        chunks = []
        try:
            while chunk := s.recv(65536):
                chunks.append(chunk)
                if b"\r\n\r\n" in b"".join(chunks):
                    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
                    length = [int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")]
                    if length and len(body) >= length[0]:
                        break
        except TimeoutError:
            pass
    data = b"".join(chunks)
    if not data:
        return None, None
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    return status, json.loads(body) if body.strip().startswith(b"{") else None


def post(path: str, body: bytes, length: str | None = None) -> bytes:
    length = str(len(body)) if length is None else length
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n").encode() + body


@pytest.mark.parametrize("length, status", [("abc", 400), ("-5", 400), ("1e3", 400), (" ", 400)])
def test_bad_content_length_is_a_json_400(hostile_server, length, status):
    code, body = raw(hostile_server, post("/transcribe", b"", length))
    assert code == status and "Content-Length" in body["error"]


def test_missing_length_garbage_and_malformed_requests_get_json_errors(hostile_server):
    code, body = raw(hostile_server, b"POST /transcribe HTTP/1.1\r\nHost: x\r\n\r\n")
    assert code == 411 and "Content-Length" in body["error"]
    code, body = raw(hostile_server, b"\x00\xff garbage \x13\x37\r\n\r\n")
    assert code == 400 and "error" in body
    code, body = raw(hostile_server, b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n")
    assert code == 414 and "error" in body
    code, body = raw(hostile_server, post("/transcribe", b"not audio at all"))
    assert code == 400 and "not a readable audio file" in body["error"]


def test_short_body_gets_408_and_stalled_clients_are_dropped(hostile_server):
    start = time.monotonic()
    code, body = raw(hostile_server, post("/transcribe", b"x" * 100, length="5000"))
    assert code == 408 and "stopped arriving" in body["error"] and time.monotonic() - start < 4
    # headers begun and never finished: the server closes the connection after its timeout
    host, port = hostile_server.server_address[:2]
    with socket.create_connection((host, port), timeout=5) as s:
        s.sendall(b"POST /transcribe HTTP/1.1\r\nHost: x\r\n")
        start = time.monotonic()
        assert s.recv(100) == b""  # closed, no answer owed to a request that never arrived
        assert time.monotonic() - start < 4


def test_decoding_failure_is_a_json_500(hostile_server, flac, monkeypatch):
    recognizers = list(hostile_server.pool.queue)

    def boom(*_a, **_k):
        raise RuntimeError("out of cheese")

    for r in recognizers:
        monkeypatch.setattr(r, "transcripts", boom)
    code, body = raw(hostile_server, post("/transcribe", flac), wait=30)
    assert code == 500 and "out of cheese" in body["error"]
    assert hostile_server.pool.qsize() == 2  # the recognizer went back to the pool


def test_connections_are_bounded_and_valid_clients_keep_being_served(hostile_server, flac):
    host, port = hostile_server.server_address[:2]
    idle = [socket.create_connection((host, port), timeout=5) for _ in range(12)]  # more than max_connections
    try:
        time.sleep(0.3)
        refused = 0
        for s in idle:
            s.settimeout(0.2)
            try:
                refused += s.recv(200).startswith(b"HTTP/1.1 503")
            except TimeoutError:
                pass
        assert refused >= 12 - hostile_server.max_connections  # the extra ones were answered 503 at once
        assert threading.active_count() < 40
    finally:
        for s in idle:
            s.close()
    time.sleep(1.5)  # the idle ones time out and free their slots
    served_before = hostile_server.served
    with ThreadPoolExecutor(4) as ex:
        results = list(ex.map(lambda _: raw(hostile_server, post("/transcribe", flac), wait=60), range(6)))
    assert all(code == 200 and body["text"] for code, body in results)
    assert hostile_server.served == served_before + 6  # counted under a lock
