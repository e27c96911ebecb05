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
    srv = make_server(SMALL, port=0, max_concurrent=2, max_upload_mb=0.5, client_timeout=3.0, max_connections=8)
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
    assert code == 408 and "stopped arriving" in body["error"] and time.monotonic() - start < 10
    # headers begun and never finished: the server closes the connection after its timeout
    host, port = hostile_server.server_address[:2]
    with socket.create_connection((host, port), timeout=5) as s:
        s.sendall(b"POST /transcribe HTTP/1.1\r\nHost: x\r\n")
        start = time.monotonic()
        assert s.recv(100) == b""  # closed, no answer owed to a request that never arrived
        assert time.monotonic() - start < 10


def test_decoding_failure_is_a_json_500(hostile_server, flac, monkeypatch):
    recognizers = list(hostile_server.pool.queue)

    def boom(*_a, **_k):
        raise RuntimeError("out of cheese")

    for r in recognizers:
        monkeypatch.setattr(r, "transcripts", boom)
    code, body = raw(hostile_server, post("/transcribe", flac), wait=30)
    assert code == 500 and "out of cheese" in body["error"]
    assert hostile_server.pool.qsize() == 2  # the recognizer went back to the pool


def test_connections_are_bounded_and_valid_clients_keep_being_served(flac):
    import selectors

    srv = make_server(SMALL, port=0, max_concurrent=2, client_timeout=5.0, max_connections=4)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = srv.server_address[:2]
        threads_before = threading.active_count()
        idle = [socket.create_connection((host, port), timeout=5) for _ in range(8)]  # twice max_connections
        answers = {}
        sel = selectors.DefaultSelector()
        for s in idle:
            sel.register(s, selectors.EVENT_READ)
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline and len(answers) < 4:
            for key, _ in sel.select(timeout=0.2):
                answers[key.fileobj] = key.fileobj.recv(200)
                sel.unregister(key.fileobj)
        assert len(answers) == 4 and all(a.startswith(b"HTTP/1.1 503") for a in answers.values())
        assert threading.active_count() - threads_before <= 4 + 1  # one thread per served connection, no more
        for s in idle:
            s.close()
        served_before = srv.served
        deadline = time.monotonic() + 10  # the idle connections' threads see them closed and free their slots
        while srv.connections._value < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert srv.connections._value == 4
        with ThreadPoolExecutor(3) as ex:
            results = list(ex.map(lambda _: raw(srv, post("/transcribe", flac), wait=60), range(6)))
        assert [code for code, _ in results] == [200] * 6 and all(body["text"] for _, body in results)
        assert srv.served == served_before + 6  # counted under a lock
    finally:
        srv.shutdown()
        srv.server_close()
