#!/usr/bin/env bash
# Set up asr on a fresh Debian/Ubuntu machine: the TTS engines used by the synthetic corpus (WordNet, for
# `asr make-lm-text`, and an English word list for the recipes' lexicons), then a virtual environment in .venv with
# asr installed (editable) with its test extras.
# Idempotent.
#   bash tools/setup.sh            # PYTHON=python3.12 bash tools/setup.sh to pick the interpreter
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "setup.sh: asr needs Python >= 3.11" >&2; exit 1; }

pkgs=(espeak-ng flite festival festvox-kallpc16k festvox-kdlpc16k libsndfile1 wordnet-base wamerican)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  echo "setup.sh: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[dev]"
.venv/bin/asr --help >/dev/null
echo "setup.sh: ready. Activate with: source .venv/bin/activate"
