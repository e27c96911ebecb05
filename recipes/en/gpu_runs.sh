#!/usr/bin/env bash
# Several experiment=general variants trained side by side on one GPU (each with its share of the CPU cores for its
# data loader, which is the limit there), each scored greedy on the natural-speech dev set and the synthetic test
# set; for a GPU machine reached through a narrow transfer, with the training and noise audio packed as Opus
# (tools/pack_corpus.py: MANIFEST_DIR, and MANIFEST_DIR/../noise with the room responses), and DATA_DIR/cmvn.json and
# DATA_DIR/real (dev-real) as the en recipe made them.
#   bash recipes/en/gpu_runs.sh OUT_DIR MANIFEST_DIR DATA_DIR SECONDS "name:override,override" ...
# e.g. bash recipes/en/gpu_runs.sh $OUT .gpu/en/manifests data/en 300 "base:" "wide:model.num_layers=5,model.hidden_size=512"
# A run still training after SECONDS is stopped and scored from its last checkpoint (TRAINER=cpu: the same on a
# CPU, as a smoke test). Writes OUT_DIR/<name>.txt: synthetic dev CER by epoch, wall time, dev-real and test reports.
set -uo pipefail
out=$1 manifests=$2 data=$3 seconds=$4
shift 4
# shellcheck source=../../tools/gpu_env.sh
. "$(dirname "$0")/../../tools/gpu_env.sh"
# shellcheck source=../shared/stages.sh
. "$(dirname "$0")/../shared/stages.sh"
cores=$(nproc)
workers=$(( (cores - $#) / $# ))
[ "$workers" -ge 1 ] || workers=1
mkdir -p "$out" exp/gpu_runs

one() {
  local name=${1%%:*} overrides=${1#*:} dir=exp/gpu_runs/${1%%:*} start
  start=$(date +%s)
  # shellcheck disable=SC2086
  OMP_NUM_THREADS=1 timeout "$seconds" asr train experiment=general "trainer=${TRAINER:-gpu}" "data.manifest_dir=$manifests" \
    "data.cmvn=$data/cmvn.json" "data.num_workers=$workers" "exp_dir=$dir" \
    ${overrides//,/ } > "$dir.train.log" 2>&1
  local rc=$? took=$(( $(date +%s) - start ))
  [ -d "$dir/model" ] || asr export "$dir/checkpoints/last.ckpt" "$dir/model" >> "$dir.train.log" 2>&1
  {
    echo "$name: $overrides; asr train exit $rc after $took s, $workers loader workers"
    echo "dev CER by epoch: $(dev_cer_by_epoch "$dir")"
    asr evaluate "$dir/model" "$data/real/LibriSpeech/dev-real" --output-dir "$dir/eval"
    asr evaluate "$dir/model" "$manifests/librispeech_cuts_test-clean-2.jsonl.gz" --output-dir "$dir/eval"
    grep -v "it/s\]" "$dir.train.log" | grep -iE "error|Traceback" | tail -5
  } > "$out/$name.txt" 2>&1
}

for spec in "$@"; do one "$spec" & done
wait
