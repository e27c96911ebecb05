"""The `asr` console command: thin subcommands that call the library and print (their arguments: asr/cli_args.py)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from asr.cli_args import COMMANDS, build_parser

__all__ = ["COMMANDS", "build_parser", "main"]


def cmd_make_corpus(args: argparse.Namespace) -> int:
    from asr.corpora.plans import PLANS
    from asr.corpora.synthetic import make_corpus

    if args.extends and PLANS[args.plan].extends != args.extends:
        raise ValueError(f"--plan {args.plan} does not extend {args.extends} (it extends "
                         f"{PLANS[args.plan].extends or 'no plan'}): its training speakers could repeat "
                         f"{args.extends}'s, and its dev and test subsets would not be {args.extends}'s")
    corpus = make_corpus(args.root, args.plan, args.seed, args.tarballs, args.num_jobs)
    print(f"corpus written: {corpus}")
    return 0


def cmd_make_noise(args: argparse.Namespace) -> int:
    from asr.corpora.noise import make_noise
    from asr.cuts import load_cuts

    speech = load_cuts(args.babble_from) if args.babble_from else None
    manifest = make_noise(args.out_dir, args.count, args.seconds, speech, args.seed, real=args.real)
    print(f"noise cuts: {manifest}, {len(load_cuts(manifest))} recordings (use: data.noise.cuts={manifest})")
    return 0


def cmd_make_teacher_states(args: argparse.Namespace) -> int:
    from asr.teacher import make_teacher_states

    print(make_teacher_states(args.out, args.cuts, threads=args.threads, pool=args.pool, int8=args.int8))
    return 0


def cmd_make_lm_text(args: argparse.Namespace) -> int:
    from asr.corpora.wordnet_text import wordnet_text, write_lm_text

    text = wordnet_text(args.wordnet, glosses=not args.no_glosses, exclude=args.exclude)
    write_lm_text(args.out, text)
    skipped = ", ".join(f"{n} {reason}" for reason, n in text.skipped.most_common())
    print(f"{args.out}: {len(text.sentences)} sentences ({sum(map(len, text.sentences))} characters); "
          f"left out: {skipped or 'none'}")
    return 0


def cmd_make_real_dev(args: argparse.Namespace) -> int:
    from asr.corpora.real_dev import make_real_dev

    subset = make_real_dev(args.out_dir, args.sdist_dir)
    print(f"{sum(1 for _ in subset.rglob('*.flac'))} utterances: {subset}")
    return 0


def cmd_degrade(args: argparse.Namespace) -> int:
    from asr.corpora.degraded import degrade_set

    result = degrade_set(args.src, args.out, room=args.room, snr_db=args.snr, seed=args.seed, eq_db=args.eq)
    skipped = sum(result.skipped.values())
    reasons = f" {dict(result.skipped)}" if skipped else ""
    print(f"{args.out}: {result.written} utterances written, {skipped} skipped{reasons}")
    return 0


def cmd_make_lexicon(args: argparse.Namespace) -> int:
    from asr.word_list import cli_make_lexicon

    return cli_make_lexicon(args)


def cmd_make_ngram(args: argparse.Namespace) -> int:
    from asr.ngram import cli_make_ngram

    return cli_make_ngram(args)


def cmd_download(args: argparse.Namespace) -> int:
    from asr.corpora.download import download_librispeech, expand_parts

    if args.list:  # what the parts expand to, one per line (recipes ask instead of keeping their own table)
        print("\n".join(expand_parts(args.parts)))
        return 0
    corpus = download_librispeech(args.target_dir, args.parts, args.base_url, lm_text=args.lm_text,
                                  lm_arpa=args.lm_arpa, keep_archives=not args.delete_archives,
                                  verify=not args.no_verify)
    print(f"downloaded{'' if args.no_verify else ' and verified'}: {corpus}")
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    from asr.corpora.librispeech import is_librispeech_layout, prepare_librispeech
    from asr.corpora.manifests import summarize

    # your own recordings (a list, or audio files with transcripts beside them), else a LibriSpeech layout
    if args.corpus_dir.exists() and not is_librispeech_layout(args.corpus_dir):
        from asr.corpora.audio_list import manifest_names, prepare_list

        if args.subsets:
            raise ValueError(f"{args.corpus_dir}: --subsets names parts of a LibriSpeech-layout directory, not of "
                             "a list or a directory of your own recordings")
        report = prepare_list(args.corpus_dir, args.output_dir, args.name, args.audio_dir, args.num_jobs)
        print(summarize([report]) + f"\ncuts: {args.output_dir / manifest_names(report.subset)['cuts']}")
        return 0
    if args.name or args.audio_dir:
        raise ValueError(f"{args.corpus_dir}: --name and --audio-dir are for your own recordings, not a "
                         "LibriSpeech-layout directory")
    reports = prepare_librispeech(args.corpus_dir, args.output_dir, args.subsets or None, args.num_jobs)
    print(summarize(reports))
    return 0


def cmd_compute_cmvn(args: argparse.Namespace) -> int:
    from asr.cuts import load_cuts, sample_hours
    from asr.data import compute_cmvn

    cuts = load_cuts(args.cuts)
    stats = compute_cmvn(sample_hours(cuts, args.max_hours) if args.max_hours else cuts)
    stats.save(args.output)
    print(f"normalization statistics from {stats.frames} frames: {args.output}")
    return 0


def cmd_train(argv: list[str]) -> int:
    from asr.training.launch import train

    return train(argv)


def cmd_lm_train(argv: list[str]) -> int:
    from asr.training.launch import train_lm

    return train_lm(argv)


def cmd_lm(args: argparse.Namespace) -> int:
    from asr.lm_data import perplexity, read_sentences
    from asr.lm_package import load_lm_package

    if args.lm.is_file():  # an n-gram (ARPA or KenLM binary): per word or per character, as it was counted
        from asr.ngram import perplexity as ngram_perplexity

        ppl = ngram_perplexity(args.lm, [args.text])
        print(f"{args.text}: perplexity {ppl.perplexity:.3f} per {ppl.unit} ({ppl.sentences} sentences, "
              f"{ppl.symbols} {ppl.unit}s incl. sentence ends, {ppl.oov} out of vocabulary)")
        return 0
    package = load_lm_package(args.lm)
    sentences, skipped = read_sentences(args.text, package.tokenizer)
    ppl, bpc, tokens = perplexity(package.model, sentences)
    skip = f", {sum(skipped.values())} lines skipped" if skipped else ""
    print(f"{args.text}: perplexity {ppl:.3f}, {bpc:.3f} bits per character ({len(sentences)} sentences, "
          f"{tokens} tokens{skip})")
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    from asr.tune import cli_tune

    return cli_tune(args)


def cmd_export(args: argparse.Namespace) -> int:
    from asr.package import load_package, package_from_checkpoint, save_package

    sources, out = args.source, args.output
    if args.quantize and args.format != "onnx":
        raise ValueError("--quantize int8 applies to --format onnx (onnxruntime's int8 kernels)")
    if len(sources) == 1 and sources[0].is_dir():  # a model package: re-export it (in place when out == source)
        package = load_package(sources[0])
        if out.resolve() != sources[0].resolve():
            from asr.decoding.bundle import carry_files

            save_package(package, out)
            carry_files(sources[0], out, package.decode)  # its lexicon, n-gram and LM, which its settings name
    else:
        package = package_from_checkpoint(sources)
        save_package(package, out)
        _export_decoding(sources[0], out)
    print(f"model package: {out}")
    if args.format != "package":
        from asr.export import PARITY_TOLERANCE, export

        for path, diff in export(package, out, args.format, args.quantize):
            check = "" if path.name.endswith(".int8.onnx") else f" (parity <= {PARITY_TOLERANCE:g}: ok)"
            print(f"{args.format}: {path}: max |log-prob - PyTorch's| = {diff:.2e}{check}")
    return 0


def _export_decoding(checkpoint: Path, out: Path) -> None:
    """The decoding the run was trained with (`decode` config group, kept in the checkpoint's hyper-parameters),
    with its files, as `asr train` exports it; greedy, with a warning, when a file it names is no longer there."""
    from asr.decoding.bundle import write_decoding
    from asr.package import read_checkpoint

    decode = read_checkpoint(checkpoint)["hyper_parameters"].get("decode")
    try:
        write_decoding(out, decode)
    except (FileNotFoundError, ValueError) as e:
        logging.getLogger("asr").warning("%s: decoding greedily: the run's decode config does not apply here (%s)",
                                         out, e)


def cmd_transcribe(args: argparse.Namespace) -> int:
    from asr.package import default_model_dir, is_package_dir
    from asr.transcribe_files import run_transcribe

    fmt = "json" if args.json else args.format
    paths = list(args.paths)
    model = paths.pop(0) if is_package_dir(paths[0]) else default_model_dir()  # no model given: the default one
    if not paths:
        raise ValueError(f"{model}: a model package, and no audio input after it")
    if not is_package_dir(model):
        raise FileNotFoundError(f"{args.paths[0]}: not a model package, and the default model is not installed here "
                                f"({model}); give a model package first")
    if args.stream:
        from asr.transcribe_stream import run_stream

        if len(paths) != 1 or fmt not in ("text", "json"):
            raise ValueError("--stream takes one input (a file, or - for raw 16-bit mono PCM on stdin) and "
                             "--format text or json")
        return run_stream(model, paths[0], fmt, args.chunk_ms, args.realtime, args.sample_rate)
    return run_transcribe(model, paths, fmt=fmt, output_dir=args.output_dir,
                          batch_seconds=args.batch_seconds, lm=args.lm, decode=args.decode, runtime=args.runtime,
                          ngram=args.ngram, ngram_weight=args.ngram_weight, lexicon=args.lexicon)


def cmd_plot(args: argparse.Namespace) -> int:
    from asr import plots

    if args.what == "curves":
        if len(args.paths) != 1:
            raise ValueError("usage: asr plot curves EXP_DIR [-o OUT.png]")
        out = plots.plot_curves(args.paths[0], args.output or Path(args.paths[0]) / "curves.png")
    else:
        if len(args.paths) != 2:
            raise ValueError("usage: asr plot alignment MODEL AUDIO [-o OUT.png]")
        out = plots.plot_alignment(args.paths[0], args.paths[1], args.output or Path(args.paths[1]).with_suffix(
            ".alignment.png").name)
    print(f"figure: {out}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from asr.model_card import model_card
    from asr.package import default_model_dir, load_package

    model = Path(args.model or default_model_dir())
    if (model / "lm.safetensors").is_file():  # an LM package
        from asr.lm_package import load_lm_package
        from asr.model_card import lm_card

        print(lm_card(load_lm_package(model), model.name))
        return 0
    print(model_card(load_package(model), model.name))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from asr.server import make_server

    server = make_server(args.model, args.host, args.port, args.max_concurrent, args.max_upload_mb, args.lm,
                         args.decode, queue_timeout=args.queue_timeout, runtime=args.runtime,
                         client_timeout=args.client_timeout, max_connections=args.max_connections,
                         max_queue=args.max_queue, model_id=args.model_name, max_streams=args.max_streams)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"asr serve: warning: listening on {args.host}, reachable from other machines", file=sys.stderr)
    print(f"asr serve: http://{args.host}:{args.port} serving model {server.model_id!r} (POST /v1/audio/transcriptions"
          f", GET /v1/models, POST /transcribe, GET /health); {args.max_concurrent} concurrent decodes, uploads up "
          f"to {args.max_upload_mb:g} MB; Ctrl-C stops", file=sys.stderr, flush=True)
    seconds = server.run()
    print(f"asr serve: stopped after {seconds:.0f} s, {server.served} request(s) served", file=sys.stderr)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from asr.significance import compare_rows, read_pair, report_comparison

    rows = read_pair(args.a, args.b)
    for characters in (False, True):  # WER, then CER (the same resampled utterances)
        c = compare_rows(*rows, samples=args.samples, characters=characters)
        print(("\n" if characters else "") + report_comparison(args.a, args.b, c))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from asr.evaluate import evaluate, report

    decode = [m for item in args.decode for m in item.split(",")] if args.decode else None
    results = evaluate(args.model, args.data, args.output_dir, subsets=args.subsets, decode=decode, lm=args.lm,
                       runtime=args.runtime, ngram=args.ngram, ngram_weight=args.ngram_weight, lexicon=args.lexicon)
    print(report(results, args.worst))
    if args.plots:
        from asr.plots import plot_evaluation

        for name, methods in results.items():
            for m in methods:
                png = m.per_utt_path.with_name(f"{name}.{m.method}.png")
                plot_evaluation(m.rows, png, f"{name} [{m.method}]: WER {100 * m.result.wer:.2f}%")
                print(f"figure: {png}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "train":  # Hydra parses its own overrides and sets up logging
        return cmd_train(argv[1:])
    if argv[:2] == ["lm", "train"]:
        return cmd_lm_train(argv[2:])
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # `asr transcribe MODEL --runtime onnx a.wav`: argparse stops a positional list at the first option; paths
    # after options belong to it too (the only command whose positionals are one open list)
    if args.command == "transcribe" and extra and not any(e.startswith("-") and e != "-" for e in extra):
        args.paths += [Path(e) for e in extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not args.command:
        parser.print_help()
        return 2
    handler = globals()[f"cmd_{args.command.replace('-', '_')}"]
    try:
        return handler(args)
    except (FileNotFoundError, ValueError, RuntimeError) as e:  # ChecksumError is a RuntimeError
        print(f"asr {args.command}: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
