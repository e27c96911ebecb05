import logging

import pytest
import torch
from lhotse import CutSet

from asr.corpora.librispeech import cuts_path
from asr.cuts import filter_cuts, load_cuts
from asr.data import AsrDataset, make_loader, padding_waste
from asr.text import Tokenizer


def _cuts(manifests, subset="train-clean-5"):
    return load_cuts(cuts_path(manifests, subset))


def test_filter_counts_every_skip(tiny_manifests, caplog):
    cuts = list(_cuts(tiny_manifests))
    cuts[0].supervisions[0].text = "ROOM 101"  # digits: outside the token set
    cuts[1].supervisions[0].text = "A " * 500  # longer than the model's output frames
    cuts[2].supervisions[0].text = "..."  # nothing left after normalization
    with caplog.at_level(logging.WARNING):
        kept, skipped = filter_cuts(CutSet.from_cuts(cuts), Tokenizer(), subsampling_factor=4, name="train")
    assert len(kept) == len(cuts) - 3
    assert skipped == {"characters outside the token set (01)": 1, "empty transcript": 1,
                       "transcript longer than the model's output frames": 1}
    assert "ROOM 101" in caplog.text and "skipped 3" in caplog.text


def test_batches_have_lengths_and_tokens(tiny_manifests):
    cuts = _cuts(tiny_manifests)
    tok = Tokenizer()
    loader = make_loader(cuts, AsrDataset(tok), max_duration=20, shuffle=True, num_buckets=2)
    seen = []
    for batch in loader:
        b = len(batch.texts)
        assert batch.features.shape[0] == b and batch.features.shape[2] == 80
        assert batch.feature_lengths.max() == batch.features.shape[1]
        assert batch.tokens.shape == (b, int(batch.token_lengths.max()))
        for i, text in enumerate(batch.texts):
            assert tok.decode(batch.tokens[i, : batch.token_lengths[i]].tolist()) == text
        assert sum(c.duration for c in cuts if c.id in batch.cut_ids) <= 20 + 1e-6
        seen += batch.cut_ids
    assert sorted(seen) == sorted(c.id for c in cuts)
    assert 0 <= padding_waste(loader) < 0.5


def test_sampler_deterministic_per_seed_and_epoch(tiny_manifests):
    cuts = _cuts(tiny_manifests)

    def order(epoch, seed=0):
        loader = make_loader(cuts, AsrDataset(Tokenizer()), max_duration=10, shuffle=True, num_buckets=2, seed=seed)
        loader.sampler.set_epoch(epoch)
        return [c.id for _, _, batch in loader.sampler for c in batch]

    assert order(0) == order(0) and order(1) == order(1)  # deterministic
    assert order(0) != order(1)  # reshuffled every epoch
    assert order(0) != order(0, seed=5)  # and by the seed
    assert sorted(order(0)) == sorted(order(1)) == sorted(c.id for c in cuts)


def test_loader_state_resumes_mid_epoch(tiny_manifests):
    cuts = _cuts(tiny_manifests)

    def loader():
        return make_loader(cuts, AsrDataset(Tokenizer()), max_duration=10, shuffle=True, num_buckets=2, seed=3)

    full = loader()
    full.sampler.set_epoch(2)
    batches = [b.cut_ids for b in full]
    assert len(batches) >= 3
    first = loader()
    first.sampler.set_epoch(2)
    it = iter(first)
    for _ in range(2):
        next(it)
        first.batch_trained()
    state = first.state_dict()
    assert state == {"epoch": 2, "batches_done": 2}
    resumed = loader()
    resumed.load_state_dict(state)
    resumed.sampler.set_epoch(2)  # Lightning sets the epoch again when the epoch starts
    assert [b.cut_ids for b in resumed] == batches[2:]
    assert len(resumed) == len(batches)  # the whole epoch: Lightning counts the skipped batches as done


def test_unloadable_audio_is_skipped_not_fatal(tiny_manifests, tmp_path):
    cuts = list(_cuts(tiny_manifests))[:3]
    bad = tmp_path / "bad.flac"
    bad.write_bytes(b"garbage")
    cuts[1].recording.sources[0].source = str(bad)
    batch = AsrDataset(Tokenizer())[CutSet.from_cuts(cuts)]
    assert batch.skipped == 1 and len(batch.texts) == 2
    assert torch.isfinite(batch.features).all()


