#!/usr/bin/env bash
# The default English model: the mini recipe's stages with natural voices and real-world acoustics.
#   corpus: Kokoro-82M blends + espeak-ng / flite / festival voices (`--plan mini-natural`, 2.7 h of speech, ~13 min
#           to make on an AVX-512 machine, ~30 min on AVX2 only)
#   training: experiment=general (room responses, noise, babble, gain, clipping, telephone band, codecs;
#             per-utterance mean normalization; 3 x 320 BiLSTM), 20 epochs: ~35 min on 2 AVX-512 cores, ~90 min
#             on 2 AVX2 cores (4.3 min an epoch; `-- trainer.max_epochs=8` for a shorter run)
#   decoding: beam search with the fused LSTM LM, kept to a lexicon (the LM text's words + Debian's word list)
#   scoring: also on the natural-speech dev set of real recordings (`asr make-real-dev`)
# The default model that ships (models/en; recipes/en/RESULTS.md, "Whisper's encoder as a frozen front end"): the same
# data and acoustics with Whisper tiny.en's pretrained encoder in front of a 2 x 256 BiLSTM (needs the `encoder`
# extra for its weights; 3 min an epoch on 2 AVX-512 cores; dev-real 49.7% WER with the LSTM LM):
#   bash recipes/en/run.sh --experiment general_whisper --exp-dir exp/en_whisper -- trainer.max_epochs=6
# The best log-mel model measured here (recipes/en/RESULTS.md: dev-real 59.7% CER greedy against 61.3 for experiment=general,
# and 84.3% WER / 56.9% CER with beam + fused LM + lexicon) takes twice the Kokoro speakers and a convolutional
# front end, ~2 h in all on 2 AVX-512 cores (natural-extra corpus ~25 min, training ~68 min):
#   bash recipes/en/run.sh --extra-plan natural-extra --experiment general_extra --exp-dir exp/en_extra
# Every option of recipes/mini/run.sh applies (later ones win), e.g.:
#   bash recipes/en/run.sh                      # data/en, exp/en
#   bash recipes/en/run.sh --stage 3 -- trainer.max_epochs=30
# Needs the voices extra for Kokoro (tools/setup.sh installs it): pip install -e '.[voices]'
set -euo pipefail
exec bash "$(dirname "$0")/../mini/run.sh" --plan mini-natural --experiment general --noise --real-dev \
  --data-dir data/en --exp-dir exp/en "$@"
