"""It learns: a plain AcousticModel (no Lightning) overfits a few real utterances to a low character error rate."""

import torch
import torch.nn.functional as F
from lhotse import CutSet

from asr.corpora.librispeech import cuts_path
from asr.data import AsrDataset, compute_cmvn, load_cuts
from asr.decoding.greedy import greedy_decode
from asr.models.acoustic import AcousticConfig, AcousticModel
from asr.scoring import char_errors
from asr.text import Tokenizer


def test_overfits_a_few_utterances(tiny_manifests):
    torch.manual_seed(0)
    cuts = CutSet.from_cuts(list(load_cuts(cuts_path(tiny_manifests, "train-clean-5")))[:3])
    tok = Tokenizer()
    batch = AsrDataset(tok)[cuts]
    model = AcousticModel(AcousticConfig(num_layers=2, hidden_size=96, subsampling_factor=2, dropout=0.0))
    model.normalizer.set_stats(compute_cmvn(cuts))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)

    def cer() -> float:
        model.eval()
        with torch.no_grad():
            out = model(batch.features, batch.feature_lengths)
        model.train()
        return char_errors(batch.texts, greedy_decode(out.log_probs, out.lengths, tok)).rate

    assert cer() > 0.9
    losses = []
    for step in range(300):
        out = model(batch.features, batch.feature_lengths)
        loss = F.ctc_loss(out.log_probs.transpose(0, 1), batch.tokens, out.lengths, batch.token_lengths,
                          reduction="mean", zero_infinity=True)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        losses.append(loss.item())
        if step % 50 == 49 and cer() < 0.05:
            break
    assert losses[-1] < losses[0] / 5
    assert cer() < 0.10
