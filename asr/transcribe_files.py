"""`asr transcribe`: many inputs (files, directories, ``-`` for stdin) -> stdout or one result file each.

Inputs are read and decoded in groups of about ``group_seconds`` of audio, so memory stays bounded however many files
there are; results come out in input order. A file longer than ``long_seconds`` is read in blocks and run window by
window (``Recognizer.transcribe_file``), so memory stays bounded however long it is. A file that cannot be read is
reported and skipped; the run finishes the others and exits 1 with the list of failures. With ``--output-dir`` each
result is written to a temporary file and renamed, so an interrupted run never leaves a half-written result.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm.auto import tqdm

from asr.atomic import write_text_atomic
from asr.audio import (AUDIO_EXTENSIONS, SAMPLE_RATE, AudioError, find_audio_files, load_audio,
                       load_audio_bytes)
from asr.formats import EXTENSIONS, render
from asr.transcribe import Transcript, load_model

STDIN = Path("-")


def expand_inputs(inputs: list[Path]) -> list[tuple[Path, Path]]:
    """(input, output name relative to --output-dir) for every file; directories are searched recursively for audio
    extensions; ``-`` is stdin."""
    out = []
    for item in inputs:
        if item == STDIN:
            out.append((STDIN, Path("stdin")))
        elif item.is_dir():
            found = find_audio_files(item)
            out += [(p, p.relative_to(item)) for p in found] or [(item, Path(item.name))]  # empty: a failure
        else:
            out.append((item, Path(item.name)))
    return out


def read_input(path: Path) -> np.ndarray:
    if path.is_dir():  # given as an input and holding no audio file (x.wav/ included)
        raise AudioError(f"{path}: a directory with no audio file in it (looked for "
                         f"{', '.join(sorted(AUDIO_EXTENSIONS))})")
    if path != STDIN:
        return load_audio(path)
    data = sys.stdin.buffer.read()
    if not data:
        raise AudioError("-: no audio on standard input")
    return load_audio_bytes(data, "-")


def _seconds(path: Path) -> float:
    """A file's duration from its header (0 when it has none readable: the whole read reports the problem)."""
    try:
        info = sf.info(str(path))
        return info.frames / info.samplerate
    except (sf.LibsndfileError, RuntimeError, OSError, ZeroDivisionError):
        return 0.0


def run_transcribe(model: Path, inputs: list[Path], fmt: str = "text", output_dir: Path | None = None,
                   batch_seconds: float = 120.0, lm: Path | None = None, decode: str | None = None,
                   group_seconds: float = 600.0, runtime: str = "torch", ngram: Path | None = None,
                   ngram_weight: float | None = None, long_seconds: float = 300.0, lexicon: Path | None = None) -> int:
    recognizer = load_model(model, lm=lm, decode=decode, runtime=runtime, ngram=ngram, ngram_weight=ngram_weight,
                            lexicon=lexicon)
    items = expand_inputs(inputs)
    if not items:
        print("asr transcribe: error: no audio file found in the inputs", file=sys.stderr)
        return 1
    failures: list[str] = []
    audio_seconds = compute_seconds = 0.0
    group: list[tuple[Path, Path, np.ndarray]] = []
    bar = tqdm(total=len(items), desc="Transcribing", unit="file", disable=len(items) < 2)

    def flush() -> None:
        nonlocal audio_seconds, compute_seconds
        if not group:
            return
        start = time.perf_counter()
        results = recognizer.transcripts([w for _, _, w in group], [str(p) for p, _, _ in group], batch_seconds)
        compute_seconds += time.perf_counter() - start
        for (path, name, wave), result in zip(group, results):
            audio_seconds += len(wave) / SAMPLE_RATE
            emit(result, path, name, fmt, output_dir, multiple=len(items) > 1)
        bar.update(len(group))
        group.clear()

    def fail(error: AudioError) -> None:
        failures.append(str(error))
        print(f"asr transcribe: error: {error}", file=sys.stderr)
        bar.update(1)

    pending = 0.0
    for path, name in items:
        if path != STDIN and _seconds(path) > long_seconds:  # on its own, read in blocks: memory of one window
            flush()
            pending = 0.0
            start = time.perf_counter()
            try:
                result = recognizer.transcribe_file(path)
            except AudioError as e:
                fail(e)
                continue
            compute_seconds += time.perf_counter() - start
            audio_seconds += result.duration
            emit(result, path, name, fmt, output_dir, multiple=len(items) > 1)
            bar.update(1)
            continue
        try:
            wave = read_input(path)
        except AudioError as e:
            fail(e)
            continue
        group.append((path, name, wave))
        pending += len(wave) / SAMPLE_RATE
        if pending >= group_seconds:
            flush()
            pending = 0.0
    flush()
    bar.close()
    if audio_seconds:
        print(f"{len(items) - len(failures)} file(s), {audio_seconds:.1f} s of audio, "
              f"RTF {compute_seconds / audio_seconds:.4f}", file=sys.stderr)
    if failures:
        print(f"asr transcribe: {len(failures)} of {len(items)} input(s) failed:", file=sys.stderr)
        for failure in failures:
            print(f"  {failure}", file=sys.stderr)
        return 1
    return 0


def emit(result: Transcript, path: Path, name: Path, fmt: str, output_dir: Path | None, multiple: bool) -> None:
    text = render(result, fmt)
    if output_dir is not None:
        write_text_atomic(Path(output_dir) / name.with_suffix("." + EXTENSIONS[fmt]), text)
    elif fmt == "text" and multiple:
        sys.stdout.write(f"{path}\t{text}")
    elif fmt in ("srt", "vtt") and multiple:
        sys.stdout.write(f"# {path}\n{text}")
    else:
        sys.stdout.write(text)
    sys.stdout.flush()

