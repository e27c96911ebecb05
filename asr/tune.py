"""`asr tune`: grid or random search of LM weight, word bonus and beam size on a dev set.

The acoustic log-probs are computed once. N-best rescoring: each beam size's N-best lists once, the LM scores every
distinct hypothesis once, and each (alpha, beta) point is then arithmetic only. Shallow fusion (the LM inside the
beam, ``--fusion-alphas``): every point is a beam search of the dev set, so its grid is kept small and runs at the
widest beam only. The best point of either kind is written into the package.
"""

from __future__ import annotations

import itertools
import random
from pathlib import Path

from tqdm.auto import tqdm

from asr.audio import SAMPLE_RATE
from asr.decoding.beam import BeamSearch
from asr.decoding.rescore import RescoreWeights, lm_scores, pick_best
from asr.decoding.settings import DecodeSettings, make_decoder
from asr.evaluate import load_eval_waves
from asr.package import update_decode_settings
from asr.scoring import char_errors, word_errors
from asr.transcribe import load_model


def tune(model: Path, lm: Path, data: Path, alphas: list[float], betas: list[float], beam_sizes: list[int],
         nbest: int = 16, random_trials: int = 0, seed: int = 0, output: Path | None = None,
         write: bool = True, fusion_alphas: list[float] = (), fusion_betas: list[float] = ()) -> list[dict]:
    recognizer = load_model(model, lm=lm, decode="beam_lm")
    waves, refs = load_eval_waves(data)
    if not waves:
        raise ValueError(f"{data}: no utterance to tune on")
    emissions = recognizer.emissions(waves, progress=True)
    base = recognizer.settings
    rows = []

    def add_row(decode: str, beam_size: int, hyps: list[str], alpha: float = 0.0, beta: float = 0.0) -> None:
        rows.append({"decode": decode, "beam_size": beam_size, "alpha": alpha, "beta": beta,
                     "wer": word_errors(refs, hyps).rate, "cer": char_errors(refs, hyps).rate})

    add_row("greedy", 0, [d.text for d in make_decoder(base.with_method("greedy"), recognizer.tokenizer)(emissions)])
    grid = list(itertools.product(alphas, betas))
    if random_trials:
        rng = random.Random(seed)
        lo_a, hi_a, lo_b, hi_b = min(alphas), max(alphas), min(betas), max(betas)
        grid = [(round(rng.uniform(lo_a, hi_a), 3), round(rng.uniform(lo_b, hi_b), 3)) for _ in range(random_trials)]
    for beam_size in beam_sizes:
        settings = DecodeSettings(method="beam_lm", beam_size=beam_size, nbest=nbest,
                                  beam_threshold=base.beam_threshold)
        search = BeamSearch(recognizer.tokenizer, settings.beam_config())
        nbests = [search.decode_one(e) for e in tqdm(emissions, desc=f"Beam {beam_size}", leave=False)]
        add_row("beam", beam_size, [n[0].text for n in nbests])
        lm = lm_scores(recognizer.lm, recognizer.tokenizer, nbests)
        for alpha, beta in grid:
            add_row("beam_lm", beam_size, pick_best(nbests, lm, RescoreWeights(alpha, beta)), alpha, beta)
        # fusion decodes the dev set once per point: its grid runs at the widest beam only
        fusion_grid = list(itertools.product(fusion_alphas, fusion_betas or [0.0])) if beam_size == max(
            beam_sizes) else []
        for alpha, beta in tqdm(fusion_grid, desc=f"Fusion, beam {beam_size}", disable=not fusion_grid):
            settings = DecodeSettings(method="beam_lm", beam_size=beam_size, alpha=alpha, beta=beta, fusion=True,
                                      beam_threshold=base.beam_threshold)
            hyps = [d.text for d in make_decoder(settings, recognizer.tokenizer, recognizer.lm)(emissions)]
            add_row("beam_lm_fusion", beam_size, hyps, alpha, beta)
    best = min((r for r in rows if r["decode"].startswith("beam_lm")),
               key=lambda r: (r["wer"], r["cer"], r["beam_size"]))
    audio = sum(len(w) for w in waves) / SAMPLE_RATE
    table = "decode\tbeam\talpha\tbeta\twer\tcer\n" + "".join(
        f"{r['decode']}\t{r['beam_size']}\t{r['alpha']}\t{r['beta']}\t{r['wer']:.4f}\t{r['cer']:.4f}\n" for r in rows)
    print(f"tuned on {len(waves)} utterances ({audio / 60:.1f} min):")
    print(table.expandtabs(16), end="")
    fused = best["decode"] == "beam_lm_fusion"
    print(f"best: {'shallow fusion' if fused else 'N-best rescoring'}, beam {best['beam_size']}, "
          f"alpha {best['alpha']}, beta {best['beta']}: WER {100 * best['wer']:.2f}% (greedy {100 * rows[0]['wer']:.2f}%)")
    if output:
        Path(output).write_text(table)
    if write:
        tuned = DecodeSettings(method="beam_lm", beam_size=best["beam_size"], nbest=nbest, alpha=best["alpha"],
                               beta=best["beta"], beam_threshold=base.beam_threshold, fusion=fused)
        update_decode_settings(model, {**tuned.to_dict(), "tuned_on": str(data), "tuned_wer": best["wer"]})
        print(f"written into {Path(model) / 'config.yaml'}")
    return rows


def cli_tune(args) -> int:
    tune(args.model, args.lm, args.data, args.alphas, args.betas, args.beam_sizes, args.nbest, args.random,
         output=args.output, write=not args.dry_run, fusion_alphas=args.fusion_alphas,
         fusion_betas=args.fusion_betas)
    return 0
