#!/usr/bin/env bash
# The mini recipe: corpus -> manifests -> normalization stats -> train -> evaluate dev/test (greedy) -> LM text ->
# LM train -> perplexity -> tune LM weights on dev -> evaluate test (greedy, beam, beam+LM) -> transcribe a file.
# Runs offline on the synthetic corpus (TTS voices, LibriSpeech layout) by default; --corpus real downloads the
# real mini_librispeech (OpenSLR 31) instead where the internet is reachable. Every stage calls `asr` only and
# leaves a done-marker, so a second run skips finished stages.
#
#   bash recipes/mini/run.sh [--stage N] [--stop-stage N] [--data-dir DIR] [--exp-dir DIR] [--nj N]
#                            [--corpus synthetic|real] [--plan mini|mini-natural|tiny] [--base-url URL]
#                            [--experiment mini|general|general_extra|general_whisper|tiny] [--extra-plan PLAN] [--noise]
#                            [--real-dev] [--streaming] [--no-lexicon] [--distill] [--teacher-args "OPTIONS"]
#                            [--lm-args "extra asr lm train overrides"] [-- extra `asr train` overrides]
# --noise: also write a noise and room-response corpus (stage 1) for experiments that augment with them;
# --real-dev: also score the natural-speech dev set (real recordings, `asr make-real-dev`) in stages 4 and 9.
# --extra-plan PLAN: a second synthetic corpus whose plan extends --plan's (e.g. natural-extra: 250 more Kokoro
# speakers beside mini-natural; text-extra: 500 speakers of new sentences), made under DATA_DIR/extra in stage 1 and
# trained on with the first (stage 3).
# --distill: train with distillation from Whisper tiny.en's encoder (README "Distillation"): its states for every
# training cut (`asr make-teacher-states` into DATA_DIR/teacher; --teacher-args for its options, e.g. "--pool 2
# --int8" for a quarter of the bytes) before stage 3, then distill.dir=... distill.weight=1.0 in stage 3
# (recipes/mini/RESULTS.md; another weight after --). Needs the `teacher` extra.
# --streaming: also fine-tune the streaming model from the BiLSTM (stage 3, into EXP_DIR/stream: the same weights
# run latency-controlled, model=blstm_chunked: 240 ms chunks + 120 ms right context), evaluate it (stage 4) and
# transcribe the sample with `asr transcribe --stream` too.
# Beam search keeps to a lexicon (the LM text's words and Debian's English word list, wamerican), made after stage 5
# with a word 3-gram of the LM text; stage 8 tunes the LSTM LM's weights and the 3-gram's with it, puts a copy into
# the model package and makes the 3-gram its decoding if it is better on dev. --no-lexicon: lexicon-free decoding.
set -euo pipefail

stage=0
stop_stage=100
data_dir=data/mini
exp_dir=exp/mini
corpus=synthetic
plan=mini
experiment=mini
noise=false
extra_plan=""
real_dev=false
streaming=false
distill=false
teacher_args=""
lexicon=true
stream_epochs=4
lm_args=""
base_url=http://www.openslr.org/resources
nj=2
train_overrides=()

recipe=mini
# shellcheck source=../shared/stages.sh
. "$(dirname "$0")/../shared/stages.sh"
usage() { sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
  common_option "$@"
  if [ "$consumed" -gt 0 ]; then shift "$consumed"; continue; fi
  case "$1" in
    --corpus) corpus=$2; shift 2 ;;
    --plan) plan=$2; shift 2 ;;
    --experiment) experiment=$2; shift 2 ;;
    --extra-plan) extra_plan=$2; shift 2 ;;
    --noise) noise=true; shift ;;
    --real-dev) real_dev=true; shift ;;
    --streaming) streaming=true; shift ;;
    --distill) distill=true; shift ;;
    --teacher-args) teacher_args=$2; shift 2 ;;
    -h|--help) usage 0 ;;
    --) shift; train_overrides=("$@"); break ;;
    *) echo "run.sh: unknown option $1" >&2; usage 2 ;;
  esac
