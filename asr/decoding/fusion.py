"""Shallow fusion: the character LSTM LM inside flashlight-text's beam search (its Python ``LM`` interface).

The decoder asks ``score(state, token)`` for every hypothesis it extends at every frame. Calling the LSTM there, once
per call, would cost a network step per (hypothesis, token, frame). Instead each LM state holds the log-probs of the
next token, and a new state (a prefix extended by one token) is only *registered*; the LSTM steps of all registered
states run together, as one batch, the first time any of them is asked for. In practice that is one batched LSTM
step per frame with new characters, over the few dozen prefixes the beam created in the frame before.
"""

from __future__ import annotations

import torch
from flashlight.lib.text.decoder import LM, LMState

from asr.models.lm import BOUNDARY, CharLM


class FusionLM(LM):
    """A CharLM as a flashlight LM: log P(token | prefix), including the end of sentence at ``finish``."""

    def __init__(self, lm: CharLM):
        LM.__init__(self)
        self.lm = lm.eval()
        # state -> (h, c) of shape (layers, hidden) after its prefix, and its next-token log-probs
        self._states: dict[LMState, tuple[torch.Tensor, torch.Tensor, list[float]]] = {}
        self._pending: dict[LMState, tuple[LMState, int]] = {}  # registered state -> (parent, token)
        self.steps = 0  # LSTM steps run (batched), for measurements

    @torch.inference_mode()
    def _run(self, parents_hidden: list[tuple[torch.Tensor, torch.Tensor]], tokens: list[int]
             ) -> tuple[torch.Tensor, torch.Tensor, list[list[float]]]:
        h = torch.stack([p[0] for p in parents_hidden], dim=1)  # (layers, batch, hidden)
        c = torch.stack([p[1] for p in parents_hidden], dim=1)
        logp, (h, c) = self.lm.step(torch.tensor(tokens, device=h.device), (h, c))  # (batch, vocab)
        self.steps += len(tokens)
        return h, c, logp.cpu().tolist()

    def _flush(self) -> None:
        states = list(self._pending)
        parents = [self._pending[s] for s in states]
        h, c, logps = self._run([self._states[p][:2] for p, _ in parents], [t for _, t in parents])
        for i, state in enumerate(states):
            self._states[state] = (h[:, i], c[:, i], logps[i])
        self._pending.clear()

    def start(self, start_with_nothing: bool) -> LMState:
        self._states.clear(), self._pending.clear()
        state = LMState()
        h0, c0 = self.lm.initial_state(1)
        h, c, logps = self._run([(h0[:, 0], c0[:, 0])], [BOUNDARY])  # after <s>
        self._states[state] = (h[:, 0], c[:, 0], logps[0])
        return state

    def _log_probs(self, state: LMState) -> list[float]:
        if state not in self._states:
            self._flush()
        return self._states[state][2]

    def score(self, state: LMState, token: int) -> tuple[LMState, float]:
        logp = self._log_probs(state)[token]
        child = state.child(token)  # flashlight keeps one child object per (state, token)
        if child not in self._states and child not in self._pending:
            self._pending[child] = (state, token)
        return child, logp

    def finish(self, state: LMState) -> tuple[LMState, float]:
        return state, self._log_probs(state)[BOUNDARY]
