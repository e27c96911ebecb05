"""Latency-controlled bidirectional recurrences (LC-BLSTM; Zhang et al., "Highway long short-term memory RNNs for
distant speech recognition", 2016; Xue and Yan, 2017): the streaming form of the BiLSTM.

The output frames are cut into chunks of ``chunk`` frames. The forward direction runs over the whole input and
carries its state from chunk to chunk, as a left-to-right model does. The backward direction of chunk i starts from
zero at the end of a window of the chunk plus ``right`` frames of right context, so chunk i's outputs depend on the
input up to ``right`` frames past its end, and nothing later: a stream can emit a chunk as soon as its right context
has arrived. Each layer computes the right-context frames of every window anew from the lower layer's values *in that
window* (the lower layer's backward direction there saw only that window), so every frame is computed the same way
in training, in whole-input decoding and in a stream: the stream equals the whole-input pass
(tests/test_streaming.py).

Layout: ``main`` (batch, time, dim) holds each frame as computed in its own window; ``right`` (batch, windows, right,
dim) holds window i's right-context frames as computed in window i.
"""

from __future__ import annotations

import torch
from torch import nn

State = "tuple[torch.Tensor, torch.Tensor] | torch.Tensor"  # LSTM (h, c) | GRU h, each (1, batch, hidden)


def num_windows(frames: int, chunk: int) -> int:
    return max(1, -(-frames // chunk))


def right_contexts(x: torch.Tensor, chunk: int, right: int) -> torch.Tensor:
    """(batch, time, dim) input frames -> (batch, windows, right, dim): the ``right`` frames after each chunk
    (zeros past the end)."""
    b, t, d = x.shape
    n = num_windows(t, chunk)
    padded = nn.functional.pad(x, (0, 0, 0, n * chunk + right - t))  # (batch, n * chunk + right, dim)
    if right == 0:
        return padded.new_zeros(b, n, 0, d)
    return padded[:, chunk:].unfold(1, right, chunk).transpose(2, 3)  # (batch, n, right, dim)


def run_direction(rnn: nn.LSTM | nn.GRU, x: torch.Tensor, layer: int, suffix: str,
                  state: State | None = None) -> tuple[torch.Tensor, State]:
    """One direction of one layer of ``rnn`` over (batch, time, in) from ``state`` (zeros if None) -> (batch, time,
    hidden) and the final state."""
    names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    params = [getattr(rnn, f"{name}_l{layer}{suffix}") for name in names]
    if state is None:
        h0 = x.new_zeros(1, x.shape[0], rnn.hidden_size)
        state = (h0, h0) if isinstance(rnn, nn.LSTM) else h0
    # aten's signature: (input, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first)
    has_biases, num_layers, dropout, bidirectional, batch_first = True, 1, 0.0, False, True
    if isinstance(rnn, nn.LSTM):
        out, h, c = torch.lstm(x, state, params, has_biases, num_layers, dropout, rnn.training, bidirectional,
                               batch_first)
        return out, (h, c)
    out, h = torch.gru(x, state, params, has_biases, num_layers, dropout, rnn.training, bidirectional, batch_first)
    return out, h


def reverse_within(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """(batch, time, dim) -> each item's first ``lengths`` frames reversed, the rest in place (an involution)."""
    steps = torch.arange(x.shape[1], device=x.device)
    rev = lengths.to(x.device)[:, None] - 1 - steps[None, :]  # (batch, time)
    rev = torch.where(rev >= 0, rev, steps[None, :])
    return x.gather(1, rev[:, :, None].expand(-1, -1, x.shape[2]))


def _stack_states(states: list, batch: int) -> State:
    """Per-window states, each (1, batch, hidden) -> one (1, batch * windows, hidden), item-major."""
    def stack(parts: list[torch.Tensor]) -> torch.Tensor:
        return torch.stack(parts, dim=2).reshape(1, batch * len(parts), -1)

    if isinstance(states[0], tuple):
        return stack([s[0] for s in states]), stack([s[1] for s in states])
    return stack(states)


def chunked_layer(rnn: nn.LSTM | nn.GRU, layer: int, main: torch.Tensor, right: torch.Tensor,
                  lengths: torch.Tensor, chunk: int,
                  state: State | None = None) -> tuple[torch.Tensor, torch.Tensor, State]:
    """One bidirectional layer, latency-controlled.

    main (batch, time, in), right (batch, windows, right, in), lengths (batch,) -> main (batch, time, 2 * hidden),
    right (batch, windows, right, 2 * hidden), and the forward state after the last chunk (a stream carries it
    into its next window; ``state`` is the one it brings in).
    """
    b, t, _ = main.shape
    n, r = right.shape[1], right.shape[2]
    padded = nn.functional.pad(main, (0, 0, 0, n * chunk - t))  # (batch, n * chunk, in)
    # forward direction: chunk after chunk, carrying the state; each window's right context from its chunk's end
    outs, ends = [], []
    for i in range(n):
        out, state = run_direction(rnn, padded[:, i * chunk:(i + 1) * chunk], layer, "", state)
        outs.append(out)
        ends.append(state)
    fwd_main = torch.cat(outs, dim=1)[:, :t]  # (batch, time, hidden)
    if r:
        fwd_right, _ = run_direction(rnn, right.reshape(b * n, r, -1), layer, "", _stack_states(ends, b))
        fwd_right = fwd_right.reshape(b, n, r, -1)  # (batch, windows, right, hidden)
    else:
        fwd_right = right.new_zeros(b, n, 0, rnn.hidden_size)
    # backward direction: each window (chunk + right context) on its own, from its last valid frame
    windows = torch.cat([padded.reshape(b, n, chunk, -1), right], dim=2).reshape(b * n, chunk + r, -1)
    starts = torch.arange(n, device=lengths.device) * chunk
    valid = (lengths[:, None] - starts[None, :]).clamp(0, chunk + r).reshape(b * n)  # (batch * windows,)
    bwd, _ = run_direction(rnn, reverse_within(windows, valid), layer, "_reverse")
    bwd = reverse_within(bwd, valid).reshape(b, n, chunk + r, -1)  # (batch, windows, chunk + right, hidden)
    bwd_main = bwd[:, :, :chunk].reshape(b, n * chunk, -1)[:, :t]
    main = torch.cat([fwd_main, bwd_main], dim=-1)  # (batch, time, 2 * hidden)
    right = torch.cat([fwd_right, bwd[:, :, chunk:]], dim=-1)  # (batch, windows, right, 2 * hidden)
    return main, right, ends[-1]
