#!/usr/bin/env bash
# Set up asr on a fresh Debian/Ubuntu machine: the TTS engines used by the synthetic corpus (WordNet, for
# `asr make-lm-text`, and an English word list for the recipes' lexicons), then a virtual environment in .venv with
# asr installed (editable) with its test extras.
# Idempotent.
#   bash tools/setup.sh            # PYTHON=python3.12 bash tools/setup.sh to pick the interpreter
#   bash tools/setup.sh --mbrola   # also MBROLA's English voices (`asr make-corpus --plan mbrola-extra`): they are
#                                  # in Debian's non-free section, which this adds to apt's sources on Debian
#   bash tools/setup.sh --freetts  # also FreeTTS's kevin16 (`--plan freetts-extra`; a Java runtime comes with it)
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "setup.sh: asr needs Python >= 3.11" >&2; exit 1; }
mbrola=0
freetts=0
for arg in "$@"; do
  case $arg in
    --mbrola) mbrola=1 ;;
    --freetts) freetts=1 ;;
    *) echo "setup.sh: unknown option $arg (known: --mbrola, --freetts)" >&2; exit 1 ;;
  esac
done

pkgs=(espeak-ng flite festival festvox-kallpc16k festvox-kdlpc16k libsndfile1 wordnet-base wamerican)
[ $mbrola = 0 ] || pkgs+=(mbrola mbrola-us1 mbrola-us2 mbrola-us3 mbrola-en1)
[ $freetts = 0 ] || pkgs+=(freetts)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  nonfree=/etc/apt/sources.list.d/asr-non-free.sources
  if [ $mbrola = 1 ] && ! apt-cache show mbrola-us1 >/dev/null 2>&1 && [ ! -e "$nonfree" ]; then
    . /etc/os-release
    if [ "${ID:-}" != debian ]; then
      echo "setup.sh: --mbrola adds Debian's non-free section; on ${ID:-this system} install mbrola mbrola-us1" \
        "mbrola-us2 mbrola-us3 mbrola-en1 from where it has them (Ubuntu: multiverse)" >&2
      exit 1
    fi
    echo "setup.sh: adding Debian's contrib and non-free sections for $VERSION_CODENAME ($nonfree)"
    printf '%s\n' "Types: deb" "URIs: http://deb.debian.org/debian" "Suites: $VERSION_CODENAME" \
      "Components: contrib non-free" "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg" |
      $sudo tee "$nonfree" >/dev/null
  fi
  echo "setup.sh: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[dev]"
.venv/bin/asr --help >/dev/null
echo "setup.sh: ready. Activate with: source .venv/bin/activate"
