"""Training-step time of the acoustic model's recurrent stack on CPU: asr's padded path (oneDNN LSTM kernels, each
item reversed within its length for the backward direction) against PyTorch's packed sequences (what the model did
before, and what most toolkits do), same weights, same batches, in one run.

    python tools/bench_rnn.py [--layers 3] [--hidden 256] [--batch 11] [--frames 117] [--rnn lstm] [--steps 10]
"""

from __future__ import annotations

import argparse
import time

import torch

from asr.models.acoustic import AcousticConfig, AcousticModel


def step_time(fn, x, lengths, steps: int) -> float:
    fn(x, lengths).sum().backward()  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        fn(x, lengths).sum().backward()
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--batch", type=int, default=11, help="utterances per batch (mini: ~11 of 40 s)")
    parser.add_argument("--frames", type=int, default=117, help="longest item, frames after subsampling")
    parser.add_argument("--rnn", default="lstm", choices=["lstm", "gru"])
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = AcousticModel(AcousticConfig(num_layers=args.layers, hidden_size=args.hidden, rnn=args.rnn)).train()
    model.dropout.p = 0.0
    x = torch.randn(args.batch, args.frames, args.hidden, requires_grad=True)
    lengths = torch.randint(int(args.frames * 0.75), args.frames + 1, (args.batch,))
    lengths[0] = args.frames
    padded = step_time(model.rnn_padded, x, lengths, args.steps)
    packed = step_time(model.rnn_packed, x, lengths, args.steps)
    print(f"{args.rnn} {args.layers}x{args.hidden}, batch {args.batch} x {args.frames} frames, "
          f"{torch.get_num_threads()} threads, forward + backward per batch:")
    print(f"  asr padded path : {1000 * padded:7.1f} ms")
    print(f"  packed sequences: {1000 * packed:7.1f} ms")
    print(f"  speed-up        : {packed / padded:.2f}x")


if __name__ == "__main__":
    main()
