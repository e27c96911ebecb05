#!/usr/bin/env bash
# The LibriSpeech recipe: download (md5-checked, resumable) -> manifests -> normalization stats -> train the BiLSTM
# acoustic model (1 or N GPUs, DDP, bf16) -> LM text -> train the LSTM LM -> tune LM weight / word bonus / beam on
# dev-clean -> evaluate test-clean and test-other (greedy, beam, beam + LM) -> RESULTS.md table.
# Every stage calls `asr` only and leaves a done-marker, so a rerun skips finished stages (and resumes training).
# Beam search keeps to a lexicon: the LM corpus's 200,000 most frequent words (what LibriSpeech's own
# librispeech-vocab.txt is), made from the LM text after stage 4; --no-lexicon: lexicon-free decoding. With the
# lexicon, OpenSLR's pruned word 3-gram (3-gram.pruned.1e-7.arpa.gz, downloaded in stage 0) is tuned in the beam
# after the LSTM LM (stage 6) and becomes the package's `beam` decoding only if it is better on dev-clean.
#
#   bash recipes/librispeech/run.sh [--stage N] [--stop-stage N] [--size 100|460|960] [--ngpu N]
#        [--data-dir DIR] [--exp-dir DIR] [--base-url URL] [--nj N] [--experiment NAME] [--no-lexicon]
#        [--lm-sentences N] [--lm-args "asr lm train overrides (default: lm=medium)"] [--distill]
#        [--teacher-args "asr make-teacher-states options (default: --pool 2 --int8)"] [-- extra `asr train` overrides]
#
# --size: hours of training speech (100: train-clean-100; 460: + train-clean-360; 960: + train-other-500)
# --ngpu: GPUs on this machine (0: CPU, for smoke tests); > 1 trains with DDP, one process per GPU
# --base-url: OpenSLR or a mirror with its layout (<url>/12/dev-clean.tar.gz, <url>/11/librispeech-lm-norm.txt.gz)
# --experiment: the Hydra experiment config (default librispeech_<size>)
# --distill: train with distillation from Whisper tiny.en's encoder (README "Distillation"; the `teacher` extra): its
#   states for every training cut into DATA_DIR/teacher before stage 3 (asr make-teacher-states, Whisper on the CPU:
#   ~50 ms a 3-s cut on 2 cores, many hours for 960 h; resumable; --pool 2 --int8 keeps a quarter of float16's
#   ~136 MB an hour: ~33 GB for 960 h), then distill.weight=1.0 (measured on the mini recipe, not on LibriSpeech)
set -euo pipefail

stage=0
stop_stage=100
size=100
ngpu=1
data_dir=data/librispeech
exp_dir=
base_url=https://www.openslr.org/resources
nj=8
experiment=
lm_sentences=2000000
lm_args="lm=medium"
lexicon=true
lexicon_words=200000
distill=false
teacher_args="--pool 2 --int8"
train_overrides=()

recipe=librispeech
# shellcheck source=../shared/stages.sh
. "$(dirname "$0")/../shared/stages.sh"
usage() { sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
  common_option "$@"
  if [ "$consumed" -gt 0 ]; then shift "$consumed"; continue; fi
  case "$1" in
    --size) size=$2; shift 2 ;;
    --ngpu) ngpu=$2; shift 2 ;;
    --experiment) experiment=$2; shift 2 ;;
    --lm-sentences) lm_sentences=$2; shift 2 ;;
    --distill) distill=true; shift ;;
    --teacher-args) teacher_args=$2; shift 2 ;;
    -h|--help) usage 0 ;;
    --) shift; train_overrides=("$@"); break ;;
    *) echo "run.sh: unknown option $1" >&2; usage 2 ;;
  esac
done
case "$size" in
  100|460|960) ;;
  *) echo "run.sh: --size must be 100, 460 or 960" >&2; exit 2 ;;
esac
experiment=${experiment:-librispeech_$size}
exp_dir=${exp_dir:-exp/librispeech_$size}

require_asr
mapfile -t train_parts < <(asr download --list "$data_dir" "$size" | grep '^train-')  # asr knows what a size means
mkdir -p "$data_dir" "$exp_dir"
manifests=$data_dir/manifests
eval_parts=(dev-clean dev-other test-clean test-other)
cuts() { echo "$manifests/librispeech_cuts_$1.jsonl.gz"; }
train_cuts=(); for p in "${train_parts[@]}"; do train_cuts+=("$(cuts "$p")"); done
train_list=$(printf '%s,' "${train_cuts[@]}")
train_list="[${train_list%,}]"
if [ "$ngpu" -gt 0 ]; then
  trainer=(trainer=gpu "trainer.devices=$ngpu")
  [ "$ngpu" -gt 1 ] && trainer+=(trainer.strategy=ddp)
else
  trainer=(trainer=cpu)
fi

if run_stage 0 "download ${train_parts[*]} ${eval_parts[*]} and the LM text (md5-checked)" "$data_dir"; then
  asr download "$data_dir/download" "${train_parts[@]}" "${eval_parts[@]}" --lm-text --base-url "$base_url"
  # the word 3-gram is optional: without it (no md5 sum on the mirror, say) the beam uses the LSTM LM only
  asr download "$data_dir/download" 3-gram.pruned.1e-7.arpa.gz --base-url "$base_url" \
    || log "stage 0: no word 3-gram (the error is above); decoding goes on with the LSTM LM only"
  mark_done 0 "$data_dir"
fi

if run_stage 1 "lhotse manifests" "$data_dir"; then
  asr prepare "$data_dir/download" "$manifests" --subsets "${train_parts[@]}" "${eval_parts[@]}" --num-jobs "$nj"
  mark_done 1 "$data_dir"
fi

