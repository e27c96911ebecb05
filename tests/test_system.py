"""The Lightning CTCSystem itself (not a raw loop): it lowers loss and error rates on a few utterances with every
optimizer, the learning rate follows warmup then decay, gradients are clipped. And the LSTM LM fixes a decision
the acoustic model gets wrong."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from lhotse import CutSet

from asr.corpora.librispeech import cuts_path
from asr.cuts import load_cuts
from asr.data import AsrDataset, compute_cmvn
from asr.decoding.greedy import greedy_decode
from asr.scoring import char_errors
from asr.text import Tokenizer
from asr.training.ctc_system import CTCSystem

OPTIMS = {
    "adam": {"name": "adam", "lr": 3e-3, "grad_clip": 5.0},
    "adamw": {"name": "adamw", "lr": 3e-3, "weight_decay": 0.01, "grad_clip": 1.0},
    "sgd": {"name": "sgd", "lr": 0.1, "momentum": 0.9, "grad_clip": 1.0},
    "rmsprop": {"name": "rmsprop", "lr": 1e-3, "grad_clip": 1.0},
}
WARMUP = 10


class Recorder(L.Callback):
    """Learning rate per step, and the gradient norm the optimizer really steps with (after clipping)."""

    def __init__(self):
        self.lrs, self.grad_norms, self.losses = [], [], []

    def on_train_start(self, trainer, pl_module):
        def after_step(optimizer, *_):  # the gradients the step used (Lightning clips inside the step's closure)
            grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
            self.grad_norms.append(float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g)
                                                                               for g in grads]))))
        trainer.optimizers[0].register_step_post_hook(after_step)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.lrs.append(trainer.optimizers[0].param_groups[0]["lr"])
        self.losses.append(float(outputs["loss"]))


@pytest.fixture(scope="module")
def few_utterances(tiny_manifests):
    cuts = CutSet.from_cuts(list(load_cuts(cuts_path(tiny_manifests, "train-clean-5")))[:3])
    return cuts, AsrDataset(Tokenizer())[cuts], compute_cmvn(cuts)


@pytest.mark.parametrize("name", [pytest.param("adam", marks=pytest.mark.slow), "adamw", "sgd", "rmsprop"])
def test_ctc_system_learns_with_every_optimizer(few_utterances, tmp_path, name):
    torch.manual_seed(0)
    cuts, batch, cmvn = few_utterances
    steps = 150 if name == "adam" else 40  # adam also has to get past CTC's all-blank phase (error rates fall)
    optim = {**OPTIMS[name], "scheduler": {"warmup_steps": WARMUP, "decay": "cosine", "final_lr_ratio": 0.1}}
    system = CTCSystem(model={"num_layers": 2, "hidden_size": 64, "subsampling_factor": 2, "dropout": 0.0},
                       optim=optim, tokens=Tokenizer().tokens)
    system.model.normalizer.set_stats(cmvn)
    system.total_steps = steps
    recorder = Recorder()
    trainer = L.Trainer(max_steps=steps, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, gradient_clip_val=optim["grad_clip"], callbacks=[recorder],
                        default_root_dir=tmp_path)

    def cer() -> float:
        system.eval()
        with torch.no_grad():
            out = system.model(batch.features, batch.feature_lengths)
        system.train()
        return char_errors(batch.texts, greedy_decode(out.log_probs, out.lengths, system.tokenizer)).rate

    before = cer()
    trainer.fit(system, train_dataloaders=torch.utils.data.DataLoader([batch] * steps, batch_size=None))
    assert len(recorder.losses) == steps
    assert sum(recorder.losses[-5:]) < 0.6 * sum(recorder.losses[:5]), recorder.losses  # it learns
    if name == "adam":
        after = cer()
        assert after < 0.9 * before, (before, after)  # and recognizes more of what it heard
    # warmup: linear up to the peak, then cosine decay to 10% of it (a scheduler past warm-up)
    peak = optim["lr"]
    assert recorder.lrs[0] == pytest.approx(peak * 2 / WARMUP)  # the step after the first update
    assert max(recorder.lrs) == pytest.approx(peak, rel=1e-6)
    assert recorder.lrs[-1] < 0.2 * peak and recorder.lrs[-1] >= 0.1 * peak - 1e-12
    assert all(a >= b for a, b in zip(recorder.lrs[WARMUP:], recorder.lrs[WARMUP + 1:]))
    # gradient clipping: the optimizer never steps with a norm above grad_clip (and it had to clip)
    assert max(recorder.grad_norms) <= optim["grad_clip"] * (1 + 1e-4)
    assert sum(abs(g - optim["grad_clip"]) < 1e-3 for g in recorder.grad_norms) > 0


def test_lstm_lm_fixes_what_the_acoustic_model_gets_wrong():
    """Emissions that prefer 'KAT' by a little; an LM that has only seen 'CAT': greedy and plain beam spell KAT,
    beam + LM (fusion and rescoring) spell CAT: the word error rate goes from 1/3 to 0."""
    from asr.decoding.config import DecodeSettings
    from asr.decoding.settings import make_decoder
    from asr.models.lm import CharLM, LMConfig, make_lm_batch, token_log_probs
    from asr.scoring import word_errors

    torch.manual_seed(0)
    tok = Tokenizer()
    text = "THE CAT SAT"
    lm = CharLM(LMConfig(embed_dim=16, hidden_size=32, num_layers=1, dropout=0.0))
    opt = torch.optim.Adam(lm.parameters(), lr=1e-2)
    inputs, targets, lengths = make_lm_batch([tok.encode(text)] * 4)
    for _ in range(150):
        loss = -token_log_probs(lm, inputs, targets, lengths).sum() / lengths.sum()
        opt.zero_grad(), loss.backward(), opt.step()
    lm.eval()
    # one frame per character with a blank between: K beats C at the first letter of the second word
    frames = []
    for ch in "THE KAT SAT":
        row = torch.full((len(tok),), -8.0)
        row[tok.tokens.index(ch)] = -0.05
        if ch == "K":
            row[tok.tokens.index("C")] = -0.4
        frames += [row, torch.full((len(tok),), -8.0).index_fill(0, torch.tensor([tok.blank_id]), -0.01)]
    emissions = [torch.log_softmax(torch.stack(frames), dim=-1)]
    ref = [text]
    greedy = make_decoder(DecodeSettings(method="greedy"), tok)(emissions)[0].text
    beam = make_decoder(DecodeSettings(method="beam", beam_size=8), tok)(emissions)[0].text
    fused = make_decoder(DecodeSettings(method="beam_lm", fusion=True, beam_size=8, lm_weight=0.5), tok, lm)(
        emissions)[0].text
    rescored = make_decoder(DecodeSettings(method="beam_lm", beam_size=8, nbest=8, lm_weight=0.5), tok, lm)(
        emissions)[0].text
    assert greedy == beam == "THE KAT SAT" and word_errors(ref, [greedy]).rate == pytest.approx(1 / 3)
    assert fused == rescored == text and word_errors(ref, [fused]).rate == 0