done
case "$corpus" in synthetic|real) ;; *) echo "run.sh: --corpus must be synthetic or real" >&2; exit 2 ;; esac
if [ -n "$extra_plan" ] && [ "$corpus" = real ]; then
  echo "run.sh: --extra-plan extends a synthetic corpus (--corpus synthetic)" >&2; exit 2
fi
if [ "$streaming" = true ] && [[ "$experiment" == general* ]]; then  # its utterance mean needs the whole input
  echo "run.sh: --streaming needs a globally normalized model (--experiment mini or tiny)" >&2; exit 2
fi

require_asr
mkdir -p "$data_dir" "$exp_dir"
manifests=$data_dir/manifests
train_cuts=$manifests/librispeech_cuts_train-clean-5.jsonl.gz

if run_stage 0 "corpus ($corpus)" "$data_dir"; then
  if [ "$corpus" = real ]; then
    asr download "$data_dir/corpus" mini_librispeech --base-url "$base_url"
  else
    asr make-corpus "$data_dir/corpus" --plan "$plan" --num-jobs "$nj"
  fi
  mark_done 0 "$data_dir"
fi

if run_stage 1 "lhotse manifests" "$data_dir"; then
  subsets=(train-clean-5 dev-clean-2)
  [ "$corpus" = synthetic ] && subsets+=(test-clean-2)
  asr prepare "$data_dir/corpus" "$manifests" --subsets "${subsets[@]}" --num-jobs "$nj"
  if [ "$noise" = true ]; then  # coloured noise, hum, babble from the training speech, room responses
    asr make-noise "$data_dir/noise" --babble-from "$train_cuts"
  fi
  if [ "$real_dev" = true ]; then
    asr make-real-dev "$data_dir/real"
  fi
  [ -z "$extra_plan" ] || make_extra_corpus "$data_dir" "$extra_plan" "$nj" "$plan"
  mark_done 1 "$data_dir"
fi

if run_stage 2 "normalization statistics" "$data_dir"; then
  asr compute-cmvn "$train_cuts" "$data_dir/cmvn.json"
  mark_done 2 "$data_dir"
fi

extra_cuts=()  # the extra corpus's training cuts beside the corpus's own (made here too if stage 1 ran without it)
if [ -n "$extra_plan" ] && [ 3 -ge "$stage" ] && [ 3 -le "$stop_stage" ]; then
  make_extra_corpus "$data_dir" "$extra_plan" "$nj" "$plan"
  extra_cuts=("$(with_extra_cuts "$data_dir")")
fi
teacher_states_for_stage3 "$data_dir/teacher" "$train_cuts" ${extra_plan:+"$(extra_cuts_of "$data_dir")"}
if run_stage 3 "train the acoustic model" "$exp_dir"; then
  resume=$(resume_arg "$exp_dir")  # continue an interrupted run from its newest checkpoint
  asr train "experiment=$experiment" "data.manifest_dir=$manifests" "data.cmvn=$data_dir/cmvn.json" "exp_dir=$exp_dir" \
    "${extra_cuts[@]}" "${distill_arg[@]}" ${resume:+"$resume"} "${train_overrides[@]}"
  mark_done 3 "$exp_dir"
fi

stream_dir=$exp_dir/stream
if [ "$streaming" = true ] && mkdir -p "$stream_dir" && run_stage 3 "fine-tune the streaming model" "$stream_dir"; then
  # the BiLSTM's weights, now run chunk by chunk (model.chunk_size / right_context as in model=blstm_chunked)
  resume=$(resume_arg "$stream_dir")
  asr train "experiment=$experiment" "data.manifest_dir=$manifests" "data.cmvn=$data_dir/cmvn.json" \
    "exp_dir=$stream_dir" "init_from=$exp_dir/model" model.chunk_size=8 model.right_context=4 \
    trainer.max_epochs=$stream_epochs optim.lr=1.0e-3 optim.scheduler.warmup_steps=50 \
    ${resume:+"$resume"} "${train_overrides[@]}"
  mark_done 3 "$stream_dir"
