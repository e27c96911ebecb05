# Sourced by the GPU scripts (tools/gpu_check.sh): on a CUDA machine that has PyTorch but not the rest of asr's
# dependencies, install the wheels carried in .whl/ (where it cannot reach PyPI) to /tmp/site and put an `asr`
# console script beside python3, as `pip install` would.
export PYTHONUNBUFFERED=1
python=${PYTHON:-python3}
if ! "$python" -c "import lhotse, hydra, librosa, jiwer, flashlight.lib.text" 2> /dev/null && compgen -G ".whl/*.whl" > /dev/null; then
  "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || exit 1
  export PYTHONPATH=/tmp/site:$PWD
fi
if ! command -v asr > /dev/null; then
  exe=$("$python" -c 'import sys; print(sys.executable)')
  printf '#!%s\nimport sys\nfrom asr.cli import main\nsys.exit(main())\n' "$exe" > "$(dirname "$exe")/asr"
  chmod +x "$(dirname "$exe")/asr"
fi
