"""Build the committed sentence pool used by the synthetic-corpus tool.

One-off maintenance script (run it again only to change the pool). Sources are public-domain texts shipped by
Debian packages:

* KJV bible: ``bible-kjv`` (``bible -f Gen1:1-Rev22:21``)
* fortunes: ``fortunes`` (``/usr/share/games/fortunes/*``, the non-offensive set)
* Jane Austen: ``r-cran-janeaustenr`` (extract the .deb with ``dpkg -x``; R itself is not needed). *Sense and
  Sensibility* is excluded: it is kept out of all development data for outside evaluation.

Writes ``asr/corpora/data/sentences.txt.gz``: one ``<source>\t<SENTENCE>`` per line, normalized to the token set.

    apt-get install bible-kjv fortunes && apt-get download r-cran-janeaustenr && dpkg -x r-cran-janeaustenr*.deb /tmp/ja
    python tools/build_sentence_pool.py --austen /tmp/ja/usr/lib/R/site-library/janeaustenr/data/Rdata.rdb

``--refresh`` re-applies the respelling and filters to the committed pool without the sources.
"""

from __future__ import annotations

import argparse
import gzip
import random
import re
import struct
import subprocess
import zlib
from pathlib import Path

from asr.text import Tokenizer, normalize_text

ABBREVIATIONS = {"&": " and "}
# Titles as the TTS engines read them (Austen writes "Mr" without a period): the transcript must say what is spoken.
SPOKEN = {"MR": "MISTER", "MRS": "MISSUS", "DR": "DOCTOR", "ST": "SAINT", "COL": "COLONEL", "CAPT": "CAPTAIN",
          "ESQ": "ESQUIRE"}
SPOKEN_RE = re.compile(r"\b(" + "|".join(SPOKEN) + r")\b")
# German (mock-German) fortunes: an English TTS voice reads them as noise, and they teach no English spelling
FOREIGN = {"UND", "ICH", "DAS", "NICHT", "IST", "DER", "MIT", "FUR", "AUF", "VON", "EIN", "EINE", "SIND", "DEN",
           "DEM", "WIR", "NUN", "BEIM", "IM"}
TOKENIZER = Tokenizer()
SPLIT = re.compile(r"(?<=[.!?;:])\s+")


def austen_books(rdb: Path) -> list[list[str]]:
    """Lines of each novel from janeaustenr's R lazy-load database (zlib chunks of XDR-serialized STRSXPs)."""
    data, pos, books = rdb.read_bytes(), 0, []
    while pos < len(data):
        inflater = zlib.decompressobj()
        obj = inflater.decompress(data[pos + 4:])
        pos = len(data) - len(inflater.unused_data)
        lines, i = [], 0
        while i + 8 <= len(obj):  # CHARSXP: flags (low byte 9), length, bytes
            flags, n = struct.unpack(">ii", obj[i:i + 8])
            if flags & 0xFF == 9 and 0 <= n < 100_000 and i + 8 + n <= len(obj):
                lines.append(obj[i + 8:i + 8 + n].decode("utf-8", "replace"))
                i += 8 + n
            else:
                i += 4
        books.append(lines)
    return [b for b in books if not any("Dashwood" in line for line in b)]  # drop Sense and Sensibility


def paragraphs(lines: list[str]) -> list[str]:
    out, cur = [], []
    for line in lines + [""]:
        if line.strip():
            cur.append(line.strip())
        elif cur:
            out.append(" ".join(cur))
            cur = []
    return out


def respell(sentence: str) -> str | None:
    """A normalized sentence as spoken (titles written out), or None to drop it (foreign text)."""
    words = sentence.split()
    if sum(w in FOREIGN for w in words) >= 2:
        return None
    return SPOKEN_RE.sub(lambda m: SPOKEN[m.group(1)], sentence)


def sentences(text: str) -> list[str]:
    for short, long in ABBREVIATIONS.items():
        text = text.replace(short, long)
    result = []
    for piece in SPLIT.split(text):
        if re.search(r"[0-9]", piece) or re.search(r"\b[IVXLC]+\.", piece):  # numbers: dropped
            continue
        norm = respell(normalize_text(piece))
        if norm and 3 <= len(norm.split()) <= 25 and not TOKENIZER.unknown_chars(norm):
            result.append(norm)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--austen", type=Path, help="janeaustenr data/Rdata.rdb")
    ap.add_argument("--refresh", action="store_true",
                    help="apply the current respelling and filters to the committed pool (no sources needed)")
    ap.add_argument("--fortunes", type=Path, default=Path("/usr/share/games/fortunes"))
    ap.add_argument("--out", type=Path, default=Path("asr/corpora/data/sentences.txt.gz"))
    ap.add_argument("--per-source", type=int, default=12000)
    args = ap.parse_args()
    if args.refresh:
        rows = gzip.decompress(args.out.read_bytes()).decode().splitlines()
        fixed = [(src, respell(s)) for src, _, s in (row.partition("\t") for row in rows)]
        fixed = [f"{src}\t{s}" for src, s in fixed if s]
        print(f"{len(rows)} sentences, {len(rows) - len(fixed)} dropped, "
              f"{sum(a != b for a, b in zip(rows, fixed))} changed or shifted")
        _write(args.out, fixed)
        return
    if args.austen is None:
        ap.error("--austen is required (unless --refresh)")

    kjv = subprocess.run(["bible", "-f", "Gen1:1-Rev22:21"], capture_output=True, text=True, check=True).stdout
    pools = {"kjv": [s for line in kjv.splitlines() for s in sentences(line.partition(" ")[2])]}
    pools["austen"] = [s for book in austen_books(args.austen) for p in paragraphs(book) for s in sentences(p)]
    fortune_text = ""
    for f in sorted(args.fortunes.iterdir()):
        if not f.suffix and f.is_file() and not f.is_symlink():
            fortune_text += f.read_text(encoding="utf-8", errors="replace")
    pools["fortunes"] = [s for cookie in fortune_text.split("\n%\n") if "--" not in cookie
                         for s in sentences(" ".join(cookie.split()))]
    rng, seen, rows = random.Random(0), set(), []
    for source, pool in pools.items():
        unique = [s for s in dict.fromkeys(pool) if s not in seen]
        rng.shuffle(unique)
        seen.update(unique[:args.per_source])
        rows += [f"{source}\t{s}" for s in unique[:args.per_source]]
        print(f"{source}: {len(pool)} sentences, {len(unique)} unique, kept {min(len(unique), args.per_source)}")
    _write(args.out, rows)


def _write(out: Path, rows: list[str]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with gzip.GzipFile(out, "wb", mtime=0) as f:
        f.write(("\n".join(rows) + "\n").encode())


if __name__ == "__main__":
    main()
