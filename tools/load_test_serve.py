"""A bounded load test of `asr serve` on this machine: N requests from C concurrent clients, loopback only.

    asr serve exp/mini/model --port 8000 &
    python tools/load_test_serve.py http://127.0.0.1:8000 some.flac [--requests 50] [--concurrency 4]

Prints throughput (requests/s, audio seconds per second) and latency percentiles.
"""

from __future__ import annotations

import argparse
import json
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

MAX_REQUESTS, MAX_CONCURRENCY, MAX_SECONDS = 1000, 16, 300


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url", help="the server, e.g. http://127.0.0.1:8000 (loopback only)")
    parser.add_argument("audio", type=Path, help="the file every request posts")
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    if urlparse(args.url).hostname not in ("127.0.0.1", "localhost", "::1"):
        parser.error("the load test only targets a server on this machine (127.0.0.1 / localhost)")
    if not 1 <= args.requests <= MAX_REQUESTS or not 1 <= args.concurrency <= MAX_CONCURRENCY:
        parser.error(f"--requests must be 1..{MAX_REQUESTS} and --concurrency 1..{MAX_CONCURRENCY}")
    body = args.audio.read_bytes()
    deadline = time.monotonic() + MAX_SECONDS

    def one(_: int) -> tuple[float, float]:
        if time.monotonic() > deadline:
            return float("nan"), 0.0
        start = time.perf_counter()
        req = urllib.request.Request(args.url.rstrip("/") + "/transcribe", data=body, method="POST")
        with urllib.request.urlopen(req, timeout=120) as response:
            duration = json.loads(response.read())["duration"]
        return time.perf_counter() - start, duration

    start = time.perf_counter()
    with ThreadPoolExecutor(args.concurrency) as ex:
        results = [r for r in ex.map(one, range(args.requests)) if r[0] == r[0]]
    wall = time.perf_counter() - start
    latencies = sorted(r[0] for r in results)

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))]

    audio = sum(r[1] for r in results)
    print(f"{len(results)} requests, {args.concurrency} concurrent, {wall:.2f} s: {len(results) / wall:.1f} req/s, "
          f"{audio / wall:.0f} s of audio per second")
    print(f"latency p50 {1000 * pct(50):.0f} ms, p90 {1000 * pct(90):.0f} ms, p99 {1000 * pct(99):.0f} ms, "
          f"max {1000 * latencies[-1]:.0f} ms")


if __name__ == "__main__":
    main()
