"""`asr make-ngram`: a word or character n-gram LM counted from text, written as ARPA for KenLM.

Interpolated modified Kneser-Ney (Chen & Goodman 1998), as KenLM's ``lmplz`` and SRILM's ``-kndiscount
-interpolate`` make it: the highest order uses raw counts, lower orders continuation counts (how
many distinct words precede the n-gram; n-grams that start with ``<s>`` keep raw counts), three discounts per order
from the counts of counts, unigrams interpolated with the uniform distribution over the vocabulary and ``<unk>``.
ARPA stores each n-gram's interpolated log10 probability and, for every n-gram that is a context, its backoff weight
(the interpolation weight gamma), so every context's distribution sums to one.

Pruning (``--prune``, as lmplz's): n-grams of order n whose Kneser-Ney count is at most the n-th threshold are left
out, their probability mass moved to their context's backoff weight (the discounts come from the unpruned counts),
and the distributions still sum to one. An n-gram that is the context or the suffix of one kept at the order above
stays, as ARPA needs; unigrams are never pruned.

Units: ``word`` (normalized words, for beam search with a lexicon: one LM query per completed word) or ``char``
(the model's characters with ``|`` for the space, the symbols beam search without a lexicon queries). Text lines are
normalized like transcripts; gzip-compressed text works too. An ARPA file named ``*.gz`` is written gzip-compressed
(a quarter of the size; KenLM reads it as it is, and so does everything here): the shipped model's n-gram.

    asr make-ngram data/lm/words3.arpa data/lm/train.txt --order 3 --dev data/lm/dev.txt
"""

from __future__ import annotations

import gzip
import io
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from tqdm.auto import tqdm

from asr.atomic import atomic_path
from asr.text import normalize_text
from asr.word_list import existing_text_files, read_text_lines

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
UNITS = ("word", "char")
_FALLBACK_DISCOUNTS = (0.5, 1.0, 1.5)  # when the counts of counts are too few to estimate them (tiny texts)


def sentence_units(line: str, unit: str) -> list[str]:
    """The LM symbols of one line of text: normalized words, or characters with ``|`` for the space."""
    text = normalize_text(line)
    if unit == "word":
        return text.split()
    if unit == "char":
        return ["|" if c == " " else c for c in text]
    raise ValueError(f"unknown n-gram unit {unit!r}: choose {', '.join(UNITS)}")


def sentences(paths: Iterable[str | Path], unit: str) -> Iterator[list[str]]:
    for path in existing_text_files(paths):
        for line in tqdm(read_text_lines(path), desc=f"Counting n-grams of {path.name}", unit=" lines",
                         mininterval=2.0):
            units = sentence_units(line, unit)
            if units:
                yield units


def count_ngrams(sents: Iterable[list[str]], order: int) -> list[Counter]:
    """Raw counts of the 1..order-grams of the sentences, each padded with one ``<s>`` and one ``</s>``."""
    if order < 2:
        raise ValueError(f"the n-gram order must be at least 2 (KenLM reads no unigram model), got {order}")
    counts = [Counter() for _ in range(order)]
    for units in sents:
        seq = (BOS, *units, EOS)
        for n in range(1, order + 1):
            counts[n - 1].update(seq[i:i + n] for i in range(len(seq) - n + 1))
    del counts[0][(BOS,)]  # <s> is only ever a context
    return counts


def adjusted_counts(raw: list[Counter]) -> list[Counter]:
    """Kneser-Ney's counts: raw at the highest order and for n-grams starting with ``<s>``, else the number of
    distinct words seen before the n-gram."""
    adjusted = [Counter() for _ in raw]
    adjusted[-1] = Counter(raw[-1])
    for n in range(len(raw) - 1):  # order n + 1, from the left extensions at order n + 2
        for gram in raw[n + 1]:
            adjusted[n][gram[1:]] += 1
        for gram, count in raw[n].items():
            if gram[0] == BOS:
                adjusted[n][gram] = count
    return adjusted


