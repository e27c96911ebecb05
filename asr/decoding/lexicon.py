"""A lexicon: the words a beam search may emit, as a prefix tree of their spellings for flashlight-text.

A character CTC model spells what it hears; near misses ("KAT", "THE WIS ERK") come out as non-words. Restricted to a
word list, the beam keeps only hypotheses that spell listed words, so a near miss becomes the closest listed word the
acoustic scores (and the LM, when one is used) allow, and no word outside the list can come out.

File format: one word per line; any further columns (a spelling or pronunciation, as in flashlight or Kaldi
lexicons) are ignored. Words are normalized like transcripts (upper case, accents folded, so "café" is CAFE);
a word with characters outside the model's token set (digits, other scripts) is skipped and counted.

Each word's spelling ends with the word separator (the space token), as in flashlight's letter lexicons: a word is
complete only when the separator follows it. The beam search appends one separator frame to every utterance so that
its last word completes too (``BeamSearch``).

With a word n-gram (``load_word_ngram``) the tree's words are the LM's words, and each word's unigram score, smeared
onto its prefixes, lets the beam weigh a word before it is complete.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from flashlight.lib.text.decoder import SmearingMode, Trie

from asr.text import Tokenizer, normalize_text

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class Lexicon:
    words: tuple[str, ...]  # distinct, in file order
    skipped: int  # words with characters outside the token set
    example_skipped: str  # one of them, for the message ("" when none)


def read_lexicon(path: str | Path, tokenizer: Tokenizer) -> Lexicon:
    """The distinct normalized words of a word list whose characters are all in ``tokenizer``'s set."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such lexicon file")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: a lexicon must be UTF-8 text ({e})") from e
    words: dict[str, None] = {}
    skipped, example = 0, ""
    for line in lines:
        fields = line.split()
        if not fields:
            continue
        for word in normalize_text(fields[0]).split():  # "x-ray" -> X, RAY
            if tokenizer.unknown_chars(word):
                skipped += 1
                example = example or fields[0]
            else:
                words[word] = None
    if not words:
        raise ValueError(f"{path}: no word to decode with (one word per line; {skipped} had characters outside the "
                         f"model's token set)")
    return Lexicon(tuple(words), skipped, example)


def lexicon_trie(lexicon: Lexicon, tokenizer: Tokenizer) -> Trie:
    """The prefix tree of the words' spellings, each followed by the space token; word i is label i."""
    space = tokenizer.tokens.index(" ")
    trie = Trie(len(tokenizer), space)
    for label, word in enumerate(lexicon.words):
        trie.insert(tokenizer.encode(word, normalize=False) + [space], label, 0.0)
    trie.smear(SmearingMode.MAX)
    return trie


@lru_cache(maxsize=4)
def _cached(path: str, mtime_ns: int, size: int, tokens: tuple[str, ...]) -> tuple[Lexicon, Trie]:
    tokenizer = Tokenizer(tokens)
    lexicon = read_lexicon(path, tokenizer)
    if lexicon.skipped:
        log.warning("%s: %d word(s) skipped: characters outside the model's token set (e.g. %r)", path,
                    lexicon.skipped, lexicon.example_skipped)
    return lexicon, lexicon_trie(lexicon, tokenizer)


def load_lexicon(path: str | Path, tokenizer: Tokenizer) -> tuple[Lexicon, Trie]:
    """The lexicon and its tree, read once per file version (``asr tune`` builds a beam search per grid point)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such lexicon file")
    stat = path.stat()
    return _cached(str(path.resolve()), stat.st_mtime_ns, stat.st_size, tuple(tokenizer.tokens))


@lru_cache(maxsize=2)
def _cached_word_ngram(ngram: str, ngram_version: tuple[int, int], lexicon: str, lexicon_version: tuple[int, int],
                       tokens: tuple[str, ...]):
    from flashlight.lib.text.dictionary import Dictionary

    from asr.ngram import load_kenlm

    words, _ = _cached(lexicon, *lexicon_version, tokens)
    lm = load_kenlm(ngram, Dictionary(list(words.words)))  # word i of the lexicon: label i of the tree and the LM
    tokenizer = Tokenizer(tokens)
    space = tokenizer.tokens.index(" ")
    start = lm.start(False)
    trie = Trie(len(tokenizer), space)
    for label, word in enumerate(words.words):
        # each word's unigram log-prob: smeared (max) onto its prefixes, the look-ahead inside words
        trie.insert(tokenizer.encode(word, normalize=False) + [space], label, lm.score(start, label)[1])
    trie.smear(SmearingMode.MAX)
    return lm, trie


def load_word_ngram(ngram: str | Path, lexicon: str | Path, tokenizer: Tokenizer):
    """A word n-gram (KenLM) over the lexicon's words and the lexicon's tree with the words' unigram scores, read
    once per file versions. Lexicon words the n-gram does not know get its ``<unk>`` probability."""
    ngram, lexicon = Path(ngram), Path(lexicon)
    for path, what in ((ngram, "n-gram"), (lexicon, "lexicon")):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such {what} file")
    versions = [(p.stat().st_mtime_ns, p.stat().st_size) for p in (ngram, lexicon)]
    return _cached_word_ngram(str(ngram.resolve()), versions[0], str(lexicon.resolve()), versions[1],
                              tuple(tokenizer.tokens))