def test_noise_mixing_changes_the_audio_not_the_lengths_or_ids(tiny_manifests):
    cuts = CutSet.from_cuts(list(_cuts(tiny_manifests))[:3])
    noise = cuts_path(tiny_manifests, "dev-clean-2")  # other speech as "noise", as MUSAN's babble would be
    clean = AsrDataset(Tokenizer())[cuts]
    mixed = AsrDataset(Tokenizer(), noise={"cuts": str(noise), "snr": [0, 0], "p": 1.0})[cuts]
    assert mixed.cut_ids == clean.cut_ids and mixed.texts == clean.texts
    torch.testing.assert_close(mixed.feature_lengths, clean.feature_lengths)
    n = int(clean.feature_lengths.min())
    assert (mixed.features[:, :n] - clean.features[:, :n]).abs().mean() > 0.1


def test_combined_manifests_keep_every_cut_and_refuse_shared_ids(tiny_manifests, tmp_path):
    train, dev = cuts_path(tiny_manifests, "train-clean-5"), cuts_path(tiny_manifests, "dev-clean-2")
    both = load_cuts([train, dev])
    assert sorted(both.ids) == sorted(list(load_cuts(train).ids) + list(load_cuts(dev).ids))
    copy = tmp_path / "copy.jsonl.gz"  # a second corpus whose speaker ids collide with the first's
    load_cuts(dev).to_file(copy)
    with pytest.raises(ValueError, match=r"copy.jsonl.gz: cut id .* is also in .*dev-clean-2"):
        load_cuts([dev, copy])


def test_a_manifest_can_be_weighed_up_by_repeating_it(tiny_manifests):
    """data.train_cuts=[BIG, {cuts: SMALL, repeat: N}]: SMALL's cuts N times each, under ids of their own."""
    from omegaconf import OmegaConf

    train, dev = cuts_path(tiny_manifests, "train-clean-5"), cuts_path(tiny_manifests, "dev-clean-2")
    small = load_cuts(dev)
    config = OmegaConf.create({"train_cuts": [str(train), {"cuts": str(dev), "repeat": 3}]})  # as Hydra gives it
    both = load_cuts(config.train_cuts)
    assert len(both) == len(load_cuts(train)) + 3 * len(small) and len(set(both.ids)) == len(both)
    for cut in small:
        copies = [c for c in both if c.id.startswith(cut.id + "_repeat")]
        assert len(copies) == 3 and all(c.supervisions[0].text == cut.supervisions[0].text for c in copies)
    assert len(load_cuts({"cuts": str(dev)})) == len(small)  # repeat defaults to 1
    for bad in ({"cuts": str(dev), "repeat": 0}, {"cuts": str(dev), "repeat": 1.5}, {"cuts": str(dev), "times": 2},
                {"repeat": 2}):
        with pytest.raises(ValueError, match="repeat: N"):
            load_cuts([str(train), bad])


def test_a_share_of_a_manifest_is_the_same_random_share_every_time(tiny_manifests):
    """{cuts: BIG, share: F}: about F of BIG's cuts, drawn at random but the same on every load (a resumed run
    trains on what it started with); with repeat too; a share outside (0, 1] is an error naming it."""
    from omegaconf import OmegaConf

    train = cuts_path(tiny_manifests, "train-clean-5")
    every = load_cuts(train)
    config = OmegaConf.create({"train_cuts": [{"cuts": str(train), "share": 0.5}]})
    half = load_cuts(config.train_cuts)
    assert len(half) == round(len(every) / 2) and set(half.ids) < set(every.ids)
    assert list(load_cuts({"cuts": str(train), "share": 0.5}).ids) == list(half.ids)  # the same share again
    assert sorted(half.ids) != sorted(every.ids)[:len(half)] or len(every) < 4  # not just the first ones
    assert len(load_cuts({"cuts": str(train), "share": 1e-9})) == 1  # never empty
    twice = load_cuts({"cuts": str(train), "share": 0.5, "repeat": 2})
    assert len(twice) == 2 * len(half) and {c.id.rsplit("_repeat", 1)[0] for c in twice} == set(half.ids)
    for bad in (0, 1.5, -0.2, "half", True):
        with pytest.raises(ValueError, match="0 < share <= 1"):
            load_cuts({"cuts": str(train), "share": bad})