fi

if run_stage 4 "evaluate (greedy) on dev and test" "$exp_dir"; then
  for subset in dev-clean-2 test-clean-2; do
    cuts=$manifests/librispeech_cuts_$subset.jsonl.gz
    [ -f "$cuts" ] || { log "no $subset manifest, skipping"; continue; }
    asr evaluate "$exp_dir/model" "$cuts" --output-dir "$exp_dir/eval" | tee "$exp_dir/eval_$subset.txt"
  done
  if [ "$real_dev" = true ]; then
    asr evaluate "$exp_dir/model" "$data_dir/real/LibriSpeech/dev-real" --output-dir "$exp_dir/eval" \
      | tee "$exp_dir/eval_dev-real.txt"
  fi
  mark_done 4 "$exp_dir"
fi

if [ "$streaming" = true ] && run_stage 4 "evaluate the streaming model (greedy)" "$stream_dir"; then
  for subset in dev-clean-2 test-clean-2; do
    cuts=$manifests/librispeech_cuts_$subset.jsonl.gz
    [ -f "$cuts" ] || continue
    asr evaluate "$stream_dir/model" "$cuts" --output-dir "$stream_dir/eval" | tee "$stream_dir/eval_$subset.txt"
  done
  mark_done 4 "$stream_dir"
fi

lm_dir=$exp_dir/lm
if run_stage 5 "LM text (no dev or test sentence in it)" "$data_dir"; then
  mkdir -p "$data_dir/lm"
  if [ -f "$data_dir/corpus/lm-text.txt" ]; then  # the synthetic corpus writes its own in-domain LM text
    cp "$data_dir/corpus/lm-text.txt" "$data_dir/lm/train.txt"
  else  # the real corpus: the training transcripts
    find "$data_dir/corpus" -path '*train-clean-5*' -name '*.trans.txt' -exec cut -d' ' -f2- {} + > "$data_dir/lm/train.txt"
  fi
  find "$data_dir/corpus" -path '*dev-clean-2*' -name '*.trans.txt' -exec cut -d' ' -f2- {} + > "$data_dir/lm/dev.txt"
  find "$data_dir/corpus" -path '*test-clean-2*' -name '*.trans.txt' -exec cut -d' ' -f2- {} + > "$data_dir/lm/test.txt"
  mark_done 5 "$data_dir"
fi
# the lexicon: the LM text's words and Debian's English word list (wamerican) where it is installed
words=/usr/share/dict/american-english
# shellcheck disable=SC2046  # no word or two words
make_lexicon_once "$data_dir/lm/lexicon.txt" "$data_dir/lm/train.txt" $([ -f "$words" ] && echo --extra "$words")
# and a word 3-gram of the LM text, tuned beside the LSTM LM in stage 8
make_ngram_once "$data_dir/lm/words3.arpa" "$data_dir/lm/train.txt" "$data_dir/lm/dev.txt"

if run_stage 6 "train the LSTM language model" "$exp_dir"; then
  # shellcheck disable=SC2086  # lm_args is a list of overrides
  asr lm train "train_text=$data_dir/lm/train.txt" "dev_text=$data_dir/lm/dev.txt" "exp_dir=$lm_dir" $lm_args
  mark_done 6 "$exp_dir"
fi