def discounts(counts: Counter) -> tuple[float, float, float]:
    """D1, D2, D3+ from the numbers of n-grams seen once .. four times (Chen & Goodman's estimates)."""
    n = Counter(c for c in counts.values() if c <= 4)
    n1, n2, n3, n4 = (n[k] for k in (1, 2, 3, 4))
    if min(n1, n2, n3, n4) == 0:
        return _FALLBACK_DISCOUNTS
    y = n1 / (n1 + 2 * n2)
    d = (1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3)
    if not all(0 < dk < k for k, dk in zip((1, 2, 3), d)):
        return _FALLBACK_DISCOUNTS
    return d


@dataclass
class NgramLM:
    """Interpolated probabilities and backoff weights, by order (index 0: unigrams)."""

    prob: list[dict[tuple[str, ...], float]]  # n-gram -> P(last | the rest), interpolated
    backoff: list[dict[tuple[str, ...], float]]  # context n-gram -> gamma (missing: 1)
    discounts: list[tuple[float, float, float]]

    @property
    def order(self) -> int:
        return len(self.prob)

    def vocabulary(self) -> set[str]:
        return {g[0] for g in self.prob[0]}


def prune_thresholds(prune: list[int] | None, order: int) -> list[int]:
    """lmplz's ``--prune``: one count threshold per order from unigrams on, non-decreasing, the last repeated for
    the higher orders; the unigrams' must be 0."""
    values = [int(v) for v in (prune or [0])]
    if values[0] != 0 or any(v < 0 for v in values) or values != sorted(values):
        raise ValueError(f"--prune {' '.join(map(str, values))}: thresholds must be non-decreasing counts >= 0, the "
                         "unigrams' 0 (unigrams are never pruned), e.g. --prune 0 1 1")
    if len(values) > order:
        raise ValueError(f"--prune gives {len(values)} thresholds for an order-{order} model")
    return (values + [values[-1]] * order)[:order]


def kept_ngrams(adjusted: list[Counter], thresholds: list[int]) -> list[set]:
    """By order: the n-grams above their order's threshold, and every context and suffix of one kept above."""
    kept: list[set] = [set() for _ in adjusted]
    needed: set = set()
    for n in range(len(adjusted) - 1, -1, -1):
        kept[n] = {g for g, c in adjusted[n].items() if c > thresholds[n] or g in needed}
        needed = {g[:-1] for g in kept[n]} | {g[1:] for g in kept[n]}
    return kept


def estimate(raw: list[Counter], prune: list[int] | None = None) -> NgramLM:
    adjusted = adjusted_counts(raw)
    thresholds = prune_thresholds(prune, len(raw))
    kept = kept_ngrams(adjusted, thresholds) if any(thresholds) else None
    vocab = {g[0] for g in adjusted[0]} | {UNK}
    prob: list[dict] = []
    backoff: list[dict] = []
    ds: list[tuple[float, float, float]] = []
    for n, counts in enumerate(adjusted):
        d = discounts(counts)
        ds.append(d)
        total: dict[tuple, float] = defaultdict(float)
        mass: dict[tuple, float] = defaultdict(float)  # the discounted mass: gamma * total
        for gram, c in counts.items():
            total[gram[:-1]] += c
            # a pruned n-gram's whole count goes to the backoff: it is then predicted through the lower order
            mass[gram[:-1]] += c if kept is not None and gram not in kept[n] else d[min(c, 3) - 1]
        gamma = {h: mass[h] / total[h] for h in total}
        lower = prob[n - 1] if n else None
        p = {}
        for gram, c in counts.items():
            if kept is not None and gram not in kept[n]:
                continue
            h = gram[:-1]
            below = lower[gram[1:]] if lower is not None else 1.0 / len(vocab)
            p[gram] = (c - d[min(c, 3) - 1]) / total[h] + gamma[h] * below
        if n == 0:
            p[(UNK,)] = gamma[()] / len(vocab)
        prob.append(p)
        backoff.append({h: g for h, g in gamma.items() if h})  # the unigram context () has no ARPA entry
    return NgramLM(prob, backoff, ds)


