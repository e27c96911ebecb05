"""Beam-search speed and accuracy: asr's decoder (flashlight-text) vs pyctcdecode, on the same cached log-probs.

    pip install --no-deps pyctcdecode pygtrie       # pyctcdecode pins numpy<2; its decoding runs on numpy 2
    python tools/bench_decode.py exp/mini/model data/mini/manifests/librispeech_cuts_test-clean-2.jsonl.gz

The acoustic model runs once; each decoder then decodes every utterance at each beam width, single-threaded, in
one process (so machine noise hits both alike). Prints WER and decode time per decoder and their time ratio.

With a word n-gram (``--ngram words3.arpa --lexicon words.txt``, from ``asr make-ngram``) both decoders also run
with it: asr's lexicon beam (the n-gram per completed word) and pyctcdecode's KenLM beam (``pip install kenlm``:
a source build) given the lexicon as its unigrams, at the same weights: flashlight scores in log10, pyctcdecode in
natural log, so pyctcdecode's alpha is ``--ngram-weight`` x log10(e); ``--word-bonus`` is beta for both.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="a model package")
    ap.add_argument("data", help="a LibriSpeech-layout subset directory or a cuts manifest")
    ap.add_argument("--beam-sizes", type=int, nargs="+", default=[8, 16, 32])
    ap.add_argument("--repeats", type=int, default=3, help="timing repeats (the best is kept)")
    ap.add_argument("--lm", help="an LM package: also time asr with the LSTM LM, fused into the beam and rescoring "
                    "the 16-best (pyctcdecode has no LSTM LM), with --alpha / --beta")
    ap.add_argument("--alpha", type=float, nargs=2, default=(0.5, 2.0), metavar=("FUSION", "RESCORE"))
    ap.add_argument("--beta", type=float, nargs=2, default=(1.0, 4.5), metavar=("FUSION", "RESCORE"))
    ap.add_argument("--ngram", help="a word n-gram (ARPA): also both decoders with it (needs --lexicon)")
    ap.add_argument("--lexicon", help="the word list of asr's lexicon beam and of pyctcdecode's unigrams")
    ap.add_argument("--ngram-weight", type=float, default=0.8)
    ap.add_argument("--word-bonus", type=float, default=1.0)
    args = ap.parse_args()
    if args.ngram and not args.lexicon:
        ap.error("--ngram needs --lexicon")
    torch.set_num_threads(1)

    from pyctcdecode import build_ctcdecoder

    from asr.cuts import load_eval_waves
    from asr.decoding.beam import BeamSearch
    from asr.decoding.config import DecodeSettings
    from asr.decoding.rescore import rescore
    from asr.lm_package import load_lm_package
    from asr.scoring import word_errors
    from asr.transcribe import load_model

    recognizer = load_model(args.model)
    waves, refs = load_eval_waves(args.data)
    emissions = recognizer.emissions(waves)
    as_numpy = [e.numpy().astype(np.float32) for e in emissions]
    tok = recognizer.tokenizer
    labels = ["" if t == tok.tokens[0] else t for t in tok.tokens]
    peer = build_ctcdecoder(labels)
    frames = sum(e.shape[0] for e in emissions)
    audio = sum(len(w) for w in waves) / 16000
    print(f"{len(waves)} utterances, {audio / 60:.1f} min of audio, {frames} frames of log-probs")
    print(f"{'beam':>5} {'decoder':<12} {'WER %':>7} {'seconds':>8} {'x real time':>12}")
    lm = load_lm_package(args.lm).model if args.lm else None
    if args.ngram:
        from asr.decoding.lexicon import load_lexicon

        words = list(load_lexicon(args.lexicon, tok)[0].words)
        peer_lm = build_ctcdecoder(labels, kenlm_model_path=args.ngram, unigrams=words,
                                   alpha=args.ngram_weight * float(np.log10(np.e)), beta=args.word_bonus)

    def timed(beam: int, name: str, decode) -> float:
        """Best of ``--repeats`` runs of ``decode`` (-> texts); prints its WER and speed, returns its seconds."""
        best, hyps = float("inf"), []
        for _ in range(args.repeats):
            start = time.perf_counter()
            hyps = decode()
            best = min(best, time.perf_counter() - start)
        print(f"{beam:>5} {name:<12} {100 * word_errors(refs, hyps).rate:>7.2f} {best:>8.3f} {audio / best:>12.0f}")
        return best

    for beam in args.beam_sizes:
        ours = BeamSearch(tok, DecodeSettings(method="beam", beam_size=beam))
        asr_s = timed(beam, "asr", lambda: [ours.decode_one(e)[0].text for e in emissions])
        peer_s = timed(beam, "pyctcdecode", lambda: [" ".join(peer.decode(e, beam_width=beam).split())
                                                     for e in as_numpy])
        print(f"{beam:>5} speed-up of asr over pyctcdecode: {peer_s / asr_s:.1f}x")
        if args.ngram:
            settings = DecodeSettings(method="beam", beam_size=beam, ngram=args.ngram, ngram_weight=args.ngram_weight,
                                      ngram_word_bonus=args.word_bonus, lexicon=args.lexicon)
            with_ngram = BeamSearch(tok, settings)
            asr_s = timed(beam, "asr+ngram", lambda: [with_ngram.decode_one(e)[0].text for e in emissions])
            peer_s = timed(beam, "pyctc+ngram", lambda: [" ".join(peer_lm.decode(e, beam_width=beam).split())
                                                         for e in as_numpy])
            print(f"{beam:>5} speed-up of asr over pyctcdecode, word n-gram: {peer_s / asr_s:.1f}x")
        if lm is not None:
            fused = BeamSearch(tok, DecodeSettings(method="beam_lm", fusion=True, beam_size=beam,
                                                   lm_weight=args.alpha[0], word_bonus=args.beta[0]), lm=lm)
            nbest = BeamSearch(tok, DecodeSettings(method="beam_lm", beam_size=beam, nbest=16))
            timed(beam, "asr+fusion", lambda: [fused.decode_one(e)[0].text for e in emissions])
            timed(beam, "asr+rescore", lambda: [h.text for h in rescore(lm, tok, [nbest.decode_one(e)
                                                                                  for e in emissions],
                                                                              args.alpha[1], args.beta[1])])

if __name__ == "__main__":
    main()
