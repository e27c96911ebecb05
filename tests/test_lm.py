"""The LSTM LM, perplexity, beam search, N-best rescoring and shallow fusion; the commands: test_lm_commands.py."""

import subprocess
import sys

import pytest
import torch

from asr.decoding.beam import BeamSearch, Hypothesis
from asr.decoding.config import DecodeSettings
from asr.decoding.greedy import greedy_decode
from asr.decoding.rescore import choose
from asr.lm_data import perplexity, read_sentences, score_sentences
from asr.lm_package import LMPackage, load_lm_package, save_lm_package
from asr.models.lm import CharLM, LMConfig, make_lm_batch, token_log_probs
from asr.text import Tokenizer

ASR = [sys.executable, "-m", "asr.cli"]


def run(*args, check=True):
    proc = subprocess.run([*ASR, *map(str, args)], capture_output=True, text=True, timeout=600)
    if check and proc.returncode:
        raise AssertionError(f"{args} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.mark.parametrize("seed", range(3))
def test_beam_of_one_without_lm_equals_greedy(seed):
    torch.manual_seed(seed)
    tok = Tokenizer()
    log_probs = torch.log_softmax(torch.randn(3, 80, len(tok)) * 4, dim=-1)
    lengths = torch.tensor([80, 51, 7])
    search = BeamSearch(tok, DecodeSettings(method="beam", beam_size=1))
    assert [n[0].text for n in search.decode(log_probs, lengths)] == greedy_decode(log_probs, lengths, tok)


def test_wider_beam_finds_at_least_as_good_a_path():
    torch.manual_seed(0)
    tok = Tokenizer()
    lp = torch.log_softmax(torch.randn(60, len(tok)) * 2, dim=-1)
    narrow = BeamSearch(tok, DecodeSettings(method="beam", beam_size=1)).decode_one(lp)[0]
    wide = BeamSearch(tok, DecodeSettings(method="beam_lm", beam_size=32, nbest=8)).decode_one(lp)
    assert wide[0].score >= narrow.score - 1e-4
    assert len({h.text for h in wide}) == len(wide) > 1


def test_rescoring_with_alpha_zero_keeps_the_acoustic_ranking():
    nbests = [[Hypothesis("A B", -1.0, 0, -1.0), Hypothesis("A C", -2.0, 0, -2.0)],
              [Hypothesis("X", -5.0, 0, -5.0), Hypothesis("Y Z", -4.0, 0, -4.0)]]
    lm = [[-50.0, -1.0], [-1.0, -50.0]]
    def best(lm_scores, weight, bonus):
        return [h.text for h in choose(nbests, lm_scores, weight, bonus)]

    assert best(lm, 0.0, 0.0) == ["A B", "Y Z"]
    assert best(lm, 1.0, 0.0) == ["A C", "X"]
    # the word bonus flips a decision: three short words beat one long one once each word earns 1.0
    split = [[Hypothesis("ABC", -2.0, 0, -2.0), Hypothesis("A B C", -3.0, 0, -3.0)]]
    assert [h.text for h in choose(split, [[0, 0]], 0.0, 0.0)] == ["ABC"]
    assert [h.text for h in choose(split, [[0, 0]], 0.0, 1.0)] == ["A B C"]
    assert [h.text for h in choose(split, [[0, 0]], 0.0, -1.0)] == ["ABC"]


def test_decode_settings_read_the_names_of_earlier_packages():
    old = DecodeSettings.from_dict({"method": "beam_lm", "fusion": True, "alpha": 1.1, "beta": 0.5, "word_bonus": 0.0,
                                    "tuned_on": "dev"})
    assert (old.lm_weight, old.word_bonus, old.fusion) == (1.1, 0.5, True)
    ngram = DecodeSettings.from_dict({"method": "beam", "ngram": "x.arpa", "word_bonus": 2.0, "beta": 0.0})
    assert ngram.word_bonus == 2.0
    assert set(DecodeSettings().to_dict()) >= {"lm_weight", "word_bonus"} and "alpha" not in DecodeSettings().to_dict()


def test_lm_scores_batched_equal_one_by_one_and_normalize():
    torch.manual_seed(0)
    lm = CharLM(LMConfig(embed_dim=16, hidden_size=16, num_layers=2, dropout=0.0)).eval()
    seqs = [[3, 4, 5], [6], [7, 8, 9, 10, 11, 12], [1, 3]]
    batched = score_sentences(lm, seqs, batch_tokens=9)
    for s, b in zip(seqs, batched):
        assert b == pytest.approx(score_sentences(lm, [s])[0], abs=1e-4)
    # the LM is a distribution over next tokens: one step's probabilities sum to 1
    inputs, targets, lengths = make_lm_batch([[3]])
    probs = torch.softmax(lm(inputs, lengths)[0, 0], -1)
    assert float(probs.sum()) == pytest.approx(1.0, abs=1e-5)
    assert token_log_probs(lm, inputs, targets, lengths).shape == (1, 2)


def test_perplexity_falls_as_the_lm_trains(tiny_corpus):
    tok = Tokenizer()
    lines = (tiny_corpus / "lm-text.txt").read_text().splitlines()
    train, _ = read_sentences([_write(tiny_corpus.parent / "lm_train.txt", lines[:400])], tok)
    held, _ = read_sentences(_write(tiny_corpus.parent / "lm_held.txt", lines[400:500]), tok)
    torch.manual_seed(0)
    lm = CharLM(LMConfig(embed_dim=32, hidden_size=64, num_layers=1, dropout=0.0))
    opt = torch.optim.Adam(lm.parameters(), lr=1e-2)
    before, _, _ = perplexity(lm, held)
    assert before > 20  # untrained: about uniform over 29 tokens
    for step in range(60):
        batch = [train[(step * 16 + i) % len(train)] for i in range(16)]
        inputs, targets, lengths = make_lm_batch(batch)
        lm.train()
        loss = -token_log_probs(lm, inputs, targets, lengths).sum() / lengths.sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    after, bpc, _ = perplexity(lm, held)
    assert after < before / 2 and bpc < 4.5


def _write(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return path


def test_lm_package_round_trip_and_bad_files(tmp_path):
    torch.manual_seed(0)
    lm = CharLM(LMConfig(embed_dim=16, hidden_size=16, tie_weights=True))
    save_lm_package(LMPackage(lm, Tokenizer(), {"note": "x"}), tmp_path / "lm")
    loaded = load_lm_package(tmp_path / "lm")
    seqs = [[3, 4, 5, 1, 6]]
    assert score_sentences(loaded.model, seqs) == pytest.approx(score_sentences(lm.eval(), seqs))
    with pytest.raises(FileNotFoundError, match="nolm"):
        load_lm_package(tmp_path / "nolm")
    (tmp_path / "lm" / "lm.safetensors").write_bytes(b"corrupt")
    with pytest.raises(ValueError, match="lm.safetensors"):
        load_lm_package(tmp_path / "lm")


def test_fused_lm_scores_are_the_lms_sentence_scores():
    """The FusionLM's token-by-token scores (batched lazily across beam states) add up to the LM's own sentence
    log-prob, end of sentence included."""
    from asr.decoding.fusion import FusionLM

    torch.manual_seed(0)
    lm = CharLM(LMConfig(embed_dim=16, hidden_size=24, num_layers=2, dropout=0.0)).eval()
    fusion = FusionLM(lm)
    sentences = [[3, 4, 5], [3, 4, 6, 1, 7], [8]]  # shared prefixes: states are reused, not recomputed
    root = fusion.start(False)
    for seq in sentences:
        state, total = root, 0.0
        for token in seq:
            state, logp = fusion.score(state, token)
            total += logp
        total += fusion.finish(state)[1]
        assert total == pytest.approx(score_sentences(lm, [seq])[0], abs=1e-4)
    assert fusion.steps == 1 + 7  # <s>, then one LSTM step per distinct prefix (3, 34, 345, 346, 3461, 8, ...)


def test_shallow_fusion_with_weight_zero_is_plain_beam_and_weight_moves_the_text():
    torch.manual_seed(0)
    tok = Tokenizer()
    lp = torch.log_softmax(torch.randn(90, len(tok)) * 1.5, dim=-1)
    lm = CharLM(LMConfig(embed_dim=16, hidden_size=24, num_layers=1, dropout=0.0)).eval()
    with torch.no_grad():  # an LM that strongly prefers "E" after anything
        lm.output.bias.zero_()
        lm.output.bias[tok.tokens.index("E")] = 8.0
    plain = BeamSearch(tok, DecodeSettings(method="beam", beam_size=16)).decode_one(lp)[0]
    zero = BeamSearch(tok, DecodeSettings(method="beam_lm", fusion=True, beam_size=16, lm_weight=0.0),
                      lm=lm).decode_one(lp)[0]
    assert zero.text == plain.text and zero.score == pytest.approx(plain.score, abs=1e-3)
    fused = BeamSearch(tok, DecodeSettings(method="beam_lm", fusion=True, beam_size=16, lm_weight=1.0),
                       lm=lm).decode_one(lp)[0]
    assert fused.text.count("E") / max(1, len(fused.text)) > plain.text.count("E") / max(1, len(plain.text))
    assert fused.ngram < 0  # flashlight reports the fused LM's score as its LM score
    with pytest.raises(ValueError, match="not both"):
        BeamSearch(tok, DecodeSettings(method="beam_lm", fusion=True, ngram="x.arpa"), lm=lm)


def test_lm_step_by_step_equals_the_whole_sequence():
    """CharLM.step (used by shallow fusion) gives the same log-probs as running the sentence at once."""
    import torch

    from asr.models.lm import CharLM, LMConfig, make_lm_batch, token_log_probs

    torch.manual_seed(0)
    lm = CharLM(LMConfig(embed_dim=16, hidden_size=24, num_layers=2)).eval()
    sentence = [5, 9, 1, 7, 7, 3]
    inputs, targets, lengths = make_lm_batch([sentence])
    whole = token_log_probs(lm, inputs, targets, lengths)[0]
    state, stepped = lm.initial_state(1), []
    for token, target in zip(inputs[0].tolist(), targets[0].tolist()):
        logp, state = lm.step(torch.tensor([token]), state)
        stepped.append(float(logp[0, target]))
    torch.testing.assert_close(torch.tensor(stepped), whole, atol=1e-5, rtol=0)
