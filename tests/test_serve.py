"""`asr serve` with real clients on 127.0.0.1: health, raw-body transcription in every format, clear 4xx errors,
the load-test script, and the OpenAI-compatible routes driven by the official `openai` package."""

import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from asr.server import make_server


@pytest.fixture(scope="module")
def server(tiny_manifests, tmp_path_factory):
    from hydra import compose, initialize_config_dir

    from asr.training.launch import config_dir
    from asr.training.train import run_training

    exp = tmp_path_factory.mktemp("serve")
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose(config_name="train", overrides=["experiment=tiny", f"data.manifest_dir={tiny_manifests}",
                                                      f"exp_dir={exp}", "trainer.max_epochs=1"])
    model = run_training(cfg)
    with make_server(model, port=0, max_concurrent=2, max_upload_mb=0.5) as srv:
        yield srv


def post(url, data, timeout=60):
    req = urllib.request.Request(url, data=data, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode(), r.headers.get("Content-Type")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), e.headers.get("Content-Type")


def test_binds_loopback_and_reports_health(server):
    assert server.server_address[0] == "127.0.0.1"
    with urllib.request.urlopen(server.url + "/health", timeout=10) as r:
        health = json.loads(r.read())
    assert health["status"] == "ok" and health["max_concurrent"] == 2


def test_transcribes_uploads_in_every_format(server, tiny_corpus):
    flac = sorted((tiny_corpus / "LibriSpeech" / "test-clean-2").rglob("*.flac"))[0]
    status, body, ctype = post(server.url + "/transcribe", flac.read_bytes())
    assert status == 200 and ctype.startswith("application/json")
    result = json.loads(body)
    assert set(result) == {"text", "duration", "source", "words"} and result["duration"] > 0.5
    status, body, _ = post(server.url + "/transcribe?format=vtt", flac.read_bytes())
    assert status == 200 and body.startswith("WEBVTT")
    status, body, _ = post(server.url + "/transcribe?format=text", flac.read_bytes())
    assert status == 200 and body.strip() == result["text"]


def test_bad_requests_get_clear_4xx(server, tmp_path):
    status, body, _ = post(server.url + "/transcribe", b"this is not audio at all")
    assert status == 400 and "not a readable audio file" in json.loads(body)["error"]
    status, body, _ = post(server.url + "/transcribe", b"")
    assert status == 400 and "no audio" in json.loads(body)["error"]
    status, body, _ = post(server.url + "/transcribe", b"x" * (600 * 1024))  # over the 0.5 MB limit
    assert status == 413 and "over the limit" in json.loads(body)["error"]
    status, body, _ = post(server.url + "/transcribe?format=docx", b"x")
    assert status == 400 and "unknown format" in body
    status, body, _ = post(server.url + "/nothing", b"x")
    assert status == 404


