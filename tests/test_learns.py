"""It learns: a plain AcousticModel (no Lightning) overfits a few real utterances to a low character error rate.
The overfit model then checks the word output of a model that recognizes its input."""

import pytest
import torch
import torch.nn.functional as F
from lhotse import CutSet

from asr.corpora.librispeech import cuts_path
from asr.cuts import load_cut_audio, load_cuts
from asr.data import AsrDataset, compute_cmvn
from asr.decoding.greedy import greedy_decode
from asr.features import FeatureConfig
from asr.models.acoustic import AcousticConfig, AcousticModel
from asr.package import ModelPackage
from asr.scoring import char_errors
from asr.text import Tokenizer
from asr.transcribe import Recognizer


@pytest.fixture(scope="module")
def overfit(tiny_manifests):
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

    initial_cer = cer()
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
    model.eval()
    return model, tok, cuts, batch, initial_cer, losses, cer()


def test_overfits_a_few_utterances(overfit):
    *_, initial_cer, losses, final_cer = overfit
    assert initial_cer > 0.9
    assert losses[-1] < losses[0] / 5
    assert final_cer < 0.10


def test_words_with_times_and_confidence_from_a_recognizing_model(overfit):
    """Words come out in order, inside the audio, one per word of the text, with confidence in (0, 1]."""
    model, tok, cuts, batch, *_ = overfit
    recognizer = Recognizer(ModelPackage(model, tok, FeatureConfig(), {"method": "greedy"}, {}))
    results = recognizer.transcribe([load_cut_audio(c).numpy() for c in cuts], sample_rate=16000)
    assert char_errors(batch.texts, [r.text for r in results]).rate < 0.10
    for result in results:
        words = result.words
        assert [w.text for w in words] == result.text.split()
        assert 0 <= words[0].start and words[-1].end <= result.duration + 0.04
        assert all(w.start < w.end for w in words)
        assert all(a.end <= b.start + 1e-6 for a, b in zip(words, words[1:]))
        assert all(0 < w.confidence <= 1 for w in words)

