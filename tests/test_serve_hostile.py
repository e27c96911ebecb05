"""`asr serve` against hostile and broken clients, on loopback only, bounded in count and time: every request gets
a JSON error or its transcript, stalled clients are dropped, connections are bounded, and valid clients are served
throughout (their latency printed)."""

from __future__ import annotations

import json
import socket
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from asr.server import make_server

SMALL = Path(__file__).parent / "data" / "small_model"


@pytest.fixture(scope="module")
def hostile_server():
    with make_server(SMALL, port=0, max_concurrent=2, max_upload_mb=0.5, client_timeout=2.0,
                     max_connections=8) as srv:
        yield srv


@pytest.fixture(scope="module")
def flac(tiny_corpus):
    return sorted((tiny_corpus / "LibriSpeech" / "test-clean-2").rglob("*.flac"))[0].read_bytes()


def raw(server, payload: bytes, wait: float = 10.0, drip: float = 0.0) -> tuple[int | None, dict | None]:
    """Send bytes (one at a time, ``drip`` seconds apart, if asked), read the answer until the server closes or
    ``wait`` passes: (status, JSON body); (None, None) when the server closed without an answer."""
    host, port = server.server_address
    with socket.create_connection((host, port), timeout=wait) as s:
        try:
            if drip:
                for i in range(len(payload)):
                    s.sendall(payload[i:i + 1])
                    time.sleep(drip)
            else:
                s.sendall(payload)
        except OSError:  # the server hung up on us mid-send: read what it said
            pass
        chunks = []
        try:
            while chunk := s.recv(65536):
                chunks.append(chunk)
                head, sep, body = b"".join(chunks).partition(b"\r\n\r\n")
                length = [int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")]
                if sep and length and len(body) >= length[0]:
                    break
        except (TimeoutError, ConnectionResetError):
            pass
    data = b"".join(chunks)
    if not data:
        return None, None
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    assert body.strip().startswith(b"{"), f"not a JSON answer: {data[:300]!r}"
    return status, json.loads(body)


def post(path: str, body: bytes, length: str | None = None, extra: str = "") -> bytes:
    length = str(len(body)) if length is None else length
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n{extra}\r\n").encode() + body


@pytest.mark.parametrize("length", ["abc", "-5", "1e3", " ", "12, 13"])
def test_bad_content_length_is_a_json_400(hostile_server, length):
    code, body = raw(hostile_server, post("/transcribe", b"", length))
    assert code == 400 and "Content-Length" in body["error"]


def test_malformed_requests_get_json_errors(hostile_server):
    code, body = raw(hostile_server, b"POST /transcribe HTTP/1.1\r\nHost: x\r\n\r\n")  # no length: no body
    assert code == 400 and "no audio" in body["error"]
    code, body = raw(hostile_server, b"\x00\xff garbage \x13\x37\r\n\r\n")
    assert code == 400 and "malformed" in body["error"]
    code, body = raw(hostile_server, b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert code == 404 and "no such endpoint" in body["error"]
    code, body = raw(hostile_server, b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"X-Junk: y\r\n" * 5000 + b"\r\n")
    assert code == 200 and body["status"] == "ok"  # 50 KB of headers in one piece: odd but well-formed
    code, body = raw(hostile_server, post("/transcribe", b"not audio at all"))
    assert code == 400 and "not a readable audio file" in body["error"]
    chunked = "Transfer-Encoding: chunked\r\n"
    code, body = raw(hostile_server, post("/transcribe", b"zz\r\n" + b"x" * 96, "100", chunked))
    assert code == 400 and "malformed" in body["error"]
    code, body = raw(hostile_server, post("/v1/audio/transcriptions", b"--x\r\ngarbage",
                                          extra="Content-Type: multipart/form-data; boundary=x\r\n"))
    assert code == 400 and "error" in body


def test_oversized_uploads_get_413_without_being_read(hostile_server):
    code, body = raw(hostile_server, post("/transcribe", b"", str(10**12)))  # a terabyte announced, nothing sent
    assert code == 413 and "over the limit" in body["error"]


def test_short_body_gets_408_and_stalled_clients_are_dropped(hostile_server):
    start = time.monotonic()
    code, body = raw(hostile_server, post("/transcribe", b"x" * 100, length="5000"))
    assert code == 408 and "stopped arriving" in body["error"] and time.monotonic() - start < 6
    for payload in (b"POST /transcribe HTTP/1.1\r\nHost: x\r\n", b""):  # headers begun and never finished; nothing
        start = time.monotonic()
        assert raw(hostile_server, payload) == (None, None)  # closed: nothing is owed to a request that never came
        assert time.monotonic() - start < 6
    start = time.monotonic()  # headers dripped a byte every 0.1 s: cut off at the deadline, not after the last byte
    assert raw(hostile_server, b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: yes\r\n" * 10 + b"\r\n",
               drip=0.1) == (None, None)
    assert time.monotonic() - start < 6


def test_decoding_failure_is_a_json_500(hostile_server, flac, monkeypatch):
    def boom(*_a, **_k):
        raise RuntimeError("out of cheese")

    for r in hostile_server.pool._recognizers:
        monkeypatch.setattr(r, "transcripts", boom)
    code, body = raw(hostile_server, post("/transcribe", flac), wait=30)
    assert code == 500 and "out of cheese" in body["error"]
    assert hostile_server.pool.idle == 2  # the recognizers went back to the pool


def test_everything_at_once_valid_clients_keep_being_served(flac):
    """Hostile traffic in parallel with valid clients: idle connections past the cap, slow drips, garbage, short
    bodies, bad lengths; every answer is JSON, the cap holds, and every valid request is transcribed."""
    with make_server(SMALL, port=0, max_concurrent=2, client_timeout=2.0, max_connections=12,
                     max_upload_mb=1.0) as srv:
        host, port = srv.server_address
        idle = [socket.create_connection((host, port), timeout=5) for _ in range(16)]  # past the cap of 12
        time.sleep(0.3)
        refused = 0
        for s in idle:
            s.setblocking(False)
            try:
                refused += s.recv(200).startswith(b"HTTP/1.1 503")
            except BlockingIOError:
                pass
        assert refused >= 4 and len(srv.uvicorn.server_state.connections) <= 12
        for s in idle:
            s.close()
        time.sleep(0.3)  # the idle connections' slots come free
        hostile = [post("/transcribe", b"", "abc"), b"\x16\x03\x01 tls hello?\r\n\r\n", post("/transcribe", b"junk"),
                   post("/transcribe", b"x" * 10, "9999"), post("/nope", b""), b"GET /health HTTP/1.1\r\nHo"]
        outcomes = []
        with ThreadPoolExecutor(8) as ex:
            bad = [ex.submit(raw, srv, p, 10.0, 0.05 if i % 3 == 0 else 0.0) for i, p in enumerate(hostile * 2)]
            valid = []
            for _ in range(6):
                start = time.perf_counter()
                valid.append((raw(srv, post("/transcribe", flac), wait=60), time.perf_counter() - start))
            outcomes = [f.result() for f in bad]
        assert [code for (code, _), _ in valid] == [200] * 6 and all(body["text"] for (_, body), _ in valid)
        assert all(code is None or 400 <= code < 600 for code, _ in outcomes)
        latencies = sorted(t for _, t in valid)
        print(f"valid clients under hostile load: median {statistics.median(latencies):.2f} s, "
              f"max {latencies[-1]:.2f} s; hostile outcomes {sorted(str(c) for c, _ in outcomes)}")
        assert srv.served == 6
