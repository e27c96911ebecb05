"""The streaming acoustic model run piece by piece: log-mel frames in, CTC log-probs out as soon as the model's
future context allows, with the recurrent state carried between pieces. Two kinds of model stream: a left-to-right
one (``bidirectional: false``, ``lookahead`` frames of future context) and a latency-controlled BiLSTM
(``chunk_size`` > 0: a chunk is emitted once its ``right_context`` frames have arrived; asr/models/chunked.py).
Only a few frames are held (a partial subsampling window, the look-ahead or the window being filled), so memory
does not grow with the stream. Equal to the whole-input forward pass of the same model (tests/test_streaming.py);
global normalization only (a stream has no utterance mean)."""

from __future__ import annotations

import torch

from asr.models.acoustic import AcousticConfig, AcousticModel
from asr.models.chunked import chunked_layer


def streaming_problem(c: AcousticConfig) -> str | None:
    """Why a model with config ``c`` cannot stream, or None."""
    if c.encoder:
        return "a model with the Whisper encoder reads whole utterances (of up to 29 s at a time): it does not stream"
    if c.bidirectional and not c.chunk_size:
        return ("this model is bidirectional over the whole input: it needs all of it before it can emit anything; "
                "streaming needs a chunked one (model=blstm_chunked, `--streaming` in the recipe) or a "
                "left-to-right one (model=lstm_stream)")
    if c.normalization != "global":
        return (f"streaming needs global normalization (a stream has no utterance mean), this model has "
                f"{c.normalization!r}")
    return None


class StreamingAcoustic:
    def __init__(self, model: AcousticModel):
        c = model.config
        problem = streaming_problem(c)
        if problem:
            raise ValueError(problem)
        self.model = model.eval()
        self.factor, self.lookahead = c.subsampling_factor, c.lookahead
        self.feats = torch.zeros(0, c.n_mels)  # normalized frames not yet in a whole subsampling window
        self.ahead = torch.zeros(0, c.hidden_size)  # subsampled frames waiting for their look-ahead / window
        self.states: list = [None] * len(model.rnns)  # each recurrent module's (h, c) / h
        self.chunk, self.right = c.chunk_size, c.right_context
        self.layer_states: list = [None] * sum(rnn.num_layers for rnn in model.rnns)  # chunked: forward states
        self.emitted = 0  # output frames so far

    @torch.inference_mode()
    def accept(self, feats: torch.Tensor) -> torch.Tensor:
        """(frames, mel) log-mel -> (frames', vocab) log-probs of the output frames now complete."""
        m = self.model
        x = m.smoothing(m.normalizer(feats[None], torch.tensor([len(feats)]))[0])  # (frames, mel), global stats
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
        if self.chunk:
            return self._windows(sub, final)
        if not self.lookahead:
            return self._recurrent(sub)
        x = torch.cat([self.ahead, sub])  # (frames', hidden)
        if final:  # the zeros the whole-input pass puts past an item's end
            x = torch.cat([x, x.new_zeros(self.lookahead, x.shape[1])])
        ready = len(x) - self.lookahead
        if ready <= 0:
            self.ahead = x
            return self._recurrent(x[:0])
        y = self.model.mix_ahead(x[None])[0]  # (ready, hidden): frame t from frames t .. t + lookahead
        self.ahead = x[ready:] if not final else x[:0]
        return self._recurrent(y)

    def _windows(self, sub: torch.Tensor, final: bool) -> torch.Tensor:
        """Chunked model: every window (chunk + right context) now whole, or at the end all that is left."""
        x, out = torch.cat([self.ahead, sub]), []  # (frames', hidden)
        while len(x) >= self.chunk + self.right or (final and len(x)):
            out.append(self._window(x[:self.chunk + self.right]))
            x = x[self.chunk:]
        self.ahead = x
        return torch.cat(out) if out else torch.zeros(0, self.model.config.vocab_size)

    def _window(self, x: torch.Tensor) -> torch.Tensor:
        """(frames', hidden), at most chunk + right context -> the chunk's (min(frames', chunk), vocab) log-probs."""
        m, chunk = self.model, self.chunk
        main, right, lengths = x[None, :chunk], x[None, None, chunk:], torch.tensor([len(x)])
        k = 0
        for i, rnn in enumerate(m.rnns):
            for layer in range(rnn.num_layers):
                main, right, self.layer_states[k] = chunked_layer(rnn, layer, main, right, lengths, chunk,
                                                                  self.layer_states[k])
                k += 1
            if m.projections:
                main, right = torch.tanh(m.projections[i](main)), torch.tanh(m.projections[i](right))
        self.emitted += main.shape[1]
        return torch.log_softmax(m.output(main).float(), dim=-1)[0]  # (frames', vocab)

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
