#!/usr/bin/env bash
# Adapt a trained model to your own recordings: prepare them -> score the model on your held-out ones -> fine-tune it
# on the others beside the data it was trained on -> score it again, with a paired bootstrap of the difference.
# Your recordings: a list (`path<TAB>transcript` per line, or a TSV with a header, e.g. Common Voice's) or a
# directory of audio files each with its transcript beside it (NAME.txt or NAME.lab); see `asr prepare`.
#
#   bash recipes/adapt/run.sh --train MY_TRAIN --dev MY_DEV [--model DIR] [--base-data DIR] [--experiment NAME]
#                             [--repeat N] [--epochs N] [--base-share F] [--exp-dir DIR] [--data-dir DIR]
#                             [--stage N] [--stop-stage N] [-- extra `asr train` overrides]
# --model: the package to start from (default exp/en_extra/model, from
#   `bash recipes/en/run.sh --extra-plan natural-extra --experiment general_extra --exp-dir exp/en_extra`); its
#   architecture is taken from the package, and --experiment gives the training settings (augmentation, batches,
#   optimizer; default general_extra, the en_extra model's; general_whisper for models/en, the shipped one);
# --base-data: that recipe's data directory (default data/en): its training manifests (and extra/'s, when there)
#   are trained on beside yours, so that the model does not forget what it knew, and its cmvn.json;
# --base-share: the part of that training data to train on (default 0.25, a fixed random quarter: 5-6 min on
#   2 cores for two minutes of your speech; 1: all of it, ~3 times longer, the same gain on your voice, and ~1-4 WER
#   points less forgotten elsewhere); --repeat: how many times your recordings count in each epoch (default 20:
#   two minutes of speech are then ~35% of an epoch); --epochs: default 2.
# The epoch kept is the best on --base-data's dev set (your held-out recordings stay unseen until stage 3; to choose
# on them instead: -- data.dev_cuts=DATA_DIR/cuts_own_dev.jsonl.gz). The fine-tuned package (EXP_DIR/model)
# decodes as the starting one does (its beam, lexicon, n-gram or LSTM LM, with their tuned weights); EXP_DIR/before
# and EXP_DIR/after hold the per-utterance results, EXP_DIR/compare.txt the difference. Measured in
# recipes/en/RESULTS.md ("Two minutes of your own voice").
set -euo pipefail

stage=0
stop_stage=100
model=exp/en_extra/model
base_data=data/en
experiment=general_extra
repeat=20
epochs=2
base_share=0.25
train=""
dev=""
data_dir=data/adapt
exp_dir=exp/adapt
nj=2
train_overrides=()

recipe=adapt
# shellcheck source=../shared/stages.sh
. "$(dirname "$0")/../shared/stages.sh"
usage() { sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
  common_option "$@"
  if [ "$consumed" -gt 0 ]; then shift "$consumed"; continue; fi
  [ $# -ge 2 ] || case "$1" in -h|--help|--) ;; *) echo "run.sh: $1 needs a value" >&2; exit 2 ;; esac
  case "$1" in
    --train) train=$2; shift 2 ;;
    --dev) dev=$2; shift 2 ;;
    --model) model=$2; shift 2 ;;
    --base-data) base_data=$2; shift 2 ;;
    --experiment) experiment=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    --epochs) epochs=$2; shift 2 ;;
    --base-share) base_share=$2; shift 2 ;;
    -h|--help) usage 0 ;;
    --) shift; train_overrides=("$@"); break ;;
    *) echo "run.sh: unknown option $1" >&2; usage 2 ;;
  esac
done
[ -n "$train" ] && [ -n "$dev" ] || { echo "run.sh: --train and --dev are required (your recordings)" >&2; usage 2; }
for path in "$train" "$dev" "$model/config.yaml" "$base_data/manifests/$extra_train_cuts"; do
  [ -e "$path" ] || { echo "run.sh: $path: not found" >&2; exit 1; }
done
if [ "$(realpath "$train")" = "$(realpath "$dev")" ]; then
  echo "run.sh: --dev must be other recordings than --train (scored on what it trained on, it would flatter)" >&2
  exit 2
