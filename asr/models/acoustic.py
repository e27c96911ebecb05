"""The BiLSTM/BiGRU-CTC acoustic model: a plain nn.Module, usable without Lightning. With ``bidirectional=False``
and ``lookahead`` frames of future context (a convolution over the subsampled frames, before the recurrent stack)
it is the streaming variant: its output at frame t depends on input up to frame t + lookahead only (see
asr/models/streaming.py for running it chunk by chunk)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from asr.features import CepstralSmoothing, GlobalCMVN
from asr.models.chunked import chunked_layer, reverse_within, right_contexts, run_direction
from asr.models.whisper_encoder import DIM as ENCODER_DIM
from asr.models.whisper_encoder import LAYERS as ENCODER_LAYERS
from asr.models.whisper_encoder import WhisperEncoder


@dataclass
class AcousticConfig:
    vocab_size: int = 29
    n_mels: int = 80
    # stack (frame stacking + linear) | conv (strided 1-D convolution) | conv2d (two 3x3 convolutions over time and
    # frequency, each with max pooling over frequency, then frame stacking: formant shifts between voices become
    # shifts the pooling partly absorbs; bidirectional, unchunked models only)
    subsampling: str = "stack"
    subsampling_factor: int = 3
    conv_channels: int = 32  # conv2d: channels of both convolutions
    rnn: str = "lstm"  # lstm | gru
    num_layers: int = 4
    hidden_size: int = 256
    projection_size: int = 0  # > 0: a linear projection (2*hidden -> projection) after every layer (BLSTMP)
    dropout: float = 0.2
    # global (stored mean and std) | utterance (each input's own mean, global std) | utterance_mv (its own mean and std)
    normalization: str = "global"
    cepstral_smoothing: int = 0  # > 0: keep this many cepstral coefficients of each normalized frame (no pitch ripple)
    bidirectional: bool = True  # False: the streaming model (left-to-right recurrences)
    lookahead: int = 0  # future output frames (of subsampling_factor input frames each) each output may see
    # > 0 (bidirectional): latency-controlled, streamable BiLSTM (asr/models/chunked.py): the backward direction sees
    # chunks of chunk_size output frames plus right_context more; the forward direction carries its state
    chunk_size: int = 0
    right_context: int = 0
    # "" (none) | whisper: Whisper tiny.en's pretrained audio encoder, frozen, in place of normalization: its input
    # is Whisper's log-mel (features.kind=whisper), its 384 values per 20 ms what subsampling then stacks
    # (subsampling_factor 1: 20 ms output frames); weights from train.py's pretrained_encoder at the start of
    # training, then in the model's own checkpoints and packages (asr/models/whisper_encoder.py)
    encoder: str = ""
    # > 0: the encoder's top this many transformer layers (and its final norm) are trained with the rest (at
    # optim.encoder_lr_scale times the learning rate); the layers below stay frozen. 0: all frozen.
    encoder_trainable_layers: int = 0

    @property
    def frames_per_output(self) -> int:
        """Input (feature) frames per output frame: the subsampling factor, times 2 after the Whisper encoder."""
        return self.subsampling_factor * (2 if self.encoder else 1)


def subsampled_length(frames: int | torch.Tensor, factor: int) -> int | torch.Tensor:
    """Output frames of ``frames`` input frames at subsampling ``factor``: rounded up (the last, partial window
    counts); ints or tensors."""
    if isinstance(frames, torch.Tensor):
        return torch.div(frames + factor - 1, factor, rounding_mode="floor")
    return -(-frames // factor)


class AcousticOutput(NamedTuple):
    log_probs: torch.Tensor  # (batch, time', vocab)
    lengths: torch.Tensor  # (batch,)


class Subsampling(nn.Module):
    """Reduce the frame rate by ``factor``: (batch, time, mel) -> (batch, ceil(time / factor), dim)."""

    KINDS = ("stack", "conv", "conv2d")

    def __init__(self, kind: str, n_mels: int, factor: int, dim: int, channels: int = 32):
        super().__init__()
        if kind not in self.KINDS:
            raise ValueError(f"subsampling must be one of {', '.join(self.KINDS)}, got {kind!r}")
        if factor < 1:
            raise ValueError(f"subsampling_factor must be >= 1, got {factor}")
        self.kind, self.factor = kind, factor
        if kind == "conv2d":  # (batch, 1, time, mel) -> (batch, channels, time, mel / 4): time keeps its rate
            self.convs = nn.ModuleList([nn.Conv2d(1, channels, 3, padding=1), nn.Conv2d(channels, channels, 3,
                                                                                        padding=1)])
            n_mels = channels * (n_mels // 4)  # what is stacked per frame
        if kind == "conv":
            self.conv = nn.Conv1d(n_mels, dim, kernel_size=factor, stride=factor)
        else:
            self.proj = nn.Linear(n_mels * factor, dim)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.kind == "conv2d":
            x = self.time_frequency(x, lengths)  # (batch, time, channels * mel / 4)
        # factor - 1 zero frames at the end, as in a padded batch (an item's output never depends on its padding):
        # a stride-``factor`` window then yields ceil(time / factor) frames. No shape-dependent Python branch, so
        # the graph exports (ONNX, TorchScript) with a dynamic time axis.
        x = nn.functional.pad(x, (0, 0, 0, self.factor - 1)).transpose(1, 2)  # (batch, mel, time + factor - 1)
        if self.kind == "conv":
            x = self.conv(x)
        else:  # frame stacking + linear == a stride-factor convolution with the reshaped weight
            dim = self.proj.out_features
            weight = self.proj.weight.view(dim, self.factor, -1).transpose(1, 2)  # (dim, mel, factor)
            x = nn.functional.conv1d(x, weight, self.proj.bias, stride=self.factor)
        x = x.transpose(1, 2)  # (batch, time', dim)
        return self.act(x), subsampled_length(lengths, self.factor)

    def time_frequency(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(batch, time, mel) -> (batch, time, channels * (mel // 4)): 3 x 3 convolutions, each followed by max
        pooling of 2 frequency bands; frames past an item's length are zeroed after each convolution, so that an
        item's last frames see zeros there, as when it is run alone."""
        mask = (torch.arange(x.shape[1], device=x.device)[None, :] < lengths[:, None])[:, None, :, None]
        x = x.unsqueeze(1)  # (batch, 1, time, mel)
        for conv in self.convs:
            x = self.act(conv(x)) * mask  # (batch, channels, time, mel')
            x = nn.functional.max_pool2d(x, kernel_size=(1, 2))  # (batch, channels, time, mel' / 2)
        return x.permute(0, 2, 1, 3).flatten(2)  # (batch, time, channels * mel / 4)


