"""`asr serve` now (uvicorn + Starlette) against the server of an earlier commit (http.server), in one run: both
serve the same model on loopback, take turns under the same load (raw-body ``POST /transcribe``, which both have),
and the script prints requests/s and latency p50 / p95 for each with the ratio new / old. Also the OpenAI route of
the new server, multipart with verbose_json, to show what the API shape costs.

    python tools/bench_serve.py exp/mini/model some.flac --old-ref abaa0f2 [--requests 40] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import os
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("load_test_serve", ROOT / "tools" / "load_test_serve.py")
load = sys.modules["load_test_serve"] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(load)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(source: Path, model: Path, max_concurrent: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(source)}
    proc = subprocess.Popen([sys.executable, "-m", "asr.cli", "serve", str(model), "--port", str(port),
                             "--max-concurrent", str(max_concurrent)], env=env, cwd=source,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(url + "/health", timeout=5) as r:
                json.loads(r.read())
            return proc, url
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"bench_serve: the server from {source} did not start") from None
            time.sleep(0.2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", type=Path)
    ap.add_argument("audio", type=Path)
    ap.add_argument("--old-ref", default="abaa0f2", help="the commit whose server is the baseline")
    ap.add_argument("--requests", type=int, default=40)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--max-concurrent", type=int, default=2, help="decodes at once, both servers")
    ap.add_argument("--rounds", type=int, default=2, help="turns each server takes (the best one counts)")
    args = ap.parse_args()
    model = args.model.resolve()
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp) / "old"
        old.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.old_ref, "asr", "conf"],
                                 capture_output=True, check=True).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(old, filter="data")
        servers = {f"old ({args.old_ref}, http.server)": start(old, model, args.max_concurrent),
                   "new (uvicorn + Starlette)": start(ROOT, model, args.max_concurrent)}
        try:
            best: dict[str, load.LoadResult] = {}
            runs = [(name, url, None) for name, (_, url) in servers.items()]
            model_id = model.parent.name if model.name == "model" else model.name  # as `asr serve` names it
            runs.append(("new, OpenAI route (multipart, verbose_json)", servers["new (uvicorn + Starlette)"][1],
                         model_id))
            for name, url, openai in runs:  # warm-up: model loaded, threads started
                load.load_test(*load.request_for(url, args.audio, openai), 4, 2)
            for _ in range(args.rounds):
                for name, url, openai in runs:
                    result = load.load_test(*load.request_for(url, args.audio, openai), args.requests,
                                            args.concurrency)
                    if name not in best or result.rps > best[name].rps:
                        best[name] = result
        finally:
            for proc, _ in servers.values():
                proc.terminate()
                proc.wait(timeout=60)
    print(f"{args.requests} requests x {args.concurrency} concurrent, {args.audio.name}, best of {args.rounds}")
    print(f"{'server':48s} {'req/s':>7s} {'p50 ms':>8s} {'p95 ms':>8s}")
    for name, r in best.items():
        print(f"{name:48s} {r.rps:7.2f} {1000 * r.pct(50):8.0f} {1000 * r.pct(95):8.0f}")
    old_r, new_r = list(best.values())[:2]
    print(f"new / old: throughput x{new_r.rps / old_r.rps:.2f}, p50 x{new_r.pct(50) / old_r.pct(50):.2f}, "
          f"p95 x{new_r.pct(95) / old_r.pct(95):.2f}")


if __name__ == "__main__":
    main()