fi
require_asr
mkdir -p "$data_dir" "$exp_dir"
own_train=$data_dir/cuts_own_train.jsonl.gz
own_dev=$data_dir/cuts_own_dev.jsonl.gz

# package_overrides PACKAGE: the `asr train` overrides (one per line) that give a run the package's architecture
# (model.*) and its decoding: method and tuned weights, lexicon / n-gram / LSTM LM files (nothing for greedy)
package_overrides() {
  python - "$1" "$(dirname "$0")/../../conf/decode" <<'PY'
import sys, yaml
from pathlib import Path
package, groups = Path(sys.argv[1]), Path(sys.argv[2])
config = yaml.safe_load((package / "config.yaml").read_text())
def text(value):  # as Hydra's override grammar reads it
    return "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
for key, value in (config.get("model") or {}).items():
    if key not in ("vocab_size", "n_mels"):  # set by the tokens and the features
        print(f"model.{key}={text(value)}")
decode = config.get("decode") or {}
method = decode.get("method", "greedy")
if method != "greedy":
    keys = yaml.safe_load((groups / f"{method}.yaml").read_text())
    print(f"decode={method}")
    for key in keys:
        value = decode.get(key)
        if key in ("method", "lm") or value is None:  # the package's lm: is where it was tuned from
            continue
        if key in ("lexicon", "ngram"):
            value = package / value
        print(f"decode.{key}={text(value)}")
    if method == "beam_lm":
        print(f"decode.lm={package / 'lm'}")
PY
}

if run_stage 0 "prepare your recordings" "$data_dir"; then
  asr prepare "$train" "$data_dir" --name own_train --num-jobs "$nj"
  asr prepare "$dev" "$data_dir" --name own_dev --num-jobs "$nj"
  mark_done 0 "$data_dir"
fi

overrides_text=$(package_overrides "$model")  # (a failure here stops the recipe; inside mapfile it would not)
mapfile -t overrides < <(printf '%s' "$overrides_text")
method=$(printf '%s\n' "${overrides[@]}" | sed -n 's/^decode=//p')
methods=(greedy ${method:+"$method"})  # and the package's own method, scored before and after
if run_stage 1 "score $model on your held-out recordings" "$exp_dir"; then
  asr evaluate "$model" "$own_dev" --decode "${methods[@]}" --output-dir "$exp_dir/before" \
    | tee "$exp_dir/before.txt"
  mark_done 1 "$exp_dir"
fi

if run_stage 2 "fine-tune on your recordings (x$repeat) beside $base_data's training data" "$exp_dir"; then
  base_cuts="{cuts: $base_data/manifests/$extra_train_cuts, share: $base_share}"
  [ -s "$base_data/extra/manifests/$extra_train_cuts" ] \
    && base_cuts+=",{cuts: $base_data/extra/manifests/$extra_train_cuts, share: $base_share}"
  resume=$(resume_arg "$exp_dir")
  asr train "experiment=$experiment" "init_from=$model" "exp_dir=$exp_dir" \
    "data.manifest_dir=$base_data/manifests" "data.cmvn=$base_data/cmvn.json" \
    "data.train_cuts=[$base_cuts,{cuts: $own_train, repeat: $repeat}]" \
    "trainer.max_epochs=$epochs" optim.lr=1.0e-3 optim.scheduler.warmup_steps=100 \
    "${overrides[@]}" ${resume:+"$resume"} "${train_overrides[@]}"
  mark_done 2 "$exp_dir"
fi

if run_stage 3 "score the fine-tuned model, and the difference" "$exp_dir"; then
  asr evaluate "$exp_dir/model" "$own_dev" --decode "${methods[@]}" --output-dir "$exp_dir/after" \
    | tee "$exp_dir/after.txt"
  name=$(basename "$own_dev" .jsonl.gz)
  method=${methods[-1]}
  asr compare "$exp_dir/before/$name.$method.per_utt.tsv" "$exp_dir/after/$name.$method.per_utt.tsv" \
    | tee "$exp_dir/compare.txt"
  mark_done 3 "$exp_dir"
fi
log "done: $exp_dir/model"
