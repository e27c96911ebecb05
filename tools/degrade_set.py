"""A degraded copy of an evaluation set (LibriSpeech layout): each utterance through a random room and/or with
coloured noise at a fixed SNR (asr/corpora/degraded.py), drawn from seeds that training never used.

    python tools/degrade_set.py SRC_SUBSET_DIR OUT_SUBSET_DIR [--room] [--snr DB] [--seed N]   # = asr degrade ...
    asr evaluate MODEL OUT_SUBSET_DIR
"""

import sys

from asr.cli import main

if __name__ == "__main__":
    sys.exit(main(["degrade", *sys.argv[1:]]))