if run_stage 2 "normalization statistics (a 50-hour sample of the training data)" "$data_dir"; then
  asr compute-cmvn "${train_cuts[@]}" "$data_dir/cmvn.json" --max-hours 50
  mark_done 2 "$data_dir"
fi

teacher_states_for_stage3 "$data_dir/teacher" "${train_cuts[@]}"
if run_stage 3 "train the acoustic model ($experiment, ${ngpu} GPU(s))" "$exp_dir"; then
  resume=$(resume_arg "$exp_dir")  # continue an interrupted run from its newest checkpoint
  asr train "experiment=$experiment" "${trainer[@]}" "data.train_cuts=$train_list" \
    "data.dev_cuts=$(cuts dev-clean)" "data.cmvn=$data_dir/cmvn.json" "exp_dir=$exp_dir" \
    "${distill_arg[@]}" ${resume:+"$resume"} "${train_overrides[@]}"
  mark_done 3 "$exp_dir"
fi

if run_stage 4 "LM text: every k-th sentence of the LibriSpeech LM corpus (no dev/test book in it)" "$data_dir"; then
  mkdir -p "$data_dir/lm"
  lm_gz=$data_dir/download/librispeech-lm-norm.txt.gz
  total=$(gzip -dc "$lm_gz" | wc -l)
  every=$(( total > lm_sentences ? total / lm_sentences : 1 ))
  gzip -dc "$lm_gz" | awk -v k="$every" 'NR % k == 0' > "$data_dir/lm/train.txt.tmp"
  mv "$data_dir/lm/train.txt.tmp" "$data_dir/lm/train.txt"
  for p in dev-clean test-clean test-other; do
    find "$data_dir/download/LibriSpeech/$p" -name '*.trans.txt' -exec cut -d' ' -f2- {} + > "$data_dir/lm/$p.txt"
  done
  mark_done 4 "$data_dir"
fi

make_lexicon_once "$data_dir/lm/lexicon.txt" "$data_dir/lm/train.txt" --max-words "$lexicon_words"
ngram_arg=()  # OpenSLR's word 3-gram in the lexicon beam (a word n-gram needs the lexicon)
arpa=$data_dir/download/3-gram.pruned.1e-7.arpa
if [ ${#lexicon_arg[@]} -gt 0 ] && [ -s "$arpa" ]; then ngram_arg=(--ngram "$arpa"); fi

lm_dir=$exp_dir/lm
if run_stage 5 "train the LSTM language model" "$exp_dir"; then
  lm_trainer=("${trainer[@]}"); [ "$ngpu" -gt 1 ] && lm_trainer=(trainer=gpu trainer.devices=1)
  # shellcheck disable=SC2086  # lm_args is a list of overrides
  asr lm train "${lm_trainer[@]}" "train_text=$data_dir/lm/train.txt" \
    "dev_text=$data_dir/lm/dev-clean.txt" "exp_dir=$lm_dir" $lm_args
  for p in dev-clean test-clean test-other; do
    asr lm perplexity "$lm_dir/lm" "$data_dir/lm/$p.txt" | tee -a "$exp_dir/perplexity.txt"
  done
  mark_done 5 "$exp_dir"
fi

if run_stage 6 "tune LM weight, word bonus and beam size on dev-clean" "$exp_dir"; then
  asr tune "$exp_dir/model" --lm "$lm_dir/lm" --data "$(cuts dev-clean)" --output "$exp_dir/tune.tsv" \
    --fusion-lm-weights 0.3 0.5 0.8 --fusion-word-bonuses -0.5 0 0.5 1.0 "${lexicon_arg[@]}" | tee "$exp_dir/tune.txt"
  if [ ${#ngram_arg[@]} -gt 0 ]; then  # the word 3-gram: the package's `beam` decoding only if better on dev-clean
    asr tune "$exp_dir/model" "${ngram_arg[@]}" --data "$(cuts dev-clean)" --ngram-weights 0.5 0.8 1.2 1.6 \
      --word-bonuses -1 0 1 2 --if-better --output "$exp_dir/tune_ngram.tsv" "${lexicon_arg[@]}" \
      | tee "$exp_dir/tune_ngram.txt"
  fi
  mark_done 6 "$exp_dir"
fi

# beam: with the word 3-gram when stage 6 tuned one (stored in the package beside the LSTM LM's settings)
if run_stage 7 "evaluate dev and test sets: greedy, beam, beam + LM" "$exp_dir"; then
  for p in "${eval_parts[@]}"; do
    asr evaluate "$exp_dir/model" "$(cuts "$p")" --decode greedy beam beam_lm --lm "$lm_dir/lm" \
      --output-dir "$exp_dir/eval" --worst 3 | tee "$exp_dir/eval_$p.txt"
  done
  mark_done 7 "$exp_dir"
fi

if run_stage 8 "RESULTS.md table" "$exp_dir"; then
  {
    echo "# LibriSpeech $size h: $experiment"
    echo
    echo "Model package: \`$exp_dir/model\`; made by \`bash recipes/librispeech/run.sh --size $size --ngpu $ngpu\`."
    echo
    echo "| subset | decoding | WER % | CER % |"
    echo "|---|---|---|---|"
    for p in "${eval_parts[@]}"; do
      awk -F'\t' -v p="$p" 'NR > 1 { printf "| %s | %s | %.2f | %.2f |\n", p, $2, 100 * $3, 100 * $4 }' \
        "$exp_dir/eval/$p.summary.tsv"
    done
  } > "$exp_dir/RESULTS.md.tmp"
  mv "$exp_dir/RESULTS.md.tmp" "$exp_dir/RESULTS.md"
  cat "$exp_dir/RESULTS.md"
  mark_done 8 "$exp_dir"
fi
log "done; results in $exp_dir/RESULTS.md"