def _log10(x: float) -> str:
    return f"{math.log10(x):.7f}"


def write_arpa(lm: NgramLM, path: str | Path) -> Path:
    """The model in ARPA format (log10), written atomically; ``<s>`` gets the conventional -99."""
    path = Path(path)
    entries = [dict(p) for p in lm.prob]
    entries[0][(BOS,)] = 0.0  # listed for its backoff weight only
    with atomic_path(path) as tmp, _open_arpa_for_writing(tmp, path.name.endswith(".gz")) as f:
        f.write("\\data\\\n")
        for n, grams in enumerate(entries, 1):
            f.write(f"ngram {n}={len(grams)}\n")
        for n, grams in enumerate(entries):
            f.write(f"\n\\{n + 1}-grams:\n")
            contexts = lm.backoff[n + 1] if n + 1 < lm.order else {}
            for gram in sorted(grams):
                logp = "-99" if gram == (BOS,) else _log10(grams[gram])
                bow = f"\t{_log10(contexts[gram])}" if gram in contexts else ""
                f.write(f"{logp}\t{' '.join(gram)}{bow}\n")
        f.write("\n\\end\\\n")
    return path


@contextmanager
def _open_arpa_for_writing(path: Path, compressed: bool) -> Iterator[io.TextIOBase]:
    """A text file to write, gzip-compressed with no name or time in its header (same text, same bytes)."""
    if not compressed:
        with open(path, "w", encoding="utf-8") as f:
            yield f
        return
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz, \
            io.TextIOWrapper(gz, encoding="utf-8") as f:
        yield f


def load_kenlm(path: str | Path, dictionary):
    """flashlight-text's KenLM over ``dictionary``'s symbols (ARPA or binary); a bad file is a ValueError naming it."""
    from flashlight.lib.text.decoder.kenlm import KenLM

    try:
        return KenLM(str(path), dictionary)
    except Exception as e:  # noqa: BLE001 - KenLM raises RuntimeError subclasses with its own text
        raise ValueError(f"{path}: not a readable KenLM model ({e})") from e


def arpa_unigrams(path: str | Path) -> set[str] | None:
    """The unigram symbols of an ARPA file; None for a KenLM binary file (its vocabulary cannot be read here)."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open  # as read_text_lines below and write_arpa decide
    with opener(path, "rb") as f:
        if not f.read(4096).lstrip().startswith(b"\\data\\"):
            return None
    symbols, in_unigrams = set(), False
    for line in read_text_lines(path):
        fields = line.split()
        if fields == ["\\1-grams:"]:
            in_unigrams = True
        elif in_unigrams and fields and fields[0].startswith("\\"):
            break
        elif in_unigrams and len(fields) >= 2:
            symbols.add(fields[1])
    return symbols


def ngram_unit(path: str | Path) -> str:
    """``word`` or ``char``: what an n-gram's symbols are. An ARPA file's unigrams say it (one character or ``|``
    each: char); a KenLM binary file's vocabulary cannot be listed, so the model is asked (``_probe_unit``). Read
    once per file version (a tuning grid builds many beam searches over the same file)."""
    stat = Path(path).stat()
    return _cached_unit(str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=8)
def _cached_unit(path: str, mtime_ns: int, size: int) -> str:
    return _unit_of(path, arpa_unigrams(path))


def _unit_of(path: str | Path, unigrams: set[str] | None) -> str:
    """The unit from an ARPA file's unigrams (``arpa_unigrams``), or asked of a binary (``unigrams`` None)."""
    if unigrams is None:
        return _probe_unit(path)
    return "word" if any(len(s) > 1 for s in unigrams - {BOS, EOS, UNK}) else "char"


# words every English word n-gram has (upper case, as the toolkit's text, and lower case, as many published LMs)
PROBE_WORDS = ("THE", "AND", "OF", "TO", "IN", "THAT", "IS", "WAS", "HE", "IT", "FOR", "WITH")


