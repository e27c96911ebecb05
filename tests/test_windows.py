"""Long audio: windows cover the input exactly once, and merged window outputs equal the whole-input outputs."""

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from asr.features import FeatureConfig
from asr.models.acoustic import AcousticOutput
from asr.package import ModelPackage
from asr.text import Tokenizer
from asr.transcribe import Recognizer
from asr.windows import WindowConfig, plan_windows


class LocalModel(nn.Module):
    """The acoustic model's interface with no context beyond its own 4 frames: its output for a frame does not
    depend on where a window starts, so the windowed and the whole-input outputs must agree exactly."""

    subsampling_factor = 4

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.proj = nn.Linear(80 * 4, 29)

    def output_lengths(self, frames: torch.Tensor) -> torch.Tensor:
        return torch.div(frames + 3, 4, rounding_mode="floor")

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor) -> AcousticOutput:
        b, t, f = feats.shape
        x = nn.functional.pad(feats, (0, 0, 0, (-t) % 4)).reshape(b, -1, f * 4)  # (batch, time', 4 * mel)
        return AcousticOutput(torch.log_softmax(self.proj(x / 10), -1), self.output_lengths(lengths))


@pytest.mark.parametrize("seconds", [29.0, 61.3, 125.0])
def test_windows_cover_every_frame_once(seconds):
    n = int(seconds * 16000)
    total = -(-(1 + n // 160) // 4)
    windows = plan_windows(n, total, 640, 16000, WindowConfig(30.0, 4.0))
    assert windows[0].keep_from == 0 and windows[-1].keep_to == total and windows[-1].end == n
    for a, b in zip(windows, windows[1:]):
        assert a.keep_to == b.keep_from and b.start < a.end  # contiguous frames, overlapping audio
        assert a.keep_to - a.first_frame <= (a.end - a.start) // 640 - 2  # never a frame at a window's edge
    assert all(w.end - w.start <= 31 * 16000 for w in windows)


def test_windowed_output_equals_whole_and_bad_config():
    rng = np.random.default_rng(0)
    t = np.arange(95 * 16000) / 16000
    audio = (0.1 * np.sin(2 * np.pi * (200 + 50 * np.sin(t)) * t) + 0.01 * rng.standard_normal(t.size))
    package = ModelPackage(LocalModel().eval(), Tokenizer(), FeatureConfig(), {"method": "greedy"}, {})
    whole = Recognizer(package, windows=WindowConfig(1000.0, 4.0)).emissions([audio.astype(np.float32)])[0]
    windowed_recognizer = Recognizer(package, windows=WindowConfig(30.0, 4.0))
    windowed = windowed_recognizer.emissions([audio.astype(np.float32)], batch_seconds=40.0)[0]
    assert windowed.shape == whole.shape
    torch.testing.assert_close(windowed, whole, atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match="overlap"):
        WindowConfig(window=10.0, overlap=6.0)


def test_a_long_file_read_in_blocks_gives_the_whole_read_result(tiny_corpus, tmp_path, capsys):
    """`Recognizer.transcribe_file` (blocks in, one window of audio held) == transcribing the whole file, at 16 kHz
    and at 44.1 kHz (resampled as it streams), and `asr transcribe` takes that path for files over long_seconds."""
    import numpy as np
    import soundfile as sf
    import soxr

    from asr.audio import load_audio
    from asr.transcribe import load_model
    from asr.transcribe_files import run_transcribe
    from asr.windows import WindowConfig

    small = Path(__file__).parent / "data" / "small_model"
    flacs = sorted((tiny_corpus / "LibriSpeech").rglob("*.flac"))[:10]
    wave = np.concatenate([np.concatenate([load_audio(f), np.zeros(8000, np.float32)]) for f in flacs])
    sf.write(tmp_path / "long.flac", wave, 16000)
    sf.write(tmp_path / "long44.wav", soxr.resample(wave, 16000, 44100), 44100)
    recognizer = load_model(small)
    recognizer.windows = WindowConfig(window=6.0, overlap=2.0)  # many windows in ~25 s
    for name in ("long.flac", "long44.wav"):
        whole = recognizer.transcribe(tmp_path / name)
        blocks = recognizer.transcribe_file(tmp_path / name, block_seconds=1.7)
        assert blocks.text == whole.text and blocks.text
        assert abs(blocks.duration - whole.duration) < 0.01
        assert [(w.text, w.start, w.end) for w in blocks.words] == [(w.text, w.start, w.end) for w in whole.words]
    beam = load_model(small, decode="beam")  # beam search: the log-probs are kept and decoded at the end
    beam.windows = recognizer.windows
    assert beam.transcribe_file(tmp_path / "long.flac", block_seconds=1.7).text == \
        beam.transcribe(tmp_path / "long.flac").text
    assert run_transcribe(small, [tmp_path / "long.flac"], long_seconds=1e9) == 0
    grouped = capsys.readouterr().out
    assert run_transcribe(small, [tmp_path / "long.flac"], long_seconds=5.0) == 0
    assert capsys.readouterr().out == grouped and grouped.strip()
    (tmp_path / "cut.wav").write_bytes((tmp_path / "long44.wav").read_bytes()[:44])  # a header, no samples
    assert run_transcribe(small, [tmp_path / "cut.wav"], long_seconds=0.0) == 1
    assert "cut.wav" in capsys.readouterr().err
