"""Streaming: features, the left-to-right model and the latency-controlled (chunked) BiLSTM piece by piece equal the
whole-input pass; the streaming recognizer's words equal offline greedy decoding; `asr transcribe --stream` and the
WebSocket route of `asr serve` send partials before the end of the input."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from asr.features import FeatureConfig, LogMel, StreamingLogMel
from asr.models.acoustic import AcousticConfig, AcousticModel
from asr.models.streaming import StreamingAcoustic


@pytest.mark.parametrize("piece", [160, 2560, 7777])
def test_streaming_features_equal_whole_input(piece):
    logmel = LogMel(FeatureConfig())
    wave = np.random.default_rng(0).standard_normal(16000 * 2 + 123).astype(np.float32) * 0.1
    whole, frames = logmel.batch([wave])
    stream = StreamingLogMel(logmel)
    parts = [stream.accept(wave[i:i + piece]) for i in range(0, len(wave), piece)] + [stream.flush()]
    got = torch.cat(parts)
    assert got.shape == whole[0].shape and len(got) == int(frames[0])
    torch.testing.assert_close(got, whole[0], atol=1e-4, rtol=0)
    assert len(stream.buffer) < FeatureConfig().n_fft + piece  # holds under a frame's worth beyond the last piece


STREAMING = [AcousticConfig(num_layers=2, hidden_size=32, bidirectional=False, lookahead=3, dropout=0.0),
             AcousticConfig(num_layers=2, hidden_size=32, bidirectional=False, lookahead=0, rnn="gru",
                            subsampling="conv", subsampling_factor=4),
             AcousticConfig(num_layers=2, hidden_size=32, bidirectional=False, lookahead=2, projection_size=24),
             AcousticConfig(num_layers=3, hidden_size=32, chunk_size=4, right_context=2, dropout=0.0,
                            cepstral_smoothing=20),
             AcousticConfig(num_layers=2, hidden_size=32, chunk_size=5, right_context=0, rnn="gru"),
             AcousticConfig(num_layers=2, hidden_size=32, chunk_size=3, right_context=4, projection_size=24)]


@pytest.mark.parametrize("cfg", STREAMING, ids=["lstm-lookahead3", "gru-conv", "lstmp-lookahead2",
                                                "chunked-4+2-smoothed", "chunked-gru-5+0", "chunked-lstmp-3+4"])
@pytest.mark.parametrize("piece", [1, 7, 50])
def test_streaming_model_equals_whole_input(cfg, piece):
    torch.manual_seed(0)
    model = AcousticModel(cfg).eval()
    model.normalizer.mean.normal_()
    model.normalizer.std.uniform_(0.5, 2.0)
    feats = torch.randn(101, 80)
    with torch.no_grad():
        whole = model(feats[None], torch.tensor([101])).log_probs[0]
    stream = StreamingAcoustic(model)
    got = torch.cat([stream.accept(feats[i:i + piece]) for i in range(0, 101, piece)] + [stream.flush()])
    assert got.shape == whole.shape
    torch.testing.assert_close(got, whole, atol=1e-4, rtol=0)
    assert len(stream.feats) == 0 and len(stream.ahead) == 0


def test_an_output_never_depends_on_input_past_its_lookahead():
    torch.manual_seed(0)
    cfg = AcousticConfig(num_layers=2, hidden_size=32, bidirectional=False, lookahead=2, subsampling_factor=3)
    model = AcousticModel(cfg).eval()
    feats = torch.randn(60, 80)
    changed = feats.clone()
    changed[45:] += 3.0  # input frames 45.. feed output frames 15..; with 2 of look-ahead, outputs 13.. may change
    with torch.no_grad():
        a, b = (model(x[None], torch.tensor([60])).log_probs[0] for x in (feats, changed))
    torch.testing.assert_close(a[:13], b[:13], atol=0, rtol=0)
    assert not torch.allclose(a[13:], b[13:])


def test_a_chunk_depends_on_input_up_to_its_right_context_and_no_further():
    torch.manual_seed(0)
    cfg = AcousticConfig(num_layers=3, hidden_size=32, chunk_size=4, right_context=2, subsampling_factor=3)
    model = AcousticModel(cfg).eval()
    feats = torch.randn(90, 80)  # 30 output frames: chunks 0-3, 4-7, ...; chunk 1 sees frames up to 9
    with torch.no_grad():
        base = model(feats[None], torch.tensor([90])).log_probs[0]
        for first_changed, unchanged in ((30, 8), (27, 4)):  # output frame 10 on / frame 9 on (chunk 1's context)
            changed = feats.clone()
            changed[first_changed:] += 3.0
            out = model(changed[None], torch.tensor([90])).log_probs[0]
            torch.testing.assert_close(out[:unchanged], base[:unchanged], atol=0, rtol=0)
            assert not torch.allclose(out[unchanged:unchanged + 4], base[unchanged:unchanged + 4])


def test_chunked_model_in_a_padded_batch_equals_one_by_one_and_is_the_bilstm_when_one_chunk():
    torch.manual_seed(0)
    chunked = AcousticModel(AcousticConfig(num_layers=2, hidden_size=32, chunk_size=4, right_context=2)).eval()
    whole = AcousticModel(AcousticConfig(num_layers=2, hidden_size=32)).eval()
    whole.load_state_dict(chunked.state_dict())  # the same weights: fine-tuning starts from a BiLSTM
    feats, lengths = torch.randn(3, 80, 80), torch.tensor([80, 53, 10])
    with torch.no_grad():
        batch = chunked(feats, lengths)
        for i, n in enumerate(lengths.tolist()):
            one = chunked(feats[i:i + 1, :n], lengths[i:i + 1]).log_probs[0]
            torch.testing.assert_close(batch.log_probs[i, :len(one)], one, atol=1e-5, rtol=0)
        # 10 input frames = 4 output frames = one chunk: the backward direction sees all of it, as the BiLSTM's
        torch.testing.assert_close(chunked(feats[2:, :10], lengths[2:]).log_probs,
                                   whole(feats[2:, :10], lengths[2:]).log_probs, atol=1e-5, rtol=0)
        assert not torch.allclose(batch.log_probs[0], whole(feats[:1], lengths[:1]).log_probs[0], atol=1e-3)
    with pytest.raises(ValueError, match="bidirectional"):
        AcousticModel(AcousticConfig(bidirectional=False, chunk_size=4))
    with pytest.raises(ValueError, match="left-to-right"):
        AcousticModel(AcousticConfig(lookahead=2))


def test_streaming_refuses_bidirectional_and_utterance_normalized_models():
    with pytest.raises(ValueError, match="bidirectional"):
        StreamingAcoustic(AcousticModel(AcousticConfig(num_layers=1, hidden_size=16)))
    with pytest.raises(ValueError, match="global normalization"):
        StreamingAcoustic(AcousticModel(AcousticConfig(num_layers=1, hidden_size=16, bidirectional=False,
                                                       normalization="utterance")))


@pytest.fixture(scope="module")
def stream_model(tiny_manifests, tmp_path_factory, utterance):
    """The streaming model trained on the tiny config (as `asr train experiment=tiny model=blstm_chunked`)."""
    from hydra import compose, initialize_config_dir

    from asr.training.launch import config_dir
    from asr.training.train import run_training

    exp = tmp_path_factory.mktemp("stream")
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose(config_name="train", overrides=["experiment=tiny", "model=blstm_chunked", "model.num_layers=2",
                                                      "model.hidden_size=48", f"data.manifest_dir={tiny_manifests}",
                                                      f"exp_dir={exp}", "trainer.max_epochs=12"])
    trained = run_training(cfg)
    # a dozen utterances teach a tiny model little (it mostly says nothing): with a random output layer it spells
    # words, spaces and pauses from its trained recurrent state, which is what streaming and offline must agree on
    from asr.package import load_package, save_package

    package = load_package(trained)
    blank = package.tokenizer.blank_id
    torch.manual_seed(0)
    with torch.no_grad():
        out = package.model.output
        out.weight.normal_(0.0, 3.0 / out.in_features ** 0.5)
        out.bias.zero_()
        feats, frames = LogMel(package.features).batch([utterance[1]])
        log_probs = package.model(feats, frames).log_probs[0]
        others = log_probs.clone()
        others[:, blank] = -float("inf")
        margin = log_probs[:, blank] - others.max(dim=-1).values  # how far blank leads, per frame
        out.bias[blank] -= float(margin.quantile(0.5))  # blank in about half the frames
    return save_package(package, exp / "talkative")


@pytest.fixture(scope="module")
def utterance(tiny_corpus, tmp_path_factory):
    """Three utterances with a second of silence after each (pauses end words too), as a FLAC file + samples."""
    import soundfile as sf

    from asr.audio import load_audio

    flacs = sorted((tiny_corpus / "LibriSpeech" / "train-clean-5").rglob("*.flac"))[:3]
    wave = np.concatenate([np.concatenate([load_audio(f), np.zeros(16000, np.float32)]) for f in flacs])
    path = tmp_path_factory.mktemp("stream_audio") / "three.flac"
    sf.write(path, wave, 16000)
    return path, load_audio(path)


def test_streaming_model_trains_and_the_recognizer_matches_offline_greedy(stream_model, utterance):
    from asr.package import load_package
    from asr.streaming import StreamingRecognizer
    from asr.transcribe import load_model

    package = load_package(stream_model)
    assert package.model.config.bidirectional and package.model.config.chunk_size == 8
    _, wave = utterance
    offline = load_model(stream_model, decode="greedy").transcripts([wave], ["x"])[0]
    assert len(offline.words) >= 3
    stream = StreamingRecognizer(package)
    updates = [stream.accept(wave[i:i + 2560]) for i in range(0, len(wave), 2560)] + [stream.finish()]
    result = stream.transcript()
    assert result.text == offline.text
    assert [(w.text, w.start, w.end) for w in result.words] == [(w.text, w.start, w.end) for w in offline.words]
    assert [w for u in updates for w in u.final] == result.words  # every word announced once, in order
    assert any(u.partial for u in updates[:-1])  # something shown before the end of the input
    assert updates[-1].done and updates[-1].partial == result.text


def test_transcribe_stream_command_prints_partials_then_the_final_result(stream_model, utterance, tmp_path):
    from asr.transcribe import load_model

    flac, wave = utterance
    offline = load_model(stream_model, decode="greedy").transcripts([wave], ["x"])[0]
    out = subprocess.run([sys.executable, "-m", "asr.cli", "transcribe", str(stream_model), str(flac), "--stream",
                          "--format", "json"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in out.stdout.splitlines()]
    assert events[-1]["type"] == "done" and events[-1]["text"] == offline.text
    partials = [e for e in events if e["type"] == "partial"]
    assert partials and partials[0]["seconds"] < events[-1]["duration"]
    assert [w["text"] for e in events if e["type"] == "final" for w in e["words"]] == offline.text.split()
    text = subprocess.run([sys.executable, "-m", "asr.cli", "transcribe", str(stream_model), str(flac), "--stream"],
                          capture_output=True, text=True, timeout=300)
    assert text.returncode == 0 and text.stdout.strip() == offline.text
    pcm = (np.clip(wave, -1, 1) * 32767).astype("<i2").tobytes()  # raw 16-bit PCM on stdin, as from arecord
    piped = subprocess.run([sys.executable, "-m", "asr.cli", "transcribe", str(stream_model), "-", "--stream"],
                           input=pcm, capture_output=True, timeout=300)
    assert piped.returncode == 0 and piped.stdout.decode().strip() == offline.text
    refused = subprocess.run([sys.executable, "-m", "asr.cli", "transcribe", "tests/data/small_model", str(flac),
                              "--stream"], capture_output=True, text=True, timeout=300)
    assert refused.returncode != 0 and "bidirectional" in refused.stderr


def test_websocket_stream_sends_partials_before_the_end_and_the_offline_text(stream_model, utterance):
    import threading
    import time

    from websockets.sync.client import connect

    from asr.server import make_server
    from asr.transcribe import load_model

    _, wave = utterance
    offline = load_model(stream_model, decode="greedy").transcripts([wave], ["x"])[0]
    pcm = (np.clip(wave, -1, 1) * 32767).astype("<i2").tobytes()
    chunk = 2 * 2560  # 160 ms of 16-bit samples
    with make_server(stream_model, port=0, max_streams=1) as srv:
        url = srv.url.replace("http://", "ws://") + "/v1/stream"
        messages, end_sent = [], []
        with connect(url, open_timeout=30) as ws:
            def read() -> None:
                for raw in ws:
                    messages.append((time.monotonic(), json.loads(raw)))

            reader = threading.Thread(target=read)
            reader.start()
            for i in range(0, len(pcm), chunk):
                ws.send(pcm[i:i + chunk])
                time.sleep(0.02)
            end_sent.append(time.monotonic())
            ws.send(json.dumps({"type": "end"}))
            reader.join(timeout=60)
        kinds = [m["type"] for _, m in messages]
        assert kinds[-1] == "done" and messages[-1][1]["text"] == offline.text
        assert any(t < end_sent[0] and m["type"] in ("partial", "final") for t, m in messages)
        assert [w["text"] for _, m in messages if m["type"] == "final" for w in m["words"]] == offline.text.split()
        assert ws.close_code == 1000

        with connect(url, open_timeout=30) as ws:  # a text message that is not the end: an error, then closed
            ws.send("hello")
            assert json.loads(ws.recv(timeout=30))["type"] == "error"
        with connect(url, open_timeout=30) as holder:  # one stream at a time (max_streams=1): the next is refused
            holder.send(pcm[:chunk])
            time.sleep(0.5)  # the server takes the stream's slot right after the handshake
            with connect(url, open_timeout=30) as refused:
                assert "busy" in json.loads(refused.recv(timeout=30))["message"]
                with pytest.raises(Exception):
                    refused.recv(timeout=30)
                assert refused.close_code == 1013
    with make_server("tests/data/small_model", port=0) as srv, \
            connect(srv.url.replace("http://", "ws://") + "/v1/stream", open_timeout=30) as ws:
        error = json.loads(ws.recv(timeout=30))
        assert error["type"] == "error" and "bidirectional" in error["message"]
        with pytest.raises(Exception):
            ws.recv(timeout=30)
        assert ws.close_code == 1003
