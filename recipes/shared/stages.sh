# Sourced by recipes/*/run.sh: logging, stage selection and done-markers, shared so that no recipe copies them.
# The recipe sets: recipe (a name for the log), stage, stop_stage.

log() { echo "$(date '+%F %T') [$recipe] $*"; }

# common_option "$@": the options every recipe takes (--stage, --stop-stage, --data-dir, --exp-dir, --nj,
# --base-url, --lm-args, --lexicon / --no-lexicon); sets `consumed` to the words used (0: not one of them, the
# recipe's own parser goes on):
#   while [ $# -gt 0 ]; do common_option "$@"; [ "$consumed" -gt 0 ] && { shift "$consumed"; continue; }; ...
common_option() {
  consumed=1
  case "$1" in
    --lexicon) lexicon=true; return ;;
    --no-lexicon) lexicon=false; return ;;
  esac
  consumed=2
  case "$1" in
    --stage) stage=$2 ;;
    --stop-stage) stop_stage=$2 ;;
    --data-dir) data_dir=$2 ;;
    --exp-dir) exp_dir=$2 ;;
    --nj) nj=$2 ;;
    --base-url) base_url=$2 ;;
    --lm-args) lm_args=$2 ;;
    *) consumed=0 ;;
  esac
  if [ "$consumed" -gt 0 ] && [ $# -lt 2 ]; then echo "run.sh: $1 needs a value" >&2; exit 2; fi
}

# make_lexicon_once FILE TEXT [asr make-lexicon options]: the word list beam search keeps to, made from the LM text
# when it is not there yet (nothing with --no-lexicon or without the text); then lexicon_arg holds the `asr tune`
# option that uses it (empty without a lexicon)
make_lexicon_once() {
  local file=$1 text=$2; shift 2
  lexicon_arg=()
  [ "$lexicon" = true ] || return 0
  if [ ! -s "$file" ] && [ -s "$text" ]; then
    asr make-lexicon "$file" "$text" "$@"
  fi
  [ -s "$file" ] && lexicon_arg=(--lexicon "$file")
  return 0
}

# make_ngram_once FILE TEXT [DEV]: the word 3-gram beside the LSTM LM (asr make-ngram, seconds on the recipes' LM
# text), made when it is not there yet and only with a lexicon (a word n-gram is queried per word of the lexicon);
# then ngram_arg holds the `asr tune` option that uses it (empty without)
make_ngram_once() {
  local file=$1 text=$2 dev=${3:-}
  ngram_arg=()
  [ ${#lexicon_arg[@]} -gt 0 ] || return 0
  if [ ! -s "$file" ] && [ -s "$text" ]; then
    asr make-ngram "$file" "$text" --order 3 ${dev:+--dev "$dev"}
  fi
  [ -s "$file" ] && ngram_arg=(--ngram "$file")
  return 0
}

# teacher_states_for_stage3 DIR MANIFEST...: with the recipe's --distill (distill=true), when stage 3 is selected and
# not done yet, Whisper tiny.en's encoder states for every cut of the training manifests into DIR (`asr
# make-teacher-states` with $teacher_args, e.g. "--pool 2 --int8"; resumable, and a finished DIR gains the states of
# cuts added since); then distill_arg holds the `asr train` overrides that distill from them (weight 1.0; another
# after `--` wins)
teacher_states_for_stage3() {
  local dir=$1; shift
  distill_arg=()
  [ "$distill" = true ] && [ 3 -ge "$stage" ] && [ 3 -le "$stop_stage" ] || return 0
  [ ! -f "$exp_dir/.stage3.done" ] || return 0
  log "teacher states for the training cuts: $dir"
  # shellcheck disable=SC2086  # teacher_args: options, one word each
  asr make-teacher-states "$dir" "$@" $teacher_args
  distill_arg=("distill.dir=$dir" distill.weight=1.0)
}

# run_stage N NAME DONE_DIR: true when stage N is selected and DONE_DIR/.stageN.done does not exist yet
run_stage() {
  [ "$1" -ge "$stage" ] && [ "$1" -le "$stop_stage" ] || return 1
  if [ -f "$3/.stage$1.done" ]; then log "stage $1 ($2): done already, skipping"; return 1; fi
  log "stage $1: $2"
}

mark_done() { touch "$2/.stage$1.done"; }

require_asr() {
  command -v asr >/dev/null || {
    echo "$recipe: the 'asr' command is not on PATH (run tools/setup.sh and activate .venv)" >&2; exit 1; }
}

# resume_arg EXP_DIR: the override that continues an interrupted training run from its newest checkpoint (last.ckpt,
# written at every epoch's end, or a mid-epoch step checkpoint), or nothing; pass it as one word:
#   resume=$(resume_arg DIR); asr train ... ${resume:+"$resume"}
resume_arg() {
  local newest
  newest=$(ls -t "$1"/checkpoints/last.ckpt "$1"/checkpoints/step*.ckpt 2>/dev/null | head -n 1)
  [ -n "$newest" ] && echo "resume=$newest"
  true
}

# dev_cer_by_epoch EXP_DIR: the dev CER (%) logged at each epoch's end, in epoch order, over every csv/version_N of
# the run (a resumed run logs to a new version; the last value of an epoch wins)
dev_cer_by_epoch() {
  python - "$1" <<'PY'
import csv, glob, sys
cer = {int(r["epoch"]): float(r["val/cer"]) for f in sorted(glob.glob(f"{sys.argv[1]}/csv/version_*/metrics.csv"),
       key=lambda p: int(p.split("version_")[-1].split("/")[0])) for r in csv.DictReader(open(f)) if r.get("val/cer")}
print(" ".join(f"{100 * cer[e]:.1f}" for e in sorted(cer)))
PY
}

extra_train_cuts=librispeech_cuts_train-clean-5.jsonl.gz  # the training manifest's name in both corpora

# extra_cuts_of DATA_DIR: the extra corpus's training manifest; with_extra_cuts DATA_DIR: the `asr train` override
# that trains on DATA_DIR's corpus and the extra one beside it
extra_cuts_of() { echo "$1/extra/manifests/$extra_train_cuts"; }
with_extra_cuts() { echo "data.train_cuts=[$1/manifests/$extra_train_cuts,$(extra_cuts_of "$1")]"; }

# make_extra_corpus DATA_DIR PLAN NJ BASE: a corpus plan that extends DATA_DIR/corpus's plan BASE (`asr make-corpus
# --plan PLAN --extends BASE`, which refuses a PLAN that does not; e.g. natural-extra beside mini-natural: new
# training speakers) under DATA_DIR/extra, with its train manifest in DATA_DIR/extra/manifests. Its dev and test
# subsets are the extended corpus's own (the same speakers and sentences, tests/test_kokoro.py), so they are linked,
# not synthesized again. Nothing to do when the manifest is there.
make_extra_corpus() {
  local extra=$1/extra plan=$2 nj=$3 base=$4 subset
  [ -s "$extra/manifests/$extra_train_cuts" ] && return 0
  mkdir -p "$extra/corpus/LibriSpeech"
  for subset in dev-clean-2 test-clean-2; do
    [ -e "$extra/corpus/LibriSpeech/$subset" ] || [ ! -e "$1/corpus/LibriSpeech/$subset" ] ||
      cp -al "$1/corpus/LibriSpeech/$subset" "$extra/corpus/LibriSpeech/"
  done
  asr make-corpus "$extra/corpus" --plan "$plan" --extends "$base" --num-jobs "$nj"
  asr prepare "$extra/corpus" "$extra/manifests" --subsets train-clean-5 --num-jobs "$nj"
}
