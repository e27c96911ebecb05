"""`asr serve` with a real HTTP client on 127.0.0.1: health, transcription, formats, and clear 4xx errors."""

import json
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from asr.serve import make_server


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
    srv = make_server(model, port=0, max_concurrent=2, max_upload_mb=0.5)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


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
    refused = subprocess.run([sys.executable, str(script), "http://example.com:8000", str(flac)],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "only targets a server on this machine" in refused.stderr
