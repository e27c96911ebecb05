"""Training throughput of an experiment's acoustic model, against a plain-PyTorch BiLSTM-CTC peer, in one run.

asr's step is what `asr train` runs (asr.training.ctc_system.CTCSystem: normalization, subsampling, the recurrent
stack, fp32 CTC, backward, gradient clipping, Adam); the peer is the textbook model of the same size written with
nothing but torch (strided Conv1d, nn.LSTM on packed sequences, Linear, F.ctc_loss), as deepspeech.pytorch-style
code does it. Both get the same batches: ``--batch-seconds`` of audio in utterances of about ``--utt-seconds``
(bucketed, as lhotse's sampler makes them), random features and transcripts at 15 characters a second. Prints ms per
step, hours of audio trained per hour, the asr/peer ratio and the hours an epoch of 100 h and 960 h would take.
With ``--cuts`` it also measures how much audio the data loader (feature extraction + the experiment's augmentation,
``--num-workers`` processes) supplies per second, against what the step consumes.

    python tools/bench_train.py --experiment librispeech_100 --device cuda --precision bf16-mixed 32-true 16-mixed
    python tools/bench_train.py --experiment general --device cpu --batch-seconds 40 --steps 1 \
        --cuts data/en/manifests/librispeech_cuts_train-clean-5.jsonl.gz --num-workers 1 data.manifest_dir=data/en/manifests

On a CPU the peer's packed sequences take PyTorch's slow generic LSTM path (tools/bench_rnn.py compares the two
recurrent paths there), so keep --steps small.
"""

from __future__ import annotations

import argparse
import time
from contextlib import nullcontext

import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from asr.data import Batch
from asr.text import DEFAULT_TOKENS
from asr.training.ctc_system import CTCSystem
from asr.training.launch import config_dir

DTYPES = {"32-true": None, "bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}


class PeerModel(nn.Module):
    """The same network in plain PyTorch: conv subsampling, fused nn.LSTM on packed sequences, linear, CTC."""

    def __init__(self, n_mels: int, factor: int, hidden: int, layers: int, dropout: float, vocab: int, rnn: str):
        super().__init__()
        self.factor = factor
        self.conv = nn.Conv1d(n_mels, hidden, kernel_size=factor, stride=factor)
        cls = nn.LSTM if rnn == "lstm" else nn.GRU
        self.rnn = cls(hidden, hidden, num_layers=layers, bidirectional=True, batch_first=True, dropout=dropout)
        self.out = nn.Linear(2 * hidden, vocab)

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.gelu(self.conv(F.pad(feats, (0, 0, 0, self.factor - 1)).transpose(1, 2))).transpose(1, 2)  # (b, t', h)
        out_lengths = (lengths + self.factor - 1) // self.factor
        packed = pack_padded_sequence(x, out_lengths.cpu(), batch_first=True, enforce_sorted=False)
        x, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True, total_length=x.shape[1])  # (b, t', 2h)
        return torch.log_softmax(self.out(x).float(), dim=-1), out_lengths