class AcousticModel(nn.Module):
    """log-mel (batch, time, mel) + lengths -> CTC log-probs (batch, time', vocab) + output lengths."""

    def __init__(self, config: AcousticConfig):
        super().__init__()
        if config.rnn not in ("lstm", "gru"):
            raise ValueError(f"rnn must be 'lstm' or 'gru', got {config.rnn!r}")
        if config.normalization not in ("global", "utterance", "utterance_mv"):
            raise ValueError(f"normalization must be 'global', 'utterance' or 'utterance_mv', got "
                             f"{config.normalization!r}")
        if config.lookahead < 0:
            raise ValueError(f"lookahead must be >= 0, got {config.lookahead}")
        if config.chunk_size < 0 or config.right_context < 0:
            raise ValueError(f"chunk_size and right_context must be >= 0, got {config.chunk_size} and "
                             f"{config.right_context}")
        if config.lookahead and config.bidirectional:
            raise ValueError("lookahead is for a left-to-right model (a bidirectional one sees the future already)")
        if config.subsampling == "conv2d" and (config.chunk_size or not config.bidirectional):
            raise ValueError("conv2d subsampling sees a frame ahead in each convolution: it is for bidirectional, "
                             "unchunked models, not streaming ones")
        if config.encoder not in ("", "whisper"):
            raise ValueError(f"encoder must be '' (none) or 'whisper', got {config.encoder!r}")
        if config.encoder and (config.n_mels != 80 or config.subsampling == "conv2d" or config.chunk_size
                               or not config.bidirectional):
            raise ValueError("the Whisper encoder takes 80 mel bands and reads whole utterances: it is for "
                             "bidirectional, unchunked models with stack or conv subsampling")
        if not 0 <= config.encoder_trainable_layers <= (ENCODER_LAYERS if config.encoder else 0):
            raise ValueError(f"encoder_trainable_layers must be 0 .. {ENCODER_LAYERS} with the Whisper encoder "
                             f"(0 without one), got {config.encoder_trainable_layers}")
        if config.chunk_size and not config.bidirectional:
            raise ValueError("chunk_size is for a bidirectional model (a left-to-right one streams as it is; "
                             "give it a lookahead instead)")
        self.config = config
        self.normalizer = GlobalCMVN(config.n_mels, utterance_mean=config.normalization.startswith("utterance"),
                                     utterance_var=config.normalization == "utterance_mv")
        self.smoothing = CepstralSmoothing(config.n_mels, config.cepstral_smoothing)
        self.encoder = WhisperEncoder().requires_grad_(False) if config.encoder else None  # frozen, in eval mode
        if config.encoder_trainable_layers:  # the top layers learn with the head (Whisper has no dropout)
            for module in (*self.encoder.blocks[-config.encoder_trainable_layers:], self.encoder.norm):
                module.requires_grad_(True)
        self.subsampling = Subsampling(config.subsampling, ENCODER_DIM if config.encoder else config.n_mels,
                                       config.subsampling_factor, config.hidden_size, config.conv_channels)
        rnn_cls = nn.LSTM if config.rnn == "lstm" else nn.GRU
        h, p, bi = config.hidden_size, config.projection_size, config.bidirectional
        d = 2 * h if bi else h  # the recurrent stack's output size per frame
        # future context for a left-to-right model: frame t sees subsampled frames t .. t + lookahead
        self.lookahead = nn.Conv1d(h, h, config.lookahead + 1) if config.lookahead else None
        if p > 0:  # one layer per module with a projection between layers
            self.rnns = nn.ModuleList(rnn_cls(h if i == 0 else p, h, batch_first=True, bidirectional=bi)
                                      for i in range(config.num_layers))
            self.projections = nn.ModuleList(nn.Linear(d, p) for _ in range(config.num_layers))
        else:  # one fused multi-layer module (fastest, and cuDNN on GPU)
            self.rnns = nn.ModuleList([rnn_cls(h, h, num_layers=config.num_layers, batch_first=True,
                                               bidirectional=bi,
                                               dropout=config.dropout if config.num_layers > 1 else 0.0)])
            self.projections = nn.ModuleList()
        self.dropout = nn.Dropout(config.dropout)
        self.output = nn.Linear(p if p > 0 else d, config.vocab_size)

    @property
    def subsampling_factor(self) -> int:
        """Input frames per output frame (the Whisper encoder's halving included)."""
        return self.config.frames_per_output

    def output_lengths(self, num_frames: torch.Tensor) -> torch.Tensor:
        return subsampled_length(num_frames, self.config.frames_per_output)

    def train(self, mode: bool = True) -> AcousticModel:
        super().train(mode)
        if self.encoder is not None:  # no dropout to switch (trainable top layers or not), and so it stays
            self.encoder.eval()
        return self

    @property
    def hidden_size_out(self) -> int:
        """Size of the recurrent stack's output per frame (what ``forward_with_hidden`` returns beside)."""
        c = self.config
        return c.projection_size or (2 * c.hidden_size if c.bidirectional else c.hidden_size)

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor) -> AcousticOutput:
        return self.forward_with_hidden(feats, lengths)[0]

    def forward_with_hidden(self, feats: torch.Tensor, lengths: torch.Tensor,
                            layer: int | None = None) -> tuple[AcousticOutput, torch.Tensor]:
        """The output and the recurrent stack's output (batch, time', hidden_size_out) it was computed from, or with
        ``layer`` (1 .. num_layers, 1-based; the last is the stack's output) that recurrent layer's output instead
        (an inner layer's runs on the padded path, also on a GPU; not for chunked models)."""
        inner = layer is not None and layer != self.config.num_layers
        if inner and not 1 <= layer < self.config.num_layers:
            raise ValueError(f"layer must be 1 .. {self.config.num_layers}, got {layer}")
        if inner and self.config.chunk_size:
            raise ValueError("a chunked model's inner layers are not returned (use its last layer)")
        if self.encoder is not None:
            with torch.set_grad_enabled(torch.is_grad_enabled() and self.config.encoder_trainable_layers > 0):
                x, lengths = self.encoder(feats, lengths)  # (batch, time / 2, 384)
        else:
            x = self.smoothing(self.normalizer(feats, lengths))  # (batch, time, mel)
        x, out_lengths = self.subsampling(x, lengths)  # (batch, time', hidden)
        if self.lookahead is not None:
            x = self.look_ahead(x, out_lengths)
        x = self.dropout(x)
        if self.config.chunk_size:
            x = self.rnn_chunked(x, out_lengths)  # (batch, time', 2 * hidden | projection)
        else:
            if inner:
                x, hidden = self.rnn_padded(x, out_lengths, capture=layer)
            else:
                x = self.rnn_packed(x, out_lengths) if x.is_cuda else self.rnn_padded(x, out_lengths)  # (b, t', 2h|p)
        logits = self.output(self.dropout(x))  # (batch, time', vocab)
        return AcousticOutput(torch.log_softmax(logits.float(), dim=-1), out_lengths), hidden if inner else x

    def look_ahead(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(batch, time', hidden) -> the same, each frame mixed with the next ``lookahead`` ones (zeros past an
        item's end, as when it is run alone or flushed at the end of a stream)."""
        if lengths is not None:
            x = x * (torch.arange(x.shape[1], device=x.device)[None, :] < lengths[:, None]).unsqueeze(-1)
        x = nn.functional.pad(x, (0, 0, 0, self.config.lookahead))  # (batch, time' + L, hidden)
        return self.mix_ahead(x)

    def mix_ahead(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, time' + lookahead, hidden) -> (batch, time', hidden): frame t mixed with frames t .. t + L."""
        return nn.functional.gelu(self.lookahead(x.transpose(1, 2))).transpose(1, 2)  # (batch, time', hidden)

    def rnn_packed(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The recurrent stack on packed sequences: cuDNN's fused multi-layer kernels (GPU)."""
        cpu_lengths = lengths.cpu()
        for i, rnn in enumerate(self.rnns):
            packed = pack_padded_sequence(x, cpu_lengths, batch_first=True, enforce_sorted=False)
            x, _ = pad_packed_sequence(rnn(packed)[0], batch_first=True, total_length=x.shape[1])  # (b, t', 2h)
            if self.projections:
                x = torch.tanh(self.projections[i](self.dropout(x)))
        return x

    def rnn_padded(self, x: torch.Tensor, lengths: torch.Tensor, capture: int | None = None):
        """The same stack, same weights, on the padded tensor (CPU): oneDNN runs padded LSTMs ~2.4x faster than
        packed ones. The forward direction never sees an item's padding before its last frame; the backward
        direction runs on each item reversed within its own length, so its padding comes last too. With
        ``capture`` (a 1-based layer): (the stack's output, that layer's output)."""
        done, captured = 0, None
        for i, rnn in enumerate(self.rnns):
            for layer in range(rnn.num_layers):
                if layer > 0:  # nn.LSTM's dropout between the layers of one fused module
                    x = nn.functional.dropout(x, rnn.dropout, self.training)
                forward, _ = run_direction(rnn, x, layer, "")
                if rnn.bidirectional:
                    backward, _ = run_direction(rnn, reverse_within(x, lengths), layer, "_reverse")
                    x = torch.cat([forward, reverse_within(backward, lengths)], dim=-1)  # (batch, time', 2 * hidden)
                else:
                    x = forward  # (batch, time', hidden)
                done += 1
                if done == capture and not self.projections:
                    captured = x
            if self.projections:
                x = torch.tanh(self.projections[i](self.dropout(x)))
                if done == capture:
                    captured = x
        return x if capture is None else (x, captured)

    def rnn_chunked(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The stack as a latency-controlled BiLSTM (asr/models/chunked.py), same weights; CPU and GPU."""
        chunk = self.config.chunk_size
        right = right_contexts(x, chunk, self.config.right_context)  # (batch, windows, right, hidden)
        for i, rnn in enumerate(self.rnns):
            for layer in range(rnn.num_layers):
                if layer > 0:
                    x = nn.functional.dropout(x, rnn.dropout, self.training)
                    right = nn.functional.dropout(right, rnn.dropout, self.training)
                x, right, _ = chunked_layer(rnn, layer, x, right, lengths, chunk)
            if self.projections:
                x = torch.tanh(self.projections[i](self.dropout(x)))
                right = torch.tanh(self.projections[i](self.dropout(right)))
        return x

