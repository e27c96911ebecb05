import pytest
import torch
import torch.nn.functional as F

from asr.models.acoustic import AcousticConfig, AcousticModel

CONFIGS = [
    AcousticConfig(num_layers=2, hidden_size=32, subsampling="stack", subsampling_factor=3),
    AcousticConfig(num_layers=2, hidden_size=32, subsampling="conv", subsampling_factor=4, rnn="gru"),
    AcousticConfig(num_layers=2, hidden_size=32, projection_size=24, subsampling_factor=2),
    AcousticConfig(num_layers=2, hidden_size=32, subsampling_factor=3, normalization="utterance"),
    AcousticConfig(num_layers=2, hidden_size=32, subsampling_factor=3, bidirectional=False, lookahead=3),
    AcousticConfig(num_layers=2, hidden_size=32, subsampling_factor=3, normalization="utterance",
                   cepstral_smoothing=20),
    AcousticConfig(num_layers=2, hidden_size=32, subsampling_factor=3, normalization="utterance_mv"),
    AcousticConfig(num_layers=2, hidden_size=32, subsampling="conv2d", subsampling_factor=3, conv_channels=4,
                   normalization="utterance"),
]
IDS = ["lstm-stack", "gru-conv", "lstmp", "utterance-norm", "streaming", "cepstral-smoothing", "utterance-mv-norm",
       "conv2d"]


