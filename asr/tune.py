"""`asr tune`: grid or random search of LM weight, word bonus and beam size on a dev set.

The acoustic log-probs are computed once. N-best rescoring: each beam size's N-best lists once, the LM scores every
distinct hypothesis once, and each (LM weight, word bonus) point is then arithmetic only. Shallow fusion (the LM
inside the beam, ``--fusion-lm-weights``): every point is a beam search of the dev set, so its grid is kept small
and runs at the widest beam only, like the word bonus of beam search without an LM (``--beam-word-bonuses``: with a
lexicon, a penalty keeps short listed words out of the gaps; stored as ``beam_word_bonus``). A KenLM n-gram
(``--ngram``, a character or word n-gram): its weight x word bonus, a beam search each, stored beside the LSTM
LM's settings (``--if-better``: made the package's decoding only if it beats it on the same dev set). With a
lexicon (``--lexicon``) every beam search emits only its words. The best point is written into the package with the
LM it was tuned with, and copies of the lexicon (``lexicon.txt``) and n-gram beside it (``asr.decoding.bundle``).
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, replace
from pathlib import Path

from tqdm.auto import tqdm

from asr.atomic import write_text_atomic
from asr.audio import SAMPLE_RATE
from asr.cuts import load_eval_waves
from asr.decoding.beam import BeamSearch
from asr.decoding.bundle import bundle_files
from asr.decoding.config import DecodeSettings
from asr.decoding.rescore import choose, lm_scores
from asr.decoding.settings import make_decoder
from asr.ngram import ngram_unit
from asr.package import file_digest, update_decode_settings
from asr.scoring import char_errors, word_errors
from asr.transcribe import load_model


def tune(model: Path, lm: Path | None, data: Path, lm_weights: list[float], word_bonuses: list[float],
         beam_sizes: list[int], nbest: int = 16, random_trials: int = 0, seed: int = 0, output: Path | None = None,
         write: bool = True, fusion_lm_weights: list[float] = (),
         fusion_word_bonuses: list[float] = (), ngram: Path | None = None,
         ngram_weights: list[float] = (0.2, 0.5, 0.8, 1.2), lexicon: Path | None = None,
         beam_word_bonuses: list[float] = (), if_better: bool = False) -> "TuneResult":
    """The LSTM LM (``lm``: rescoring grid and fusion points), or a KenLM character n-gram (``ngram``: its weight x
    word bonus, each point a beam search at the widest beam). The best point goes into the package with the LM it
    was tuned with (path and sha256). ``lexicon``: every beam search restricted to its words (without it, lexicon-free,
    whatever the package used before)."""
    if (lm is None) == (ngram is None):
        raise ValueError("asr tune needs one LM: --lm (an LSTM LM package) or --ngram (a KenLM n-gram)")
    if ngram is not None:
        return _tune_ngram(model, ngram, data, ngram_weights, word_bonuses, max(beam_sizes), output, write, lexicon,
                           if_better)
    recognizer = load_model(model, lm=lm, decode="beam_lm", lexicon=lexicon)
    dev = _DevSet(recognizer, data)
    base = replace(recognizer.settings, lexicon=str(lexicon) if lexicon else None)
    grid = list(itertools.product(lm_weights, word_bonuses))
    if random_trials:
        rng = random.Random(seed)
        lo_a, hi_a, lo_b, hi_b = min(lm_weights), max(lm_weights), min(word_bonuses), max(word_bonuses)
        grid = [(round(rng.uniform(lo_a, hi_a), 3), round(rng.uniform(lo_b, hi_b), 3)) for _ in range(random_trials)]
    for beam_size in beam_sizes:
        settings = DecodeSettings(method="beam_lm", beam_size=beam_size, nbest=nbest,
                                  beam_threshold=base.beam_threshold, lexicon=base.lexicon)
        search = BeamSearch(recognizer.tokenizer, settings)
        nbests = [search.decode_one(e) for e in tqdm(dev.emissions, desc=f"Beam {beam_size}", leave=False)]
        dev.add("beam", beam_size, [n[0].text for n in nbests])
        lm_logp = lm_scores(recognizer.lm, recognizer.tokenizer, nbests)
        for weight, bonus in grid:
            dev.add("beam_lm", beam_size, [h.text for h in choose(nbests, lm_logp, weight, bonus)], weight, bonus)
        # fusion decodes the dev set once per point: its grid runs at the widest beam only
        fusion_grid = list(itertools.product(fusion_lm_weights, fusion_word_bonuses or [0.0])) if beam_size == max(
            beam_sizes) else []
        for weight, bonus in tqdm(fusion_grid, desc=f"Fusion, beam {beam_size}", disable=not fusion_grid):
            settings = DecodeSettings(method="beam_lm", beam_size=beam_size, lm_weight=weight, word_bonus=bonus,
                                      fusion=True, beam_threshold=base.beam_threshold, lexicon=base.lexicon)
            dev.add("beam_lm_fusion", beam_size, dev.decode(settings), weight, bonus)
        if beam_size == max(beam_sizes):  # the beam without an LM: its own word bonus, at the widest beam
            for bonus in tqdm(beam_word_bonuses, desc=f"Word bonus without LM, beam {beam_size}", leave=False):
                settings = DecodeSettings(method="beam", beam_size=beam_size, beam_word_bonus=bonus,
                                          beam_threshold=base.beam_threshold, lexicon=base.lexicon)
                dev.add("beam", beam_size, dev.decode(settings), word_bonus=bonus)
    best = min((r for r in dev.rows if r["decode"].startswith("beam_lm")),
               key=lambda r: (r["wer"], r["cer"], r["beam_size"]))
    plain = _best_plain_beam(dev.rows)
    # an n-gram tuned before (`--ngram`) keeps its file and weights beside the LSTM LM's (`--decode beam` uses them),
    # unless it is a word n-gram and this tuning has no lexicon for it
    ngram_kept = base.ngram if base.ngram and (base.lexicon or ngram_unit(base.ngram) == "char") else None
    tuned = DecodeSettings(method="beam_lm", beam_size=best["beam_size"], nbest=nbest, lm_weight=best["lm_weight"],
                           word_bonus=best["word_bonus"], beam_threshold=base.beam_threshold,
                           fusion=best["decode"] == "beam_lm_fusion", lexicon=base.lexicon,
                           beam_word_bonus=plain["word_bonus"], ngram=ngram_kept,
                           ngram_weight=base.ngram_weight if ngram_kept else 0.0,
                           ngram_word_bonus=base.ngram_word_bonus if ngram_kept else 0.0)
    return dev.finish(model, best, tuned, lm, output, write)


def _tune_ngram(model: Path, ngram: Path, data: Path, weights: list[float], bonuses: list[float], beam_size: int,
                output: Path | None, write: bool, lexicon: Path | None = None,
                if_better: bool = False) -> "TuneResult":
    """The n-gram's weight x word bonus. Its best is stored beside the package's other settings (the LSTM LM's stay);
    it becomes the package's decoding (method beam) unless ``if_better`` and the package's current decoding, tuned
    on the same dev set, is at least as good."""
    recognizer = load_model(model, ngram=ngram, decode="beam", lexicon=lexicon)
    stored = dict(recognizer.package.decode or {})
    dev = _DevSet(recognizer, data)
    base = replace(recognizer.settings, lexicon=str(lexicon) if lexicon else None)
    for weight, bonus in tqdm(list(itertools.product(weights, bonuses)), desc="n-gram grid"):
        settings = DecodeSettings(method="beam", beam_size=beam_size, beam_threshold=base.beam_threshold,
                                  ngram=str(ngram), ngram_weight=weight, ngram_word_bonus=bonus, lexicon=base.lexicon)
        dev.add("beam_ngram", beam_size, dev.decode(settings), weight, bonus)
    best = min(dev.rows[1:], key=lambda r: (r["wer"], r["cer"]))
    tuned = replace(DecodeSettings.from_dict(stored), ngram=str(Path(ngram).resolve()), ngram_weight=best["lm_weight"],
                    ngram_word_bonus=best["word_bonus"], lexicon=base.lexicon)
    current = stored.get("tuned_wer") if stored.get("tuned_on") == str(data) else None
    if if_better and current is not None and current <= best["wer"]:
        kept = {k: stored[k] for k in ("tuned_on", "tuned_wer") if k in stored}
        return dev.finish(model, best, tuned, ngram, output, write, kept=(tuned.method, kept))
    tuned = replace(tuned, method="beam", beam_size=beam_size, beam_threshold=base.beam_threshold)
    return dev.finish(model, best, tuned, ngram, output, write)


class _DevSet:
    """The dev set's acoustic log-probs (computed once), the table of scored settings (first row: greedy), and
    writing the best setting into the package with the LM it was tuned with."""

    def __init__(self, recognizer, data: Path):
        self.recognizer, self.data = recognizer, data
        self.waves, self.refs = load_eval_waves(data)
        if not self.waves:
            raise ValueError(f"{data}: no utterance to tune on")
        self.emissions = recognizer.emissions(self.waves, progress=True)
        self.rows: list[dict] = []
        self.add("greedy", 0, self.decode(recognizer.settings.with_method("greedy")))

    def decode(self, settings: DecodeSettings) -> list[str]:
        return [d.text for d in make_decoder(settings, self.recognizer.tokenizer, self.recognizer.lm)(self.emissions)]

    def add(self, decode: str, beam_size: int, hyps: list[str], lm_weight: float = 0.0, word_bonus: float = 0.0):
        self.rows.append({"decode": decode, "beam_size": beam_size, "lm_weight": lm_weight, "word_bonus": word_bonus,
                          "wer": word_errors(self.refs, hyps).rate, "cer": char_errors(self.refs, hyps).rate})

    def finish(self, model: Path, best: dict, tuned: DecodeSettings, lm: Path, output: Path | None,
               write: bool, kept: tuple[str, dict] | None = None) -> "TuneResult":
        """``kept``: the package's decoding method and its record (tuned_on, tuned_wer) stay as they were. The LM
        tuned here is recorded (path, sha256) as ``lm`` (LSTM) or ``ngram_lm``, beside the other's record."""
        table = _table(self.rows)
        if output:
            write_text_atomic(output, table)
        if write:
            tuned = bundle_files(model, tuned)  # it decodes the same wherever it is copied to
            # the record names the LM of the package's decoding; an n-gram's is kept apart from the LSTM LM's
            # (whose weights stay beside it, and which `--lm` checks against)
            stored = self.recognizer.package.decode or {}
            record = {k: stored[k] for k in ("lm", "ngram_lm") if k in stored and (k == "lm" or tuned.ngram)}
            record["ngram_lm" if best["decode"] == "beam_ngram" else "lm"] = {"path": str(lm),
                                                                             "sha256": file_digest(lm)}
            record.update(kept[1] if kept else {"tuned_on": str(self.data), "tuned_wer": best["wer"]})
            update_decode_settings(model, {**tuned.to_dict(), **record})
        return TuneResult(self.rows, best, table, len(self.waves), sum(len(w) for w in self.waves) / SAMPLE_RATE,
                          Path(model) / "config.yaml" if write else None,
                          (kept[0], kept[1].get("tuned_wer")) if kept else None)


def _best_plain_beam(rows: list[dict]) -> dict:
    """The best row of beam search without an LM at the widest beam (its word bonus; ties: the smaller bonus)."""
    widest = max(r["beam_size"] for r in rows if r["decode"] == "beam")
    return min((r for r in rows if r["decode"] == "beam" and r["beam_size"] == widest),
               key=lambda r: (r["wer"], r["cer"], abs(r["word_bonus"])))


def _table(rows: list[dict]) -> str:
    return "decode\tbeam\tlm_weight\tword_bonus\twer\tcer\n" + "".join(
        f"{r['decode']}\t{r['beam_size']}\t{r['lm_weight']}\t{r['word_bonus']}\t{r['wer']:.4f}\t{r['cer']:.4f}\n"
        for r in rows)


@dataclass
class TuneResult:
    rows: list[dict]  # decode, beam_size, lm_weight, word_bonus, wer, cer; the first row is greedy
    best: dict  # the best beam_lm row (rescoring or fusion)
    table: str  # the rows as TSV
    utterances: int
    audio_seconds: float
    written: Path | None  # the config.yaml the best setting went into
    kept: tuple[str, float] | None = None  # an n-gram tuned with if_better that lost: the package's method and WER

    def summary(self) -> str:
        b, greedy = self.best, self.rows[0]
        kind = {"beam_lm_fusion": "shallow fusion", "beam_ngram": "n-gram in the beam"}.get(b["decode"],
                                                                                         "N-best rescoring")
        lines = [f"tuned on {self.utterances} utterances ({self.audio_seconds / 60:.1f} min):",
                 self.table.expandtabs(16).rstrip("\n"),
                 f"best: {kind}, beam {b['beam_size']}, LM weight {b['lm_weight']}, word bonus {b['word_bonus']}: WER "
                 f"{100 * b['wer']:.2f}% (greedy {100 * greedy['wer']:.2f}%)"]
        if any(r["decode"] == "beam" for r in self.rows):  # not with an n-gram
            plain = _best_plain_beam(self.rows)
            lines.append(f"beam without LM (beam {plain['beam_size']}): word bonus {plain['word_bonus']}: WER "
                         f"{100 * plain['wer']:.2f}%")
        if self.written and self.kept:
            lines.append(f"kept the package's decoding ({self.kept[0]}, dev WER {100 * self.kept[1]:.2f}%): the "
                         f"n-gram is not better; its weights are written into {self.written} for --decode beam")
        elif self.written:
            lines.append(f"written into {self.written}")
        return "\n".join(lines)


def cli_tune(args) -> int:
    result = tune(args.model, args.lm, args.data, args.lm_weights, args.word_bonuses, args.beam_sizes, args.nbest,
                  args.random, output=args.output, write=not args.dry_run, fusion_lm_weights=args.fusion_lm_weights,
                  fusion_word_bonuses=args.fusion_word_bonuses, ngram=args.ngram, ngram_weights=args.ngram_weights,
                  lexicon=args.lexicon, beam_word_bonuses=args.beam_word_bonuses, if_better=args.if_better)
    print(result.summary())
    return 0
