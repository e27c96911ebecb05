"""The streaming acoustic model run chunk by chunk: log-mel frames in, CTC log-probs out as soon as the look-ahead
allows, with the recurrent state carried between chunks. Only a few frames are held (a partial subsampling window
and the look-ahead), so memory does not grow with the stream. Equal to the whole-input forward pass of the same
model (tests/test_streaming.py), for a left-to-right model (``bidirectional: false``) with global normalization."""

from __future__ import annotations

import torch
from torch import nn

from asr.models.acoustic import AcousticModel


class StreamingAcoustic:
    def __init__(self, model: AcousticModel):
        c = model.config
        if c.bidirectional:
            raise ValueError("this model is bidirectional: it needs the whole input before it can emit anything; "
                             "streaming needs a left-to-right one (model=lstm_stream, `--streaming` in the recipe)")
        if c.normalization != "global":
            raise ValueError(f"streaming needs global normalization (a stream has no utterance mean), this model "
                             f"has {c.normalization!r}")
        self.model = model.eval()
        self.factor, self.lookahead = c.subsampling_factor, c.lookahead
        self.feats = torch.zeros(0, c.n_mels)  # normalized frames not yet in a whole subsampling window
        self.ahead = torch.zeros(0, c.hidden_size)  # subsampled frames waiting for their look-ahead
        self.states: list = [None] * len(model.rnns)  # each recurrent module's (h, c) / h
        self.emitted = 0  # output frames so far

    @torch.inference_mode()
    def accept(self, feats: torch.Tensor) -> torch.Tensor:
        """(frames, mel) log-mel -> (frames', vocab) log-probs of the output frames now complete."""
        m = self.model
        x = (feats - m.normalizer.mean) / m.normalizer.std  # (frames, mel)
        self.feats = torch.cat([self.feats, x])
        whole = len(self.feats) // self.factor * self.factor
        if whole == 0:
            return self._recurrent(torch.zeros(0, m.config.hidden_size))
        x, self.feats = self.feats[:whole], self.feats[whole:]
        sub, _ = m.subsampling(x[None], torch.tensor([whole]))  # (1, whole / factor, hidden)
        return self._look_ahead(sub[0], final=False)

    @torch.inference_mode()
    def flush(self) -> torch.Tensor:
        """The last output frames: a partial subsampling window zero-padded, the look-ahead past the end zeros."""
        m = self.model
        out = []
        if len(self.feats):
            sub, _ = m.subsampling(self.feats[None], torch.tensor([len(self.feats)]))  # (1, 1, hidden)
            self.feats = self.feats[:0]
            out.append(self._look_ahead(sub[0], final=False))
        out.append(self._look_ahead(torch.zeros(0, m.config.hidden_size), final=True))
        return torch.cat(out)

    def _look_ahead(self, sub: torch.Tensor, final: bool) -> torch.Tensor:
        if not self.lookahead:
            return self._recurrent(sub)
        x = torch.cat([self.ahead, sub])  # (frames', hidden)
        if final:  # the zeros the whole-input pass puts past an item's end
            x = torch.cat([x, x.new_zeros(self.lookahead, x.shape[1])])
        ready = len(x) - self.lookahead
        if ready <= 0:
            self.ahead = x
            return self._recurrent(x[:0])
        conv = self.model.lookahead
        y = nn.functional.gelu(conv(x.T[None]))[0].T  # (ready, hidden): frame t from frames t .. t + lookahead
        self.ahead = x[ready:] if not final else x[:0]
        return self._recurrent(y)

    def _recurrent(self, x: torch.Tensor) -> torch.Tensor:
        m = self.model
        if len(x) == 0:
            return torch.zeros(0, m.config.vocab_size)
        x = x[None]  # (1, frames', hidden)
        for i, rnn in enumerate(m.rnns):
            x, self.states[i] = rnn(x, self.states[i])
            if m.projections:
                x = torch.tanh(m.projections[i](x))
        self.emitted += x.shape[1]
        return torch.log_softmax(m.output(x).float(), dim=-1)[0]  # (frames', vocab)