@pytest.mark.parametrize("cfg", CONFIGS, ids=IDS)
def test_padded_batch_equals_one_by_one(cfg):
    torch.manual_seed(0)
    model = AcousticModel(cfg).eval()
    model.normalizer.mean.fill_(0.5)
    model.normalizer.std.fill_(2.0)
    lengths = [97, 50, 13, 64]
    items = [torch.randn(n, 80) for n in lengths]
    batch = torch.nn.utils.rnn.pad_sequence(items, batch_first=True, padding_value=3.0)  # garbage padding
    out = model(batch, torch.tensor(lengths))
    assert out.log_probs.shape == (4, out.lengths.max(), cfg.vocab_size)
    for i, x in enumerate(items):
        single = model(x[None], torch.tensor([len(x)]))
        n = int(single.lengths[0])
        assert n == int(out.lengths[i]) == -(-len(x) // cfg.subsampling_factor)
        torch.testing.assert_close(out.log_probs[i, :n], single.log_probs[0], atol=1e-4, rtol=0)


@pytest.mark.parametrize("seed", range(5))
def test_ctc_loss_finite_and_gradients_flow(seed):
    torch.manual_seed(seed)
    cfg = AcousticConfig(num_layers=1, hidden_size=16, subsampling_factor=int(torch.randint(1, 5, ())))
    model = AcousticModel(cfg)
    b = int(torch.randint(1, 5, ()))
    lengths = torch.randint(20, 120, (b,))
    feats = torch.randn(b, int(lengths.max()), 80)
    out = model(feats, lengths)
    targets = torch.randint(1, cfg.vocab_size, (b, 40))
    target_lengths = torch.minimum(out.lengths // 2, torch.tensor(40)).clamp_min(1)
    loss = F.ctc_loss(out.log_probs.transpose(0, 1), targets, out.lengths, target_lengths, zero_infinity=True)
    assert torch.isfinite(loss)
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad and p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_log_probs_normalized():
    model = AcousticModel(AcousticConfig(num_layers=1, hidden_size=16)).eval()
    out = model(torch.randn(2, 30, 80), torch.tensor([30, 20]))
    torch.testing.assert_close(out.log_probs.exp().sum(-1), torch.ones(2, 10))


def test_bad_config_is_a_clear_error():
    with pytest.raises(ValueError, match="rnn"):
        AcousticModel(AcousticConfig(rnn="transformer"))
    with pytest.raises(ValueError, match="subsampling"):
        AcousticModel(AcousticConfig(subsampling="pool"))
    for streaming in (dict(bidirectional=False, lookahead=2), dict(chunk_size=8, right_context=4)):
        with pytest.raises(ValueError, match="conv2d subsampling .* not streaming ones"):
            AcousticModel(AcousticConfig(subsampling="conv2d", **streaming))


def test_conv2d_front_end_pools_frequency_and_keeps_time():
    """conv2d: each output frame comes from its own ``factor`` input frames and one more on each side (two 3x3
    convolutions see a frame further each, stacking adds the window); the mel axis is pooled to a quarter."""
    torch.manual_seed(0)
    model = AcousticModel(AcousticConfig(num_layers=1, hidden_size=8, subsampling="conv2d", subsampling_factor=3,
                                         conv_channels=4)).eval()
    sub = model.subsampling
    x = torch.randn(1, 30, 80)
    assert sub.time_frequency(x, torch.tensor([30])).shape == (1, 30, 4 * 20)
    base, _ = sub(x, torch.tensor([30]))  # (1, 10, 8)
    changed = x.clone()
    changed[0, 15] += 1.0  # input frame 15: output frame 5 (frames 15-17), and frame 4 (12-14) through the context
    out, _ = sub(changed, torch.tensor([30]))
    moved = (out - base).abs().amax(-1)[0] > 1e-6
    assert moved.tolist() == [i in (4, 5) for i in range(10)]


@pytest.mark.parametrize("cfg", CONFIGS, ids=IDS)
def test_padded_cpu_path_equals_packed_gpu_path(cfg):
    """The CPU runs the recurrent stack on padded tensors, the GPU on packed ones: same weights, same outputs."""
    torch.manual_seed(0)
    model = AcousticModel(cfg).eval()
    lengths = torch.tensor([41, 17, 30])
    x = torch.randn(3, 41, cfg.hidden_size)
    x[1, 17:] = 5.0  # garbage padding
    x[2, 30:] = -5.0
    padded, packed = model.rnn_padded(x, lengths), model.rnn_packed(x, lengths)
    for i, n in enumerate(lengths.tolist()):
        torch.testing.assert_close(padded[i, :n], packed[i, :n], atol=1e-5, rtol=0)
    # and gradients reach every recurrent weight through the padded path
    model.train()
    model.rnn_padded(x, lengths).sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.rnns.parameters())


def test_utterance_normalization_cancels_gain_and_channel():
    """A fixed gain or microphone colour is a constant per-band offset in log-mel: utterance-mean normalization
    removes it exactly, global normalization does not; a per-band scale of the log-mel (a compressed dynamic range)
    is removed only by utterance mean + variance normalization."""
    torch.manual_seed(0)
    feats = torch.randn(1, 60, 80)
    offset = torch.linspace(-3, 2, 80)  # e.g. 20 dB quieter at the top of the band
    scale = torch.linspace(0.5, 1.5, 80)
    lengths = torch.tensor([60])
    for mode, offset_invariant, scale_invariant in (("utterance", True, False), ("global", False, False),
                                                     ("utterance_mv", True, True)):
        model = AcousticModel(AcousticConfig(num_layers=1, hidden_size=16, normalization=mode)).eval()
        model.normalizer.std.fill_(1.5)
        a, b = model(feats, lengths).log_probs, model(feats + offset, lengths).log_probs
        assert torch.allclose(a, b, atol=1e-5) == offset_invariant, mode
        c = model(feats * scale + offset, lengths).log_probs
        assert torch.allclose(a, c, atol=1e-5) == scale_invariant, mode
    with pytest.raises(ValueError, match="normalization"):
        AcousticModel(AcousticConfig(normalization="per-speaker"))


@pytest.mark.parametrize("cfg, front_end", [
    (AcousticConfig(num_layers=1, hidden_size=8), "stack subsampling x3 (30 ms output frames), global mean and "
     "variance normalization"),
    (AcousticConfig(num_layers=1, hidden_size=8, subsampling="conv2d", conv_channels=4, normalization="utterance_mv"),
     "conv2d subsampling x3 (30 ms output frames; two 3x3 convolutions of 4 channels, frequency pooled to a "
     "quarter), each utterance's own mean and variance normalized"),
])
def test_the_model_card_describes_the_front_end(cfg, front_end):
    from asr.features import FeatureConfig
    from asr.model_card import model_card
    from asr.package import ModelPackage
    from asr.text import Tokenizer

    card = model_card(ModelPackage(AcousticModel(cfg), Tokenizer(), FeatureConfig()))
    assert f"- front end: {front_end}\n" in card