def _probe_unit(path: str | Path) -> str:
    """A KenLM binary's unit, asked of the model: what it knows gets another probability than an unknown symbol
    (``<unk>``'s). A character n-gram knows ``|``, the space between words, and no common word; a word n-gram
    knows common words, or at least no ``|``."""
    from flashlight.lib.text.dictionary import Dictionary

    symbols = ["QZXJQZXJ", "|", *PROBE_WORDS, *(w.lower() for w in PROBE_WORDS)]
    lm = load_kenlm(path, Dictionary(symbols))
    start = lm.start(False)
    unknown = lm.score(start, 0)[1]
    known = [abs(lm.score(start, i)[1] - unknown) > 1e-6 for i in range(len(symbols))]
    return "char" if known[1] and not any(known[2:]) else "word"


@dataclass(frozen=True)
class Perplexity:
    perplexity: float
    symbols: int  # scored: every word or character of the text and one end of sentence per line
    oov: int  # symbols not in the model's vocabulary (scored as <unk>); -1 when it cannot be read (binary)
    sentences: int
    unit: str  # word or char: what the symbols are


def perplexity(model: str | Path, paths: Iterable[str | Path], unit: str | None = None) -> Perplexity:
    """Perplexity of text under an ARPA or KenLM binary n-gram, as KenLM itself scores it (unknown symbols get
    ``<unk>``'s probability); ``unit`` by default: what the file's unigrams are (``ngram_unit``)."""
    from flashlight.lib.text.dictionary import Dictionary

    model = Path(model)
    if not model.is_file():
        raise FileNotFoundError(f"{model}: no such n-gram file")
    vocab = arpa_unigrams(model)
    unit = unit or _unit_of(model, vocab)
    sents = list(sentences(paths, unit))
    if not sents:
        raise ValueError("no text to score: every line is empty")
    dictionary = Dictionary(sorted({s for units in sents for s in units}))
    lm = load_kenlm(model, dictionary)
    log10_total, count, oov = 0.0, 0, 0
    for units in sents:
        state = lm.start(False)
        for s in units:
            state, score = lm.score(state, dictionary.get_index(s))
            log10_total += score
            oov += vocab is not None and s not in vocab
        _, score = lm.finish(state)
        log10_total += score
        count += len(units) + 1
    return Perplexity(10 ** (-log10_total / count), count, oov if vocab is not None else -1, len(sents), unit)


def make_ngram(texts: list[str | Path], out: str | Path, order: int = 3, unit: str = "word",
               prune: list[int] | None = None) -> NgramLM:
    """Count, smooth, prune (``prune``: count thresholds by order, see module doc) and write ``out`` (ARPA); the
    model is returned for its statistics."""
    if unit not in UNITS:
        raise ValueError(f"unknown n-gram unit {unit!r}: choose {', '.join(UNITS)}")
    prune_thresholds(prune, order)  # bad thresholds fail before the counting
    raw = count_ngrams(sentences(texts, unit), order)
    if not raw[0]:
        raise ValueError(f"{', '.join(map(str, texts))}: no text to count (every line is empty)")
    lm = estimate(raw, prune)
    write_arpa(lm, out)
    return lm


def cli_make_ngram(args) -> int:
    lm = make_ngram(args.texts, args.out, args.order, args.unit, args.prune)
    sizes = ", ".join(f"{len(p) + (n == 1)} {n}-grams" for n, p in enumerate(lm.prob, 1))  # + <s>
    print(f"{args.out}: {args.unit} {lm.order}-gram, {sizes}; discounts "
          + " / ".join(",".join(f"{d:.2f}" for d in ds) for ds in lm.discounts))
    if args.dev:
        ppl = perplexity(args.out, args.dev, args.unit)
        print(f"perplexity on {', '.join(map(str, args.dev))}: {ppl.perplexity:.2f} ({ppl.symbols} {args.unit}s "
              f"incl. sentence ends, {ppl.oov} out of vocabulary)")
    return 0
