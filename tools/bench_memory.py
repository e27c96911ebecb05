"""Peak memory of `asr transcribe` on one long file: 10 min, 1 h and 3 h, each in a fresh process, read in blocks
(the default for files over 5 minutes) and, for comparison in the same run, read whole (the path before blocks).
Also what a process costs before any audio: Python + torch, + asr, + the model.

    python tools/bench_memory.py exp/mini/model data/mini/manifests/librispeech_cuts_test-clean-2.jsonl.gz \
        [--minutes 10 60 180] [--workdir /tmp/asr-mem]

The long files are the data's utterances on a loop with half a second of silence between them, written as FLAC in
blocks (never held whole), and deleted afterwards unless --keep.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

MEASURE = """
import resource, subprocess, sys
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
"""
FIXED = """
import json, resource, sys
def rss():
    return [int(l.split()[1]) / 1024 for l in open("/proc/self/status") if l.startswith("VmRSS:")][0]
out = {"python": rss()}
import torch
out["+ torch"] = rss()
import asr.transcribe
out["+ asr's inference modules"] = rss()
import librosa.filters
out["+ librosa (the mel filterbank; scipy, numba)"] = rss()
r = asr.transcribe.load_model(sys.argv[1])
out["+ the model and its decoder"] = rss()
import numpy as np
r.transcribe(np.zeros(16000, np.float32), sample_rate=16000)
out["+ a first 1 s decode (oneDNN / allocator pools)"] = rss()
print(json.dumps(out))
"""
WHOLE = "import sys; from asr.transcribe_files import run_transcribe; sys.exit(run_transcribe(sys.argv[1], " \
        "[__import__('pathlib').Path(sys.argv[2])], long_seconds=1e12))"


def write_long(path: Path, waves: list[np.ndarray], minutes: float) -> None:
    silence = np.zeros(8000, np.float32)
    target, written, i = int(minutes * 60 * 16000), 0, 0
    with sf.SoundFile(path, "w", 16000, 1, format="FLAC") as f:
        while written < target:
            for piece in (waves[i % len(waves)], silence):
                piece = piece[:target - written]
                f.write(piece)
                written += len(piece)
            i += 1


def peak_mb(cmd: list[str]) -> float:
    out = subprocess.run([sys.executable, "-c", MEASURE, *cmd], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("data", help="a cuts manifest or LibriSpeech-layout subset (the speech looped into long files)")
    ap.add_argument("--minutes", type=float, nargs="+", default=[10, 60, 180])
    ap.add_argument("--workdir", type=Path)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--json")
    args = ap.parse_args()
    from asr.cuts import load_eval_waves

    waves, _ = load_eval_waves(Path(args.data))
    work = args.workdir or Path(tempfile.mkdtemp(prefix="asr-mem-"))
    work.mkdir(parents=True, exist_ok=True)
    fixed = json.loads(subprocess.run([sys.executable, "-c", FIXED, args.model], capture_output=True, text=True,
                                      check=True).stdout)
    print("fixed cost of a process (RSS, MB): " + ", ".join(f"{k} {v:.0f}" for k, v in fixed.items()))
    rows = {}
    try:
        for minutes in args.minutes:
            path = work / f"long_{minutes:g}min.flac"
            write_long(path, waves, minutes)
            blocks = peak_mb([sys.executable, "-m", "asr.cli", "transcribe", args.model, str(path)])
            whole = peak_mb([sys.executable, "-c", WHOLE, args.model, str(path)])
            rows[minutes] = {"blocks_mb": blocks, "whole_mb": whole}
            print(f"{minutes:6g} min: peak RSS read in blocks {blocks:6.0f} MB, read whole {whole:6.0f} MB", flush=True)
            path.unlink()
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    first, last = rows[min(rows)]["blocks_mb"], rows[max(rows)]["blocks_mb"]
    print(f"blocks: {max(rows):g} min vs {min(rows):g} min: {100 * (last / first - 1):+.1f}% "
          f"(goal: within 20% and under 1 GB)")
    if args.json:
        Path(args.json).write_text(json.dumps({"fixed": fixed, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
