"""Character-level LSTM language model over the acoustic model's token set (a plain nn.Module).

The CTC blank (id 0) never occurs in text, so the LM uses it as the sentence boundary: a sentence is scored as
``<s> c1 ... cn </s>`` with ``<s> = </s> = 0``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.rnn import pad_sequence

BOUNDARY = 0


@dataclass
class LMConfig:
    vocab_size: int = 29
    embed_dim: int = 256
    hidden_size: int = 512
    num_layers: int = 2
    dropout: float = 0.2
    tie_weights: bool = False  # share the embedding and output matrices (needs embed_dim == hidden_size)


class CharLM(nn.Module):
    """tokens (batch, time) + lengths -> next-token logits (batch, time, vocab)."""

    def __init__(self, config: LMConfig):
        super().__init__()
        if config.tie_weights and config.embed_dim != config.hidden_size:
            raise ValueError(f"tie_weights needs embed_dim == hidden_size, got {config.embed_dim} and "
                             f"{config.hidden_size}")
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.embed_dim)
        self.rnn = nn.LSTM(config.embed_dim, config.hidden_size, num_layers=config.num_layers, batch_first=True,
                           dropout=config.dropout if config.num_layers > 1 else 0.0)
        self.dropout = nn.Dropout(config.dropout)
        self.output = nn.Linear(config.hidden_size, config.vocab_size)
        if config.tie_weights:
            self.output.weight = self.embed.weight

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        # A left-to-right LSTM never sees an item's padding before its last token, so it runs on the padded tensor
        # (oneDNN's fast path on CPU; packing would only slow it down). ``lengths`` matter to the loss, not here.
        x = self.dropout(self.embed(tokens))  # (batch, time, embed)
        h, _ = self.rnn(x)  # (batch, time, hidden)
        return self.output(self.dropout(h))  # (batch, time, vocab)

    def initial_state(self, batch: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """The LSTM state before any token: (h, c), each (layers, batch, hidden), zeros."""
        zeros = torch.zeros(self.config.num_layers, batch, self.config.hidden_size, device=self.output.weight.device)
        return zeros, zeros.clone()

    def step(self, tokens: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]
             ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """One token per item (batch,) after ``state`` -> next-token log-probs (batch, vocab) and the new state."""
        x = self.embed(tokens)[:, None]  # (batch, 1, embed)
        out, state = self.rnn(x, state)  # (batch, 1, hidden)
        return torch.log_softmax(self.output(out[:, 0]).float(), dim=-1), state


def make_lm_batch(sequences: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Token-id sentences -> (inputs ``<s> c1..cn``, targets ``c1..cn </s>``, lengths n+1), padded with 0."""
    inputs = [torch.tensor([BOUNDARY, *s], dtype=torch.long) for s in sequences]
    targets = [torch.tensor([*s, BOUNDARY], dtype=torch.long) for s in sequences]
    lengths = torch.tensor([len(s) + 1 for s in sequences], dtype=torch.long)
    return pad_sequence(inputs, batch_first=True), pad_sequence(targets, batch_first=True), lengths


def token_log_probs(model: CharLM, inputs: torch.Tensor, targets: torch.Tensor,
                    lengths: torch.Tensor) -> torch.Tensor:
    """Log-probability of each target token (batch, time); 0 on padding."""
    logp = torch.log_softmax(model(inputs, lengths).float(), dim=-1)
    picked = logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)  # (batch, time)
    mask = torch.arange(targets.shape[1], device=targets.device)[None, :] < lengths[:, None]
    return picked * mask
