#!/usr/bin/env bash
# The GPU checks, as one script for a CUDA machine that has PyTorch but maybe not the rest of asr's dependencies and
# no TTS engines: the GPU tests (tests/test_gpu.py: cuDNN packed path == CPU padded path, bf16/fp16 CTC, `asr train
# trainer=gpu` with exact resume and the DDP launch, GPU inference) on a tiny corpus made beforehand, then the
# training-throughput benchmark (tools/bench_train.py) of the LibriSpeech configurations and recipes/en's
# general_extra against a plain-PyTorch peer.
#
#   bash tools/gpu_check.sh [LOG_DIR]
#
# Prepare on a machine with the TTS engines (tools/setup.sh), from the repository root:
#   python -c "from asr.corpora.synthetic import make_corpus as m; m('.gpu/tiny_corpus', 'tiny', seed=0, tarballs=True)"
#   python -c "from asr.corpora.librispeech import prepare_librispeech as p; p('.gpu/tiny_corpus', '.gpu/tiny_manifests')"
# and, where the GPU machine cannot reach PyPI, wheels of the missing packages in .whl/ (installed to /tmp/site). On
# an image with torch, Lightning, numpy, scipy, numba, msgpack and the like (2026-12, Python 3.12) these were missing:
#   pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
#       hydra-core omegaconf librosa soxr audioread pooch platformdirs soundfile cffi pycparser jiwer rapidfuzz \
#       lhotse intervaltree lilcom cytoolz flashlight-text decorator
#   pip wheel --no-deps -w .whl antlr4-python3-runtime==4.9.3     # (no wheel on PyPI; pure Python)
set -uo pipefail
log_dir=${1:-${OUT:-.gpu/log}}
mkdir -p "$log_dir"
# the tiny corpus made beforehand; without it the tests make their own (needs the TTS engines)
if [ -d .gpu/tiny_corpus ]; then export ASR_TEST_CORPUS=.gpu/tiny_corpus; fi
# shellcheck source=gpu_env.sh
. "$(dirname "$0")/gpu_env.sh"

{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
  lscpu | grep -E "^Model name|^CPU\(s\)"
  "$python" -c "import torch, lightning; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'cudnn',
torch.backends.cudnn.version(), 'lightning', lightning.__version__)"
} 2>&1 | tee "$log_dir/env.txt"

status=0
timeout 200 "$python" -m pytest -q -p no:cacheprovider tests/test_gpu.py -rA 2>&1 | tee "$log_dir/tests.txt" || status=1

bench() { timeout 80 "$python" tools/bench_train.py "$@" 2>&1 | grep -v Warning | tee -a "$log_dir/bench_train.txt" || status=1; }
cuts=.gpu/tiny_manifests/librispeech_cuts_train-clean-5.jsonl.gz  # the data loader's supply, where it was made
loader=(); if [ -f $cuts ]; then loader=(--cuts $cuts --loader-batches 15); fi
bench --experiment librispeech_100 --precision bf16-mixed 32-true 16-mixed --steps 10 "${loader[@]}"
bench --experiment librispeech_960 --precision bf16-mixed 32-true --steps 5
# recipes/en's best set-up (conv2d front end, 3 x 320) at a GPU-sized batch: what its CPU hours would be on a GPU
bench --experiment general_extra --precision bf16-mixed 32-true --steps 10 --batch-seconds 320 --utt-seconds 8
exit $status
