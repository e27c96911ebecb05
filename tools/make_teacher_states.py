"""Kept so that the commands recorded in recipes/en/RESULTS.md still run: the tool is now the `asr
make-teacher-states` command (asr/teacher.py), with the same arguments.

    python tools/make_teacher_states.py OUT CUTS.jsonl.gz [CUTS.jsonl.gz ...] [--pool 2] [--int8]
"""

import sys

from asr.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["make-teacher-states", *sys.argv[1:]]))
