#!/usr/bin/env bash
# Leave-one-out ablations of experiment=general on the en recipe's data (run recipes/en/run.sh --stop-stage 2
# first): each run trains the same model for the same epochs with one component removed, and is scored greedy on
# the natural-speech dev set (dev-real, real recordings) and on the synthetic test set (unseen voices).
# Resumable: a finished run (its scores written) is skipped, an interrupted one continues from its last checkpoint.
#   bash recipes/en/ablate.sh [--data-dir data/en] [--exp-dir exp/ablate] [--epochs 6] [--runs "base no_aug ..."]
#                             [-- overrides for every run, e.g. trainer=gpu]
# More runs change instead of removing: utterance_mv normalizes each utterance's variance too; more_kokoro
# trains on 250 more Kokoro speakers (`--plan natural-extra`, 1500 utterances, ~1.7 h; made under DATA_DIR/extra on
# its first use: ~25 min on 2 AVX-512 cores) beside the corpus; more_kokoro_mv does both. wide and blstmp add
# capacity (width; width with projections); conv2d puts 3x3 convolutions with frequency pooling before the BiLSTM;
# conv2d_mv: conv2d with utterance_mv; more_kokoro_mv_conv2d: the three together.
# Prints, and writes to EXP_DIR/RESULTS.tsv: run, the synthetic-dev CER by epoch, dev-real WER/CER (as recorded,
# through random rooms, with noise at 10 dB SNR: `asr degrade`), test WER/CER of every finished run in EXP_DIR.
set -euo pipefail
# shellcheck source=../shared/stages.sh
. "$(dirname "$0")/../shared/stages.sh"
data_dir=data/en
exp_dir=exp/ablate
epochs=6
runs="base no_aug utterance_norm_off no_noise no_reverb no_channel no_gain"
common=()
known="$runs utterance_mv more_kokoro more_kokoro_mv wide blstmp conv2d conv2d_mv more_kokoro_mv_conv2d"
while [ $# -gt 0 ]; do
  case $1 in
    --data-dir) data_dir=$2; shift 2 ;;
    --exp-dir) exp_dir=$2; shift 2 ;;
    --epochs) epochs=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --) shift; common=("$@"); break ;;
    *) echo "ablate.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

overrides() {  # the component each run leaves out of (or changes in) experiment=general
  case $1 in
    base) ;;
    no_aug) echo "data.noise=null data.augment=null" ;;             # speed perturbation only
    utterance_norm_off) echo "model.normalization=global" ;;        # global CMVN instead of per-utterance mean
    utterance_mv) echo "model.normalization=utterance_mv" ;;        # each utterance's own mean and std
    no_noise) echo "data.noise=null" ;;                             # no coloured noise, hum or babble
    no_reverb) echo "~data.augment.reverb" ;;                       # no room impulse responses
    no_channel) echo "~data.augment.telephone ~data.augment.codec" ;;  # no telephone band, no lossy codecs
    no_gain) echo "~data.augment.volume ~data.augment.clipping" ;;  # no gain changes, no clipping
    more_kokoro) with_extra_cuts "$data_dir" ;;                     # 250 more Kokoro speakers beside the corpus
    more_kokoro_mv) echo "$(overrides more_kokoro) $(overrides utterance_mv)" ;;   # the two together
    wide) echo "model.hidden_size=512 model.dropout=0.3" ;;         # capacity: 3 x 512 (17.0 M parameters)
    blstmp) echo "model.num_layers=4 model.hidden_size=512 model.projection_size=320" ;;  # 4 x 512, 320 projections
    conv2d) echo "model.subsampling=conv2d" ;;                      # a CNN front end: formant shifts partly pooled
    conv2d_mv) echo "$(overrides conv2d) $(overrides utterance_mv)" ;;
    more_kokoro_mv_conv2d) echo "$(overrides more_kokoro_mv) $(overrides conv2d)" ;;
    *) echo "ablate.sh: unknown run $1" >&2; exit 2 ;;
  esac
}

score() {  # WER/CER from an `asr evaluate` report
  sed -n 's/.*\[greedy\]: WER \([0-9.]*\)% .* CER \([0-9.]*\)% .*/\1 \2/p' "$1" | head -1 | tr ' ' /
}

evaluate_once() {  # evaluate_once DIR NAME DATA: DIR/NAME.txt, the report of DIR/model on DATA, unless it exists
  [ -s "$1/$2.txt" ] && return
  asr evaluate "$1/model" "$3" --output-dir "$1/eval" > "$1/$2.tmp"
  mv "$1/$2.tmp" "$1/$2.txt"
}

real=$data_dir/real/LibriSpeech
# dev-real through rooms and with noise at 10 dB SNR, from seeds training never used (done-markers: made once)
asr degrade "$real/dev-real" "$real/dev-real-room" --room
asr degrade "$real/dev-real" "$real/dev-real-noise10" --snr 10
mkdir -p "$exp_dir"
for run in $runs; do
  dir=$exp_dir/$run
  if [ ! -d "$dir/model" ]; then
    case $run in more_kokoro*) make_extra_corpus "$data_dir" natural-extra 2 ;; esac
    echo "$(date '+%F %T') $run: $(overrides "$run")"
    resume=$(resume_arg "$dir")
    # shellcheck disable=SC2046
    asr train experiment=general "data.manifest_dir=$data_dir/manifests" "data.cmvn=$data_dir/cmvn.json" \
      "exp_dir=$dir" "trainer.max_epochs=$epochs" "${common[@]}" $(overrides "$run") ${resume:+"$resume"} \
      > "$dir.train.log" 2>&1
  fi
  evaluate_once "$dir" dev-real "$real/dev-real"
  evaluate_once "$dir" test "$data_dir/manifests/librispeech_cuts_test-clean-2.jsonl.gz"
  evaluate_once "$dir" room "$real/dev-real-room"  # dev-real in rooms and in noise: what the augmentations are for
  evaluate_once "$dir" noise10 "$real/dev-real-noise10"
done

{
  printf 'run\tdev CER by epoch (synthetic, %%)\tdev-real WER/CER\tin rooms\tin noise (10 dB)\ttest-clean-2 WER/CER\n'
  for run in $known; do
    dir=$exp_dir/$run
    [ -s "$dir/test.txt" ] || continue
    cers=$(dev_cer_by_epoch "$dir")
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$run" "$cers" "$(score "$dir/dev-real.txt")" "$(score "$dir/room.txt")" \
      "$(score "$dir/noise10.txt")" "$(score "$dir/test.txt")"
  done
} > "$exp_dir/RESULTS.tsv.tmp" && mv "$exp_dir/RESULTS.tsv.tmp" "$exp_dir/RESULTS.tsv"
column -t -s $'\t' "$exp_dir/RESULTS.tsv"