def make_batch(seconds: float, utt_seconds: float, n_mels: int, device: str, seed: int) -> Batch:
    g = torch.Generator().manual_seed(seed)
    n = max(1, int(seconds // utt_seconds))
    durations = utt_seconds * (0.9 + 0.1 * torch.rand(n, generator=g))  # one bucket: similar lengths
    frames = (durations * 100).long()  # 10 ms frames
    feats = torch.randn(n, int(frames.max()), n_mels, generator=g)
    token_lengths = (durations * 15).long()
    tokens = torch.randint(1, len(DEFAULT_TOKENS), (n, int(token_lengths.max())), generator=g)
    return Batch(feats.to(device), frames.to(device), tokens.to(device), token_lengths.to(device),
                 ["X"] * n, [str(i) for i in range(n)], 0)


def time_steps(step, steps: int, device: str) -> float:
    for _ in range(2):  # warm-up: cuDNN plans, allocator
        step()
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    sync()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    return (time.perf_counter() - start) / steps


def make_step(model: nn.Module, loss_fn, batch: Batch, precision: str, device: str, clip: float):
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    dtype = DTYPES[precision]
    scaler = torch.amp.GradScaler(device.split(":")[0], enabled=dtype is torch.float16)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.split(":")[0], dtype=dtype) if dtype else nullcontext():
            loss = loss_fn(batch)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        scaler.step(optimizer)
        scaler.update()
    return step


def loader_throughput(cfg, cuts_path: str, num_workers: int, batches: int) -> float:
    """Seconds of audio per second that the training data loader delivers with the experiment's augmentation."""
    from asr.cuts import load_cuts
    from asr.data import AsrDataset, make_loader
    from asr.features import FeatureConfig
    from asr.text import Tokenizer

    data = cfg.data
    plain = lambda c: OmegaConf.to_container(c, resolve=True) if c is not None else None  # noqa: E731
    dataset = AsrDataset(Tokenizer(DEFAULT_TOKENS), FeatureConfig(**plain(cfg.features)), list(data.speed_perturb or []),
                         plain(data.spec_augment), plain(data.get("noise")), plain(data.get("augment")), cfg.seed)
    cuts = load_cuts(cuts_path)
    cuts = cuts.repeat(max(1, int(batches * data.max_duration / sum(c.duration for c in cuts)) + 1))
    loader = make_loader(cuts, dataset, data.max_duration, shuffle=True, num_buckets=data.num_buckets,
                         num_workers=num_workers)
    it = iter(loader)
    next(it)  # workers started
    start, audio = time.perf_counter(), 0.0
    for _ in range(batches):
        batch = next(it)
        audio += float(batch.feature_lengths.sum()) / 100
    return audio / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--experiment", default="librispeech_100", help="conf/experiment/NAME.yaml")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", nargs="+", default=["bf16-mixed"], choices=list(DTYPES))
    parser.add_argument("--batch-seconds", type=float, help="audio per batch (default: the experiment's max_duration)")
    parser.add_argument("--utt-seconds", type=float, default=15.0, help="utterance length (LibriSpeech: 12 s mean)")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--cuts", help="a CutSet to measure the data loader on (with the experiment's augmentation)")
    parser.add_argument("--num-workers", type=int, help="loader processes (default: the experiment's)")
    parser.add_argument("--loader-batches", type=int, default=20)
    parser.add_argument("overrides", nargs="*", help="more config overrides, e.g. data.manifest_dir=data/en/manifests")
    args = parser.parse_args()

    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose(config_name="train", overrides=[f"experiment={args.experiment}", *args.overrides])
    m = OmegaConf.to_container(cfg.model, resolve=True)
    seconds = args.batch_seconds or float(cfg.data.max_duration)
    batch = make_batch(seconds, args.utt_seconds, m["n_mels"], args.device, seed=0)
    clip = float(cfg.optim.get("grad_clip") or 5.0)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True  # Lightning's default on Ampere+
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else f"CPU, {torch.get_num_threads()} threads"
    print(f"{args.experiment}: {m['rnn']} {m['num_layers']} x {m['hidden_size']}, {m['subsampling']} x"
          f"{m['subsampling_factor']}; batch {len(batch.texts)} x {seconds / len(batch.texts):.1f} s "
          f"= {float(batch.feature_lengths.sum()) / 100:.0f} s of audio; {name}; torch {torch.__version__}")

    audio = float(batch.feature_lengths.sum()) / 100
    for precision in args.precision:
        torch.manual_seed(0)
        system = CTCSystem(model=m, optim=OmegaConf.to_container(cfg.optim, resolve=True),
                           tokens=DEFAULT_TOKENS).to(args.device).train()
        ours = time_steps(make_step(system, lambda b: system.ctc_loss(b)[0], batch, precision, args.device, clip),
                          args.steps, args.device)
        params = sum(p.numel() for p in system.parameters())
        del system
        peer = PeerModel(m["n_mels"], m["subsampling_factor"], m["hidden_size"], m["num_layers"], m["dropout"],
                         len(DEFAULT_TOKENS), m["rnn"]).to(args.device).train()

        def peer_loss(b: Batch) -> torch.Tensor:
            log_probs, lengths = peer(b.features, b.feature_lengths)
            with torch.autocast(args.device.split(":")[0], enabled=False):
                loss = F.ctc_loss(log_probs.float().transpose(0, 1), b.tokens, lengths, b.token_lengths,
                                  reduction="sum", zero_infinity=True)
            return loss / len(b.texts)

        theirs = time_steps(make_step(peer, peer_loss, batch, precision, args.device, clip), args.steps, args.device)
        memory = ""
        if args.device.startswith("cuda"):
            memory = f", peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB"
            torch.cuda.reset_peak_memory_stats()
        del peer
        speed = audio / ours  # seconds of audio per second
        print(f"  {precision:>10}: asr {1000 * ours:7.1f} ms/step, plain PyTorch {1000 * theirs:7.1f} ms/step, "
              f"asr/peer time ratio {ours / theirs:.2f}; {speed:.0f}x real time ({params / 1e6:.1f} M parameters"
              f"{memory}); an epoch of 100 h: {100 / speed * 60:.1f} min, of 960 h: {960 / speed * 60:.1f} min")
        if args.cuts:
            workers = args.num_workers if args.num_workers is not None else int(cfg.data.num_workers)
            supply = loader_throughput(cfg, args.cuts, workers, args.loader_batches)
            print(f"  data loader ({workers} workers, the experiment's augmentation): {supply:.0f} s of audio per "
                  f"second, {supply / speed:.2f}x what the {precision} step consumes")
            args.cuts = None  # once


if __name__ == "__main__":
    main()
