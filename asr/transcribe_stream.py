"""`asr transcribe --stream`: one input read piece by piece (a file, or raw 16-bit 16 kHz mono PCM on stdin) through
the streaming recognizer, printing results while the audio arrives.

text: the final words on stdout as they settle (the line grows), the partial on stderr when it is a terminal.
json: one event per line: ``{"type": "partial", "text", "seconds"}`` when the partial changes, ``{"type": "final",
"words": [...], "seconds"}`` when words settle, and ``{"type": "done", "text", "duration", "words"}`` at the end.
``--realtime`` paces a file at the speed of speech (what a live source does; for demos and latency checks)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from asr.audio import SAMPLE_RATE, audio_blocks, pcm_blocks
from asr.package import load_package
from asr.streaming import StreamingRecognizer, done_event, update_events

STDIN = Path("-")


def run_stream(model: Path, source: Path, fmt: str = "text", chunk_ms: float = 160.0, realtime: bool = False,
               sample_rate: int = SAMPLE_RATE, out=None) -> int:
    out = out or sys.stdout
    stream = StreamingRecognizer(load_package(model))
    pieces = pcm_blocks(sys.stdin.buffer, sample_rate, chunk_ms / 1000) if source == STDIN \
        else audio_blocks(source, chunk_ms / 1000)
    live = fmt == "text" and sys.stderr.isatty()
    started, shown, last_partial = time.monotonic(), 0, ""

    def show(update) -> None:
        nonlocal shown, last_partial
        if fmt == "json":
            out.writelines(json.dumps(event) + "\n" for event in update_events(update, last_partial))
        else:
            for w in update.final:
                out.write(("" if shown == 0 else " ") + w.text)
                shown += 1
            if live and update.partial != last_partial:
                sys.stderr.write("\r\x1b[K" + update.partial[-150:])
        last_partial = update.partial
        out.flush()

    for piece in pieces:
        if realtime:  # a live source: this piece exists only once its duration has passed
            time.sleep(max(0.0, started + (stream.features.samples + len(piece)) / SAMPLE_RATE - time.monotonic()))
        show(stream.accept(piece))
    show(stream.finish())
    result = stream.transcript()
    if fmt == "json":
        out.write(json.dumps(done_event(result)) + "\n")
    else:
        if live:
            sys.stderr.write("\r\x1b[K")
        out.write("\n")
    out.flush()
    return 0
