"""`asr make-lexicon`: the word list a beam search keeps to (asr.decoding.lexicon), made from LM text.

The words of the text files, normalized like transcripts and ranked by how often they occur (ties in alphabetical
order), optionally cut to the ``max_words`` most frequent (LibriSpeech's own ``librispeech-vocab.txt`` is the
200,000 most frequent words of its LM corpus) or to those seen ``min_count`` times, then the words of other word
lists (``extra``: e.g. Debian's ``/usr/share/dict/american-english``) that are not in it yet. Words with characters
outside the token set (digits, other scripts; the default characters or a model's ``tokens.json``) are left out and
counted: no model could spell them. One word per line, written atomically. Text files may be gzip-compressed.

    asr make-lexicon data/lm/lexicon.txt data/lm/train.txt --max-words 200000 --extra /usr/share/dict/american-english
"""

from __future__ import annotations

import gzip
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from asr.atomic import write_text_atomic
from asr.text import Tokenizer, normalize_text


@dataclass(frozen=True)
class WordList:
    words: list[str]  # the text's words by frequency, then the extra lists' new words in file order
    from_text: int  # how many of them come from the text
    distinct_in_text: int  # distinct words the text has
    running_words: int  # words in the text
    covered: int  # of those, how many are in the list (the rest would be out of vocabulary)
    unspellable: int  # distinct words (text and extra lists) left out: characters outside the token set

    @property
    def coverage(self) -> float:
        return self.covered / self.running_words if self.running_words else 0.0


def read_text_lines(path: Path) -> Iterator[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            yield from f
    except (UnicodeDecodeError, gzip.BadGzipFile, EOFError) as e:
        raise ValueError(f"{path}: not readable as UTF-8 text{' (gzip)' if opener is gzip.open else ''}: {e}") from e


def word_counts(paths: list[Path]) -> Counter:
    """How often each normalized word occurs in the text files (one sentence or word per line)."""
    counts: Counter = Counter()
    for path in existing_text_files(paths):
        for line in tqdm(read_text_lines(path), desc=f"Counting words of {path.name}", unit=" lines", mininterval=2.0):
            counts.update(normalize_text(line).split())
    return counts


def existing_text_files(paths) -> list[Path]:
    """The paths, after checking that every one is a file (before any is read)."""
    for path in map(Path, paths):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such text file")
    return list(map(Path, paths))


def make_word_list(texts: list[Path], max_words: int | None = None, min_count: int = 1, extra: list[Path] = (),
                   tokenizer: Tokenizer = Tokenizer()) -> WordList:
    if max_words is not None and max_words < 1:
        raise ValueError(f"--max-words must be positive, got {max_words}")
    extra = existing_text_files(extra)
    counts = word_counts(texts)
    unspellable = {word for word in counts if tokenizer.unknown_chars(word)}
    ranked = sorted(((w, n) for w, n in counts.items() if w not in unspellable), key=lambda item: (-item[1], item[0]))
    kept = [word for word, n in ranked[:max_words] if n >= min_count]
    covered = sum(counts[word] for word in kept)
    seen = dict.fromkeys(kept)
    for path in extra:
        for line in read_text_lines(path):
            fields = line.split()
            for word in normalize_text(fields[0]).split() if fields else ():  # "x-ray" -> X, RAY
                if tokenizer.unknown_chars(word):
                    unspellable.add(word)
                else:
                    seen.setdefault(word)
    return WordList(list(seen), len(kept), len(counts), sum(counts.values()), covered, len(unspellable))


def cli_make_lexicon(args) -> int:
    tokenizer = Tokenizer.load(args.tokens) if args.tokens else Tokenizer()
    result = make_word_list(args.texts, args.max_words, args.min_count, args.extra, tokenizer)
    if not result.words:
        raise ValueError(f"{', '.join(map(str, args.texts))}: no word to put into a lexicon")
    write_text_atomic(args.out, "\n".join(result.words) + "\n")
    print(f"{args.out}: {len(result.words)} word(s): {result.from_text} of the text's {result.distinct_in_text} "
          f"distinct words (they cover {100 * result.coverage:.2f}% of its {result.running_words} running words)"
          + (f", {len(result.words) - result.from_text} more from {', '.join(map(str, args.extra))}"
             if args.extra else "")
          + (f"; {result.unspellable} left out: characters outside the token set" if result.unspellable else ""))
    return 0
