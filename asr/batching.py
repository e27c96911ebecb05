"""Length bucketing: items sorted by size into batches whose padded size (longest x count) stays within a budget.
Used for inference audio (samples) and LM sentences (tokens) alike."""

from __future__ import annotations


def length_batches(sizes: list[int], budget: float) -> list[list[int]]:
    """Indices of ``sizes`` in length-sorted batches whose padded size (longest x count) stays within ``budget``
    (an item larger than the budget gets a batch of its own)."""
    batches, batch = [], []
    for j in sorted(range(len(sizes)), key=sizes.__getitem__):
        if batch and sizes[j] * (len(batch) + 1) > budget:
            batches.append(batch)
            batch = []
        batch.append(j)
    return batches + [batch] if batch else batches
