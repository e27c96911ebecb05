"""A bounded load test of `asr serve` on this machine: N requests from C concurrent clients, loopback only.

    asr serve exp/mini/model --port 8000 &
    python tools/load_test_serve.py http://127.0.0.1:8000 some.flac [--requests 50] [--concurrency 4] [--openai MODEL]

Prints throughput (requests/s, audio seconds per second) and latency percentiles. Requests go to the raw-body route
``POST /transcribe`` (which every version of `asr serve` has, so old and new servers compare on the same footing),
or with ``--openai MODEL`` to ``POST /v1/audio/transcriptions`` as multipart (``response_format=verbose_json``).
"""

from __future__ import annotations

import argparse
import json
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

MAX_REQUESTS, MAX_CONCURRENCY, MAX_SECONDS = 1000, 16, 300
LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass
class LoadResult:
    requests: int
    concurrency: int
    wall: float  # seconds
    audio: float  # seconds of audio transcribed
    latencies: list[float]  # seconds, sorted

    def pct(self, p: float) -> float:
        return self.latencies[min(len(self.latencies) - 1, int(p / 100 * len(self.latencies)))]

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.wall

    def report(self) -> str:
        return (f"{len(self.latencies)} requests, {self.concurrency} concurrent, {self.wall:.2f} s: {self.rps:.1f} "
                f"req/s, {self.audio / self.wall:.0f} s of audio per second\n"
                f"latency p50 {1000 * self.pct(50):.0f} ms, p95 {1000 * self.pct(95):.0f} ms, p99 "
                f"{1000 * self.pct(99):.0f} ms, max {1000 * self.latencies[-1]:.0f} ms")


def request_for(url: str, audio: Path, openai_model: str | None = None) -> tuple[str, bytes, dict]:
    """(url, body, headers) of one request posting ``audio``."""
    body = audio.read_bytes()
    if not openai_model:
        return url.rstrip("/") + "/transcribe", body, {}
    boundary = "asr-load-test-boundary"
    fields = {"model": openai_model, "response_format": "verbose_json"}
    form = b"".join(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n".encode()
                    for k, v in fields.items())
    form += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{audio.name}\"\r\n"
             f"Content-Type: application/octet-stream\r\n\r\n").encode() + body + f"\r\n--{boundary}--\r\n".encode()
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    return url.rstrip("/") + "/v1/audio/transcriptions", form, headers


def load_test(url: str, body: bytes, headers: dict, requests: int, concurrency: int) -> LoadResult:
    if urlparse(url).hostname not in LOOPBACK:
        raise ValueError("the load test only targets a server on this machine (127.0.0.1 / localhost)")
    if not 1 <= requests <= MAX_REQUESTS or not 1 <= concurrency <= MAX_CONCURRENCY:
        raise ValueError(f"requests must be 1..{MAX_REQUESTS} and concurrency 1..{MAX_CONCURRENCY}")
    deadline = time.monotonic() + MAX_SECONDS

    def one(_: int) -> tuple[float, float]:
        if time.monotonic() > deadline:
            return float("nan"), 0.0
        start = time.perf_counter()
        req = urllib.request.Request(url, data=body, method="POST", headers=headers)
        with urllib.request.urlopen(req, timeout=120) as response:
            duration = json.loads(response.read())["duration"]
        return time.perf_counter() - start, duration

    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as ex:
        results = [r for r in ex.map(one, range(requests)) if r[0] == r[0]]
    wall = time.perf_counter() - start
    return LoadResult(requests, concurrency, wall, sum(r[1] for r in results), sorted(r[0] for r in results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url", help="the server, e.g. http://127.0.0.1:8000 (loopback only)")
    parser.add_argument("audio", type=Path, help="the file every request posts")
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--openai", metavar="MODEL", help="post to the OpenAI-compatible route with this model id")
    args = parser.parse_args()
    if urlparse(args.url).hostname not in LOOPBACK:
        parser.error("the load test only targets a server on this machine (127.0.0.1 / localhost)")
    try:
        print(load_test(*request_for(args.url, args.audio, args.openai), args.requests, args.concurrency).report())
    except ValueError as e:
        parser.error(str(e))


if __name__ == "__main__":
    main()
