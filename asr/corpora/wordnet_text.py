"""LM text in present-day English from WordNet's example sentences and glosses.

The synthetic corpus's LM text comes from its sentence pool (the King James bible, fortunes, Jane Austen): old
English, in the same domain as the corpus's own transcripts. WordNet (Princeton, Debian package ``wordnet-base``,
a permissive licence) carries ~48,000 short example sentences of everyday English ("Pepper makes me sneeze",
"hold your breath") and ~117,000 glosses ("a person who ..."), a cheap source of the vocabulary and spelling of
speech people record today.

    apt-get install wordnet-base
    asr make-lm-text data/lm/wordnet.txt --wordnet /usr/share/wordnet --exclude data/lm/dev.txt data/lm/test.txt
    asr lm train 'train_text=[data/en/lm/train.txt,data/lm/wordnet.txt]' dev_text=data/en/lm/dev.txt

A line of a WordNet ``data.*`` file is ``offset lex_filenum ss_type w_cnt word ... | gloss; "example"; ...``.
Text is normalized as transcripts are (:func:`asr.text.normalize_text`); lines with characters outside the token
set (digits, other scripts) are left out and counted, as are lines that are in an ``exclude`` file (dev and test
text must not leak into LM training). Attributed literary quotes (``"..."- Shakespeare``, ``"..."--Jane Austen``)
are dropped: *Sense and Sensibility* is kept out of all development data.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from asr.atomic import write_text_atomic
from asr.text import Tokenizer, normalize_text

WORDNET_DIRS = (Path("/usr/share/wordnet"), Path("/usr/local/share/wordnet"), Path("/usr/share/WordNet-3.0/dict"))
DATA_FILES = ("data.noun", "data.verb", "data.adj", "data.adv")
# an example, with the attribution of a literary quote after it ("..."- Shakespeare): those are left out
_QUOTED = re.compile(r'"([^"]+)"(\s*-+\s*[^;"]*)?')


@dataclass
class LMText:
    sentences: list[str]
    skipped: Counter = field(default_factory=Counter)  # reason -> count


def find_wordnet(path: str | Path | None = None) -> Path:
    """The directory with WordNet's data.noun ... files: ``path`` or a usual install location."""
    candidates = [Path(path)] if path else list(WORDNET_DIRS)
    for d in candidates:
        if all((d / f).is_file() for f in DATA_FILES):
            return d
    where = str(path) if path else ", ".join(map(str, WORDNET_DIRS))
    raise FileNotFoundError(f"no WordNet data files ({', '.join(DATA_FILES)}) in {where}: install the Debian package "
                            "wordnet-base (apt-get install wordnet-base) or pass its dict directory")


def parse_data_line(line: str) -> tuple[list[str], list[str]]:
    """One ``data.*`` line -> (glosses, examples), raw text; attributed quotes are dropped. License header lines
    (two leading spaces) give none."""
    if line.startswith(" ") or "|" not in line:
        return [], []
    gloss_part = line.split("|", 1)[1].strip()
    examples = [m.group(1).strip() for m in _QUOTED.finditer(gloss_part) if not m.group(2)]
    glosses = [g.strip() for g in _QUOTED.sub("", gloss_part).split(";")]
    return [g for g in glosses if g], examples


def wordnet_text(wordnet_dir: str | Path | None = None, glosses: bool = True, exclude: list[str | Path] = (),
                 tokenizer: Tokenizer | None = None, min_words: int = 3) -> LMText:
    """Normalized, de-duplicated sentences from WordNet, in file order: examples, and glosses when asked."""
    directory = find_wordnet(wordnet_dir)
    tokenizer = tokenizer or Tokenizer()
    excluded = set()
    for path in exclude:
        excluded |= {normalize_text(t) for t in Path(path).read_text(encoding="utf-8").splitlines() if t.strip()}
    out, seen, skipped = [], set(), Counter()
    for name in DATA_FILES:
        with open(directory / name, encoding="utf-8", errors="replace") as f:
            for line in f:
                gl, ex = parse_data_line(line)
                for raw in ex + (gl if glosses else []):
                    text = normalize_text(raw)
                    if len(text.split()) < min_words:
                        skipped["fewer than %d words" % min_words] += 1
                    elif tokenizer.unknown_chars(text):
                        skipped["characters outside the token set"] += 1
                    elif text in excluded:
                        skipped["in an exclude file"] += 1
                    elif text in seen:
                        skipped["duplicate"] += 1
                    else:
                        seen.add(text)
                        out.append(text)
    if not out:
        raise ValueError(f"{directory}: no usable sentences in the WordNet data files")
    return LMText(out, skipped)


def write_lm_text(out: str | Path, text: LMText) -> Path:
    """One sentence per line, written atomically."""
    out = Path(out)
    write_text_atomic(out, "".join(s + "\n" for s in text.sentences))
    return out
