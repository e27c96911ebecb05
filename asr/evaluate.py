"""`asr evaluate`: WER/CER with jiwer on a test set, per-utterance results, the worst utterances, RTF."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from asr.atomic import write_text_atomic
from asr.audio import SAMPLE_RATE
from asr.cuts import load_cut_waves, load_eval_cuts
from asr.decoding.settings import make_decoder
from asr.scoring import ErrorCounts, char_errors, word_errors
from asr.significance import wer_interval
from asr.transcribe import load_model


@dataclass
class EvalResult:
    name: str
    utterances: int
    skipped: int
    wer: float
    cer: float
    words: ErrorCounts
    chars: ErrorCounts
    audio_seconds: float
    decode_seconds: float
    wer_interval: tuple[float, float] | None = None  # 95%, by bootstrap over utterances (asr.significance)

    @property
    def rtf(self) -> float:
        return self.decode_seconds / max(self.audio_seconds, 1e-9)


def score(name: str, refs: list[str], hyps: list[str], ids: list[str], skipped: int, audio_seconds: float,
          decode_seconds: float) -> tuple[EvalResult, list[dict]]:
    words, chars = word_errors(refs, hyps), char_errors(refs, hyps)
    rows = []
    for utt, ref, hyp in zip(ids, refs, hyps):
        w = word_errors([ref], [hyp])
        rows.append({"id": utt, "errors": w.errors, "words": w.reference_length, "wer": round(w.rate, 4),
                     "ref": ref, "hyp": hyp})
    interval = wer_interval([r["errors"] for r in rows], [r["words"] for r in rows]) if rows else None
    return EvalResult(name, len(ids), skipped, words.rate, chars.rate, words, chars, audio_seconds,
                      decode_seconds, interval), rows


def write_per_utt(path: Path, rows: list[dict]) -> None:
    """Per-utterance results as TSV (id, errors, words, wer, ref, hyp): what `asr compare` reads."""
    write_text_atomic(path, "id\terrors\twords\twer\tref\thyp\n" + "".join(
        f"{r['id']}\t{r['errors']}\t{r['words']}\t{r['wer']}\t{r['ref']}\t{r['hyp']}\n" for r in rows))


@dataclass
class MethodResult:
    method: str
    result: EvalResult
    rows: list[dict]  # per utterance: id, errors, words, wer, ref, hyp
    per_utt_path: Path


def evaluate(model: Path, data: Path, output_dir: Path | None = None, subsets: list[str] | None = None,
             decode: list[str] | None = None, lm: Path | None = None, runtime: str = "torch",
             ngram: Path | None = None, ngram_weight: float | None = None,
             lexicon: Path | None = None) -> dict[str, list[MethodResult]]:
    """Score every decoding method on every subset (the acoustic model runs once per subset); per-utterance
    results, summaries and the ranking of methods are written into ``output_dir`` (default MODEL/eval)."""
    recognizer = load_model(model, lm=lm, runtime=runtime, ngram=ngram, ngram_weight=ngram_weight, lexicon=lexicon)
    methods = decode or [recognizer.settings.method]
    decoders = {m: make_decoder(recognizer.settings.with_method(m), recognizer.tokenizer, recognizer.lm)
                for m in methods}
    output_dir = Path(output_dir) if output_dir else Path(model) / "eval"
    output_dir.mkdir(parents=True, exist_ok=True)
    out: dict[str, list[MethodResult]] = {}
    for name, cuts in load_eval_cuts(data, subsets).items():
        waves, refs, ids, skipped = load_cut_waves(cuts, progress=True).as_numpy()
        audio = sum(len(w) for w in waves) / SAMPLE_RATE
        start = time.perf_counter()
        emissions = recognizer.emissions(waves, progress=True)
        acoustic_seconds = time.perf_counter() - start
        results = []
        for method, decoder in decoders.items():
            start = time.perf_counter()
            hyps = [d.text for d in decoder(emissions)]
            result, rows = score(name, refs, hyps, ids, skipped, audio,
                                 acoustic_seconds + time.perf_counter() - start)
            stem = f"{name}.{method}"
            write_per_utt(output_dir / f"{stem}.per_utt.tsv", rows)
            summary = {**asdict(result), "rtf": result.rtf, "decode": recognizer.settings.with_method(method).to_dict()}
            write_text_atomic(output_dir / f"{stem}.summary.json", json.dumps(summary, indent=2) + "\n")
            results.append(MethodResult(method, result, rows, output_dir / f"{stem}.per_utt.tsv"))
        write_text_atomic(output_dir / f"{name}.summary.tsv", ranking(results))
        out[name] = results
    return out


def ranking(results: list[MethodResult]) -> str:
    """Decoding methods ranked by WER (then CER), as a TSV table."""
    ranked = sorted(results, key=lambda m: (m.result.wer, m.result.cer))
    return "rank\tdecode\twer\tcer\trtf\n" + "".join(
        f"{i + 1}\t{m.method}\t{m.result.wer:.4f}\t{m.result.cer:.4f}\t{m.result.rtf:.4f}\n"
        for i, m in enumerate(ranked))


def report(evaluations: dict[str, list[MethodResult]], worst: int = 5) -> str:
    """What `asr evaluate` prints: per subset and method, WER / CER with their error counts, the worst
    utterances, where the per-utterance file is, and the ranking when several methods ran."""
    lines = []
    for name, results in evaluations.items():
        for m in results:
            r, w, c = m.result, m.result.words, m.result.chars
            lines.append(f"{name} [{m.method}]: WER {100 * r.wer:.2f}% ({w.errors}/{w.reference_length}: "
                         f"{w.substitutions} sub, {w.deletions} del, {w.insertions} ins)  CER {100 * r.cer:.2f}% "
                         f"({c.errors}/{c.reference_length})  utterances {r.utterances} (skipped {r.skipped})  "
                         f"RTF {r.rtf:.4f}")
            if r.wer_interval:
                low, high = r.wer_interval
                lines.append(f"  WER 95% interval {100 * low:.2f}-{100 * high:.2f}% (bootstrap over utterances; "
                             f"`asr compare` for two systems)")
            for row in sorted(m.rows, key=lambda row: (-row["errors"], row["id"]))[:worst]:
                lines.append(f"  {row['id']} ({row['errors']} errors)\n    REF: {row['ref']}\n    HYP: {row['hyp']}")
            lines.append(f"  per-utterance results: {m.per_utt_path}")
        if len(results) > 1:
            lines.append(f"{name}: decoding methods ranked by WER\n" + ranking(results).expandtabs(10))
    return "\n".join(lines)