def test_load_test_script_against_the_server(server, tiny_corpus):
    flac = sorted((tiny_corpus / "LibriSpeech" / "test-clean-2").rglob("*.flac"))[0]
    script = Path(__file__).resolve().parent.parent / "tools" / "load_test_serve.py"
    out = subprocess.run([sys.executable, str(script), server.url, str(flac), "--requests", "8", "--concurrency", "3"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "8 requests, 3 concurrent" in out.stdout and "latency p50" in out.stdout
    out = subprocess.run([sys.executable, str(script), server.url, str(flac), "--requests", "4", "--concurrency", "2",
                          "--openai", server.model_id], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and "4 requests, 2 concurrent" in out.stdout, out.stderr
    refused = subprocess.run([sys.executable, str(script), "http://example.com:8000", str(flac)],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "only targets a server on this machine" in refused.stderr


@pytest.fixture(scope="module")
def small_server():
    """The checked-in small model: it says something for a test utterance (a 1-epoch tiny model says nothing)."""
    with make_server(Path(__file__).parent / "data" / "small_model", port=0, max_upload_mb=0.5) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(small_server):
    openai = pytest.importorskip("openai")  # the dev extra installs it
    return openai.OpenAI(base_url=small_server.url + "/v1", api_key="unused", max_retries=0, timeout=60)


def test_openai_client_lists_and_transcribes_in_every_format(small_server, client, tiny_corpus):
    flac = sorted((tiny_corpus / "LibriSpeech" / "test-clean-2").rglob("*.flac"))[0]
    assert [m.id for m in client.models.list()] == [small_server.model_id]
    raw = json.loads(post(small_server.url + "/transcribe", flac.read_bytes())[1])
    with flac.open("rb") as f:
        plain = client.audio.transcriptions.create(file=f, model=small_server.model_id)
    assert plain.text == raw["text"]  # the same decoding as the raw route
    with flac.open("rb") as f:
        verbose = client.audio.transcriptions.create(file=f, model=small_server.model_id,
                                                     response_format="verbose_json",
                                                     timestamp_granularities=["word", "segment"], language="en",
                                                     prompt="ignored", temperature=0.0)
    assert verbose.text == raw["text"] and verbose.duration == pytest.approx(raw["duration"])
    assert [w.word for w in verbose.words] == [w["text"] for w in raw["words"]]
    assert all(0 <= w.start <= w.end <= verbose.duration for w in verbose.words)
    assert raw["words"] and " ".join(s.text for s in verbose.segments) == raw["text"]
    assert verbose.segments[0].start == pytest.approx(verbose.words[0].start)
    for fmt, start in (("text", raw["text"]), ("srt", "1\n00:00:0"), ("vtt", "WEBVTT")):
        with flac.open("rb") as f:
            out = client.audio.transcriptions.create(file=f, model=small_server.model_id, response_format=fmt)
        assert isinstance(out, str) and out.startswith(start)
    with flac.open("rb") as f:  # segments only by default: no words unless asked for
        verbose = client.audio.transcriptions.create(file=f, model=small_server.model_id,
                                                     response_format="verbose_json")
    assert verbose.words is None and verbose.segments


def test_openai_errors_are_raised_by_the_client_with_the_reason(small_server, client, tiny_corpus):
    import openai

    flac = sorted((tiny_corpus / "LibriSpeech" / "test-clean-2").rglob("*.flac"))[0]
    cases = [({"model": small_server.model_id, "language": "fr"}, openai.BadRequestError, "English only"),
             ({"model": "whisper-1"}, openai.NotFoundError, "not served here"),
             ({"model": small_server.model_id, "response_format": "docx"}, openai.BadRequestError, "response_format"),
             ({"model": small_server.model_id, "timestamp_granularities": ["word"]}, openai.BadRequestError,
              "verbose_json")]
    for kwargs, error, message in cases:
        with flac.open("rb") as f, pytest.raises(error, match=message):
            client.audio.transcriptions.create(file=f, **kwargs)
    with pytest.raises(openai.BadRequestError, match="not a readable audio file"):
        client.audio.transcriptions.create(file=("x.wav", b"not audio at all"), model=small_server.model_id)
    with pytest.raises(openai.APIStatusError, match="over the limit") as e:
        client.audio.transcriptions.create(file=("big.wav", b"x" * (600 * 1024)), model=small_server.model_id)
    assert e.value.status_code == 413
    with pytest.raises(openai.NotFoundError, match="not served here"):
        client.models.retrieve("whisper-1")
    assert client.models.retrieve(small_server.model_id).id == small_server.model_id


def test_openai_route_refuses_a_raw_body_and_a_form_without_file(small_server):
    status, body, _ = post(small_server.url + "/v1/audio/transcriptions", b"abc")
    assert status == 400 and "multipart/form-data" in json.loads(body)["error"]["message"]
    boundary = "xyz"
    form = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\n{small_server.model_id}\r\n"
            f"--{boundary}--\r\n").encode()
    req = urllib.request.Request(small_server.url + "/v1/audio/transcriptions", data=form, method="POST",
                                 headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=30)
    assert e.value.code == 400 and "'file' field" in json.loads(e.value.read())["error"]["message"]


def test_serve_command_serves_and_stops_on_ctrl_c(tiny_corpus):
    import signal
    import socket
    import time

    flac = sorted((tiny_corpus / "LibriSpeech" / "test-clean-2").rglob("*.flac"))[0]
    with socket.socket() as s:  # a free port
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "asr.cli", "serve", str(Path(__file__).parent / "data" /
                             "small_model"), "--port", str(port), "--model-name", "mini-en"],
                            stderr=subprocess.PIPE, text=True)
    try:
        url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url + "/v1/models", timeout=5) as r:
                    assert json.loads(r.read())["data"][0]["id"] == "mini-en"
                break
            except (urllib.error.URLError, ConnectionError):
                assert proc.poll() is None and time.monotonic() < deadline, "asr serve did not come up"
                time.sleep(0.2)
        status, body, _ = post(url + "/transcribe?format=text", flac.read_bytes())
        assert status == 200 and body.strip()
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "serving model 'mini-en'" in err and "1 request(s) served" in err
