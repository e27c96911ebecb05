"""CTC prefix beam search on flashlight-text's decoders (prebuilt wheel, no C++ build for the user).

Lexicon-free by default (any character sequence), or restricted to the words of a lexicon (``lexicon.py``). Inside
the beam, one optional LM: a character n-gram (KenLM ARPA or binary, over the token symbols with ``|`` for the
space) or the character LSTM LM (shallow fusion, ``fusion.py``), scored per character; or, with a lexicon, a word
n-gram (ARPA, ``asr make-ngram``, or KenLM binary), scored per completed word with its unigram look-ahead inside
words. N-best lists come out for LSTM LM rescoring (``rescore.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from flashlight.lib.text.decoder import (
    CriterionType,
    LexiconDecoder,
    LexiconDecoderOptions,
    LexiconFreeDecoder,
    LexiconFreeDecoderOptions,
    ZeroLM,
)
from flashlight.lib.text.dictionary import Dictionary

from asr.decoding.config import DecodeSettings
from asr.decoding.ctc import path_text
from asr.text import Tokenizer


@dataclass
class Hypothesis:
    text: str
    acoustic: float  # the decoder's emitting-model score (CTC log-prob of the best path set)
    ngram: float  # n-gram log-prob (0 without an n-gram)
    score: float  # the beam's total score
    path: tuple[int, ...] = ()  # frame-level token ids (one per frame): word timestamps come from it

    @property
    def words(self) -> int:
        return len(self.text.split())


def _lm_symbols(tokenizer: Tokenizer) -> list[str]:
    return ["|" if t == " " else t for t in tokenizer.tokens]


class BeamSearch:
    def __init__(self, tokenizer: Tokenizer, config: DecodeSettings | None = None, lm=None):
        """``config``: beam size, threshold and N-best (``search_nbest``), the n-gram and its weight, the word
        bonus (``beam_word_bonus`` without any LM). ``lm``: a CharLM to fuse into the beam with weight
        ``config.lm_weight`` (shallow fusion)."""
        config = config or DecodeSettings(method="beam")
        self.tokenizer, self.config = tokenizer, config
        space = tokenizer.tokens.index(" ")
        if lm is not None and config.ngram:
            raise ValueError("one LM inside the beam: an n-gram or the fused LSTM LM, not both")
        if lm is not None:
            from asr.decoding.fusion import FusionLM

            if lm.config.vocab_size != len(tokenizer):
                raise ValueError(f"the LM has {lm.config.vocab_size} tokens, the model {len(tokenizer)}")
            lm, weight, bonus = FusionLM(lm), config.lm_weight, config.word_bonus
        elif config.ngram:
            path = Path(config.ngram)
            if not path.is_file():
                raise FileNotFoundError(f"{path}: no such n-gram file")
            from asr.ngram import load_kenlm, ngram_unit

            word_lm = ngram_unit(path) == "word"
            if word_lm and not config.lexicon:
                raise ValueError(f"{path}: a word n-gram needs a lexicon (--lexicon): the beam queries it once per "
                                 f"completed word, and only a lexicon search completes words")
            lm = None if word_lm else load_kenlm(path, Dictionary(_lm_symbols(tokenizer)))
            weight, bonus = config.ngram_weight, config.ngram_word_bonus
        else:  # no LM in the beam; its own word bonus only for method beam (rescoring's N-best lists: none)
            lm, weight, bonus = ZeroLM(), 0.0, config.beam_word_bonus if config.method == "beam" else 0.0
        beam = dict(beam_size=config.beam_size, beam_size_token=min(config.beam_size_token, len(tokenizer)),
                    beam_threshold=config.beam_threshold, lm_weight=weight, log_add=True,
                    criterion_type=CriterionType.CTC)
        self.trie = None
        if config.lexicon:
            from asr.decoding.lexicon import load_lexicon, load_word_ngram

            token_lm = lm is not None  # a character LM (or none); else the word n-gram, scored per word
            if token_lm:
                _, self.trie = load_lexicon(config.lexicon, tokenizer)
            else:
                lm, self.trie = load_word_ngram(config.ngram, config.lexicon, tokenizer)
            # the word bonus per completed word; no unknown words (-inf)
            options = LexiconDecoderOptions(**beam, word_score=bonus, unk_score=float("-inf"), sil_score=0.0)
            self.decoder = LexiconDecoder(options, self.trie, lm, space, tokenizer.blank_id, -1, [], token_lm)
        else:
            self.decoder = LexiconFreeDecoder(LexiconFreeDecoderOptions(**beam, sil_score=bonus), lm, space,
                                              tokenizer.blank_id, [])
        self.lm = lm  # flashlight keeps a reference only on the C++ side: keep the Python objects alive
        self.space = space

    def decode_one(self, log_probs: torch.Tensor) -> list[Hypothesis]:
        """(time, vocab) log-probs of one utterance -> N-best hypotheses, best first (duplicates merged)."""
        emissions = log_probs.detach().float().cpu()
        t = emissions.shape[0]
        if self.trie is not None:  # one frame that is surely the word separator: the last word completes too
            separator = torch.full((1, emissions.shape[1]), -1.0e4)
            separator[0, self.space] = 0.0
            emissions = torch.cat([emissions, separator])
        emissions = emissions.contiguous()
        results = self.decoder.decode(emissions.data_ptr(), *emissions.shape)
        seen, out = set(), []
        for r in results:
            tokens = list(r.tokens)  # flashlight returns the frame-level path
            if self.trie is not None:
                tokens = self._finished_words_only(tokens, list(r.words))
            text = path_text(tokens, self.tokenizer)
            if text in seen:
                continue
            seen.add(text)
            # flashlight's token path has one extra entry at each end (the start and end nodes); the separator frame
            # of a lexicon search is not one of the utterance's frames
            out.append(Hypothesis(text, r.emittingModelScore, r.lmScore, r.score, tuple(tokens)[1:t + 1]))
            if len(out) == self.config.search_nbest:
                break
        return out or [Hypothesis("", 0.0, 0.0, 0.0, (self.tokenizer.blank_id,) * t)]

    def _finished_words_only(self, tokens: list[int], words: list[int]) -> list[int]:
        """A lexicon search's path without a word it did not finish. When no hypothesis in the beam reaches a
        word's end by the last frame (the audio stops inside a word that is only the start of listed ones),
        flashlight ends the search mid-word; the frames after the last finished word (its label marks the frame of
        its separator) become blanks, so that only listed words come out."""
        last = max((i for i, w in enumerate(words) if w >= 0), default=0)
        return tokens[:last + 1] + [self.tokenizer.blank_id] * (len(tokens) - last - 1)

    def decode(self, log_probs: torch.Tensor, lengths: torch.Tensor) -> list[list[Hypothesis]]:
        """(batch, time, vocab) + lengths -> an N-best list per utterance."""
        return [self.decode_one(log_probs[b, :n]) for b, n in enumerate(lengths.tolist())]