if run_stage 7 "LM perplexity on dev and test text" "$exp_dir"; then
  for t in dev test; do
    [ -s "$data_dir/lm/$t.txt" ] && asr lm perplexity "$lm_dir/lm" "$data_dir/lm/$t.txt" | tee "$exp_dir/perplexity_$t.txt"
  done
  for t in dev test; do  # the word 3-gram's, per word (the LSTM LM's is per character)
    [ -s "$data_dir/lm/$t.txt" ] && [ ${#ngram_arg[@]} -gt 0 ] && asr lm perplexity "$data_dir/lm/words3.arpa" \
      "$data_dir/lm/$t.txt" | tee "$exp_dir/perplexity_words3_$t.txt"
  done
  mark_done 7 "$exp_dir"
fi

if run_stage 8 "tune LM weight, word bonus and beam size on dev" "$exp_dir"; then
  # N-best rescoring (a 7 x 7 grid, arithmetic only) and shallow fusion (3 x 3, a beam search each) at beams 8, 16
  asr tune "$exp_dir/model" --lm "$lm_dir/lm" --data "$manifests/librispeech_cuts_dev-clean-2.jsonl.gz" \
    --fusion-lm-weights 0.5 0.8 1.1 --fusion-word-bonuses -0.5 0 0.5 --output "$exp_dir/tune.tsv" "${lexicon_arg[@]}" \
    | tee "$exp_dir/tune.txt"
  if [ ${#ngram_arg[@]} -gt 0 ]; then  # the word 3-gram: the package's decoding only if better on dev
    asr tune "$exp_dir/model" "${ngram_arg[@]}" --data "$manifests/librispeech_cuts_dev-clean-2.jsonl.gz" \
      --ngram-weights 0.8 1.2 1.6 2 --word-bonuses -2 -1 0 1 --if-better --output "$exp_dir/tune_ngram.tsv" \
      "${lexicon_arg[@]}" | tee "$exp_dir/tune_ngram.txt"
  fi
  mark_done 8 "$exp_dir"
fi

# beam: with the word 3-gram when stage 8 tuned one (stored in the package beside the LSTM LM's settings)
if run_stage 9 "evaluate test: greedy, beam, beam + LM" "$exp_dir"; then
  subset=test-clean-2
  [ -f "$manifests/librispeech_cuts_$subset.jsonl.gz" ] || subset=dev-clean-2  # the real mini corpus has no test
  asr evaluate "$exp_dir/model" "$manifests/librispeech_cuts_$subset.jsonl.gz" --decode greedy beam beam_lm \
    --lm "$lm_dir/lm" --output-dir "$exp_dir/eval_lm" --worst 3 | tee "$exp_dir/eval_lm_$subset.txt"
  if [ "$real_dev" = true ]; then
    asr evaluate "$exp_dir/model" "$data_dir/real/LibriSpeech/dev-real" --decode greedy beam beam_lm \
      --lm "$lm_dir/lm" --output-dir "$exp_dir/eval_lm" --worst 3 | tee "$exp_dir/eval_lm_dev-real.txt"
  fi
  mark_done 9 "$exp_dir"
fi

if [ 10 -ge "$stage" ] && [ 10 -le "$stop_stage" ]; then
  log "stage 10: transcribe a sample file"
  sample=$(find "$data_dir/corpus" -path '*test-clean-2*' -name '*.flac' 2>/dev/null | sort | head -n 1)
  [ -n "$sample" ] || sample=$(find "$data_dir/corpus" -path '*dev-clean-2*' -name '*.flac' | sort | head -n 1)
  echo "file: $sample"
  echo "reference: $(grep -h "^$(basename "$sample" .flac) " "$(dirname "$sample")"/*.trans.txt | cut -d' ' -f2-)"
  echo -n "greedy:    "; asr transcribe "$exp_dir/model" "$sample" --decode greedy
  if [ -d "$lm_dir/lm" ]; then echo -n "beam + LM: "; asr transcribe "$exp_dir/model" "$sample" --lm "$lm_dir/lm"; fi
  if [ ${#ngram_arg[@]} -gt 0 ]; then
    echo -n "beam + 3-gram: "; asr transcribe "$exp_dir/model" "$sample" --decode beam
  fi
  if [ "$streaming" = true ]; then echo -n "streamed:  "; asr transcribe "$stream_dir/model" "$sample" --stream; fi
fi
log "done; results in $exp_dir/eval and $exp_dir/eval_lm"
