"""How far does a CTC head over Whisper tiny.en's frozen encoder states get, trained on the project's own data?

A probe, not a model that ships: it tells whether the error on real speech comes from the data (a handful of
synthetic voices) or from the acoustic model's representation. Whisper's encoder was trained on 680k hours of real
speech; a BiLSTM-CTC head trained over its states on exactly the cuts the acoustic model learns from, and scored on
dev-real, bounds what distillation from those states (asr/distill.py) could give the student: if the head is far
better than the student on real speech, the representation is the limit and distillation the lever; if it is not,
the training data is.

    asr make-teacher-states data/en/teacher CUTS_TRAIN.jsonl.gz          # the training cuts' states (the recipe's)
    asr make-teacher-states data/en/teacher_eval CUTS_DEV_REAL.jsonl.gz CUTS_TEST.jsonl.gz
    python tools/probe_teacher.py --train data/en/teacher CUTS_TRAIN.jsonl.gz \\
        --eval dev-real=data/en/teacher_eval:CUTS_DEV_REAL.jsonl.gz --eval test=data/en/teacher_eval:CUTS_TEST.jsonl.gz

The head is the project's AcousticModel (asr/models/acoustic.py) with the 384 state dimensions as its input bands,
no subsampling (a state per 20 ms), trained in plain PyTorch with Adam on the states as stored (clean audio: no
augmentation reaches them). Prints each epoch's greedy WER / CER per evaluation set; --out writes the last epoch's
hypotheses (id, reference, hypothesis; TSV) per set.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from asr.cuts import cut_text, load_cuts  # noqa: E402
from asr.decoding.greedy import greedy_decode  # noqa: E402
from asr.distill import TeacherStates  # noqa: E402
from asr.models.acoustic import AcousticConfig, AcousticModel  # noqa: E402
from asr.scoring import char_errors, word_errors  # noqa: E402
from asr.text import Tokenizer  # noqa: E402


def labelled_states(states: TeacherStates, manifests: list[str], tokenizer: Tokenizer) -> list[tuple]:
    """(cut id, states (frames, 384), token ids, text) for every cut with states and a transcript CTC can fit."""
    items, missing, too_long = [], 0, 0
    for path in manifests:
        for cut in load_cuts(path):
            text = cut_text(cut)
            s = states.get(cut.id)
            if s is None:
                missing += 1
                continue
            ids = tokenizer.encode(text)
            if len(ids) > len(s):
                too_long += 1
                continue
            items.append((cut.id, torch.from_numpy(s), torch.tensor(ids), text))
    print(f"{', '.join(manifests)}: {len(items)} cuts ({missing} without states, {too_long} with more characters "
          "than states: skipped)")
    return items


def batches(items: list[tuple], frames_per_batch: int, shuffle: bool):
    """Lists of items of similar length, at most ``frames_per_batch`` padded frames each."""
    order = sorted(range(len(items)), key=lambda i: len(items[i][1]))
    groups, group = [], []
    for i in order:
        if group and len(items[i][1]) * (len(group) + 1) > frames_per_batch:
            groups.append(group)
            group = []
        group.append(items[i])
    if group:
        groups.append(group)
    if shuffle:
        random.shuffle(groups)
    return groups


def collate(group: list[tuple]) -> tuple[torch.Tensor, ...]:
    lengths = torch.tensor([len(s) for _, s, _, _ in group])
    x = torch.zeros(len(group), int(lengths.max()), group[0][1].shape[1])  # (batch, time, 384)
    for b, (_, s, _, _) in enumerate(group):
        x[b, :len(s)] = s
    targets = torch.cat([t for _, _, t, _ in group])
    target_lengths = torch.tensor([len(t) for _, _, t, _ in group])
    return x, lengths, targets, target_lengths


@torch.no_grad()
def evaluate(model: AcousticModel, items: list[tuple], tokenizer: Tokenizer) -> tuple[float, float, list]:
    model.eval()
    rows = []
    for group in batches(items, 20000, shuffle=False):
        x, lengths, _, _ = collate(group)
        out = model(x, lengths)
        rows += [(i, text, hyp) for (i, _, _, text), hyp in zip(group, greedy_decode(out.log_probs, out.lengths,
                                                                                        tokenizer), strict=True)]
    model.train()
    refs, hyps = [r for _, r, _ in rows], [h for _, _, h in rows]
    return 100 * word_errors(refs, hyps).rate, 100 * char_errors(refs, hyps).rate, rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", nargs="+", required=True, metavar="DIR_THEN_CUTS",
                        help="a teacher-states directory, then the manifests of its cuts to train on")
    parser.add_argument("--eval", action="append", default=[], metavar="NAME=DIR:CUTS",
                        help="an evaluation set: its states directory and manifest (repeatable)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--dropout", type=float, default=0.2)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--frames-per-batch", type=int, default=12000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-fraction", type=float, default=1.0,
                        help="train on this fraction of the training cuts (a random subset): the data's learning curve")
    parser.add_argument("--out", type=Path, help="write the last epoch's hypotheses here, one TSV per set")
    args = parser.parse_args(argv)
    random.seed(args.seed)
    torch.manual_seed(args.seed)
    tokenizer = Tokenizer()
    train_states = TeacherStates(args.train[0])
    train = labelled_states(train_states, args.train[1:], tokenizer)
    if args.train_fraction < 1.0:
        train = random.Random(args.seed).sample(train, max(1, round(len(train) * args.train_fraction)))
        print(f"training on {len(train)} cuts ({args.train_fraction:g} of them)")
    evals = {}
    for spec in args.eval:
        name, _, rest = spec.partition("=")
        directory, _, manifest = rest.partition(":")
        if not (name and directory and manifest):
            parser.error(f"--eval {spec!r}: expected NAME=DIR:CUTS")
        evals[name] = labelled_states(TeacherStates(directory), [manifest], tokenizer)
    model = AcousticModel(AcousticConfig(vocab_size=len(tokenizer), n_mels=train_states.dim, subsampling_factor=1,
                                         num_layers=args.layers, hidden_size=args.hidden, dropout=args.dropout))
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=args.lr, epochs=args.epochs, steps_per_epoch=len(batches(train, args.frames_per_batch,
                                                                                    False)), pct_start=0.15)
    ctc = torch.nn.CTCLoss(blank=tokenizer.blank_id, zero_infinity=True)
    for epoch in range(1, args.epochs + 1):
        total, count = 0.0, 0
        for group in tqdm(batches(train, args.frames_per_batch, shuffle=True), desc=f"epoch {epoch}", unit="batch"):
            x, lengths, targets, target_lengths = collate(group)
            out = model(x, lengths)
            loss = ctc(out.log_probs.transpose(0, 1), targets, out.lengths, target_lengths)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()
            scheduler.step()
            total, count = total + loss.item(), count + 1
        scores = {name: evaluate(model, items, tokenizer) for name, items in evals.items()}
        print(f"epoch {epoch}: loss {total / max(count, 1):.3f}; " + "; ".join(
            f"{name} WER {w:.2f} CER {c:.2f}" for name, (w, c, _) in scores.items()), flush=True)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        for name, (_, _, rows) in scores.items():
            (args.out / f"{name}.tsv").write_text("".join(f"{i}\t{r}\t{h}\n" for i, r, h in rows))


if __name__ == "__main__":
    main()
