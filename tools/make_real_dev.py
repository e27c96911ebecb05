"""A natural-speech dev set from the real recordings that installable packages carry (asr/corpora/real_dev.py):

    python tools/make_real_dev.py OUT [--sdist-dir DIR]      # same as: asr make-real-dev OUT
"""

import sys

from asr.cli import main

if __name__ == "__main__":
    sys.exit(main(["make-real-dev", *sys.argv[1:]]))
