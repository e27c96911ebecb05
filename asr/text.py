"""Character token set and the text normalization shared by training, scoring and output."""

from __future__ import annotations

import json
import re
import string
import unicodedata
from collections.abc import Sequence
from pathlib import Path

BLANK = "<blk>"
DEFAULT_TOKENS = (BLANK, " ", "'", *string.ascii_uppercase)

_PUNCT = re.compile("[" + re.escape(string.punctuation.replace("'", "") + "“”„«»—–…‐‑‒―¡¿·") + "]")
_EDGE_APOSTROPHES = re.compile(r"(?<![A-Z])'+|'+(?![A-Z])")


class UnknownCharacterError(ValueError):
    """The text has characters that are not in the token set."""


def normalize_text(text: str) -> str:
    """Upper-case, fold accents, turn punctuation into spaces, keep word-internal apostrophes.

    Characters that are neither letters of the set, apostrophes, punctuation nor space (digits, symbols, other
    scripts) are kept, so that :meth:`Tokenizer.encode` reports them instead of silently dropping them.
    """
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = text.replace("’", "'").replace("‘", "'").replace("`", "'").upper()
    text = _PUNCT.sub(" ", text)
    text = _EDGE_APOSTROPHES.sub("", text)
    return " ".join(text.split())


class Tokenizer:
    """Characters <-> integer ids; id 0 is the CTC blank."""

    def __init__(self, tokens: Sequence[str] = DEFAULT_TOKENS):
        if not tokens or tokens[0] != BLANK:
            raise ValueError(f"the first token must be the blank {BLANK!r}, got {list(tokens)[:1]}")
        if len(set(tokens)) != len(tokens):
            raise ValueError("duplicate tokens in the token list")
        self.tokens = list(tokens)
        self._ids = {t: i for i, t in enumerate(self.tokens)}

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def blank_id(self) -> int:
        return 0

    def unknown_chars(self, text: str) -> set[str]:
        return {c for c in text if c not in self._ids or c == BLANK}

    def encode(self, text: str, normalize: bool = True) -> list[int]:
        """Token ids of ``text``; raises :class:`UnknownCharacterError` naming characters outside the set."""
        if normalize:
            text = normalize_text(text)
        bad = self.unknown_chars(text)
        if bad:
            raise UnknownCharacterError(f"characters not in the token set: {''.join(sorted(bad))!r} in {text!r}")
        return [self._ids[c] for c in text]

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(self.tokens[i] for i in ids if i != self.blank_id)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.tokens, indent=0) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "Tokenizer":
        try:
            tokens = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise ValueError(f"{path}: cannot read the token list: {e}") from e
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise ValueError(f"{path}: the token list must be a JSON list of strings")
        return cls(tokens)
