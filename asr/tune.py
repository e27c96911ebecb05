"""`asr tune`: grid or random search of LM weight, word bonus and beam size on a dev set.

The acoustic log-probs are computed once. N-best rescoring: each beam size's N-best lists once, the LM scores every
distinct hypothesis once, and each (LM weight, word bonus) point is then arithmetic only. Shallow fusion (the LM inside the
beam, ``--fusion-lm-weights``): every point is a beam search of the dev set, so its grid is kept small and runs at the
widest beam only. The best point of either kind is written into the package.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from asr.atomic import write_text_atomic
from asr.audio import SAMPLE_RATE
from asr.cuts import load_eval_waves
from asr.decoding.beam import BeamSearch
from asr.decoding.config import DecodeSettings
from asr.decoding.rescore import choose, lm_scores
from asr.decoding.settings import make_decoder
from asr.package import update_decode_settings
from asr.scoring import char_errors, word_errors
from asr.transcribe import load_model


def tune(model: Path, lm: Path, data: Path, lm_weights: list[float], word_bonuses: list[float],
         beam_sizes: list[int], nbest: int = 16, random_trials: int = 0, seed: int = 0, output: Path | None = None,
         write: bool = True, fusion_lm_weights: list[float] = (),
         fusion_word_bonuses: list[float] = ()) -> "TuneResult":
    recognizer = load_model(model, lm=lm, decode="beam_lm")
    waves, refs = load_eval_waves(data)
    if not waves:
        raise ValueError(f"{data}: no utterance to tune on")
    emissions = recognizer.emissions(waves, progress=True)
    base = recognizer.settings
    rows = []

    def add_row(decode: str, beam_size: int, hyps: list[str], lm_weight: float = 0.0, word_bonus: float = 0.0) -> None:
        rows.append({"decode": decode, "beam_size": beam_size, "lm_weight": lm_weight, "word_bonus": word_bonus,
                     "wer": word_errors(refs, hyps).rate, "cer": char_errors(refs, hyps).rate})

    add_row("greedy", 0, [d.text for d in make_decoder(base.with_method("greedy"), recognizer.tokenizer)(emissions)])
    grid = list(itertools.product(lm_weights, word_bonuses))
    if random_trials:
        rng = random.Random(seed)
        lo_a, hi_a, lo_b, hi_b = min(lm_weights), max(lm_weights), min(word_bonuses), max(word_bonuses)
        grid = [(round(rng.uniform(lo_a, hi_a), 3), round(rng.uniform(lo_b, hi_b), 3)) for _ in range(random_trials)]
    for beam_size in beam_sizes:
        settings = DecodeSettings(method="beam_lm", beam_size=beam_size, nbest=nbest,
                                  beam_threshold=base.beam_threshold)
        search = BeamSearch(recognizer.tokenizer, settings)
        nbests = [search.decode_one(e) for e in tqdm(emissions, desc=f"Beam {beam_size}", leave=False)]
        add_row("beam", beam_size, [n[0].text for n in nbests])
        lm = lm_scores(recognizer.lm, recognizer.tokenizer, nbests)
        for weight, bonus in grid:
            add_row("beam_lm", beam_size, [h.text for h in choose(nbests, lm, weight, bonus)], weight, bonus)
        # fusion decodes the dev set once per point: its grid runs at the widest beam only
        fusion_grid = list(itertools.product(fusion_lm_weights, fusion_word_bonuses or [0.0])) if beam_size == max(
            beam_sizes) else []
        for weight, bonus in tqdm(fusion_grid, desc=f"Fusion, beam {beam_size}", disable=not fusion_grid):
            settings = DecodeSettings(method="beam_lm", beam_size=beam_size, lm_weight=weight, word_bonus=bonus,
                                      fusion=True, beam_threshold=base.beam_threshold)
            hyps = [d.text for d in make_decoder(settings, recognizer.tokenizer, recognizer.lm)(emissions)]
            add_row("beam_lm_fusion", beam_size, hyps, weight, bonus)
    best = min((r for r in rows if r["decode"].startswith("beam_lm")),
               key=lambda r: (r["wer"], r["cer"], r["beam_size"]))
    table = "decode\tbeam\tlm_weight\tword_bonus\twer\tcer\n" + "".join(
        f"{r['decode']}\t{r['beam_size']}\t{r['lm_weight']}\t{r['word_bonus']}\t{r['wer']:.4f}\t{r['cer']:.4f}\n"
        for r in rows)
    if output:
        write_text_atomic(output, table)
    fused = best["decode"] == "beam_lm_fusion"
    if write:
        tuned = DecodeSettings(method="beam_lm", beam_size=best["beam_size"], nbest=nbest,
                               lm_weight=best["lm_weight"], word_bonus=best["word_bonus"],
                               beam_threshold=base.beam_threshold, fusion=fused)
        update_decode_settings(model, {**tuned.to_dict(), "tuned_on": str(data), "tuned_wer": best["wer"]})
    return TuneResult(rows, best, table, len(waves), sum(len(w) for w in waves) / SAMPLE_RATE,
                      Path(model) / "config.yaml" if write else None)


@dataclass
class TuneResult:
    rows: list[dict]  # decode, beam_size, lm_weight, word_bonus, wer, cer; the first row is greedy
    best: dict  # the best beam_lm row (rescoring or fusion)
    table: str  # the rows as TSV
    utterances: int
    audio_seconds: float
    written: Path | None  # the config.yaml the best setting went into

    def summary(self) -> str:
        b, greedy = self.best, self.rows[0]
        kind = "shallow fusion" if b["decode"] == "beam_lm_fusion" else "N-best rescoring"
        lines = [f"tuned on {self.utterances} utterances ({self.audio_seconds / 60:.1f} min):",
                 self.table.expandtabs(16).rstrip("\n"),
                 f"best: {kind}, beam {b['beam_size']}, LM weight {b['lm_weight']}, word bonus {b['word_bonus']}: WER "
                 f"{100 * b['wer']:.2f}% (greedy {100 * greedy['wer']:.2f}%)"]
        if self.written:
            lines.append(f"written into {self.written}")
        return "\n".join(lines)


def cli_tune(args) -> int:
    result = tune(args.model, args.lm, args.data, args.lm_weights, args.word_bonuses, args.beam_sizes, args.nbest,
                  args.random, output=args.output, write=not args.dry_run, fusion_lm_weights=args.fusion_lm_weights,
                  fusion_word_bonuses=args.fusion_word_bonuses)
    print(result.summary())
    return 0
