#!/usr/bin/env python
"""What the training replay costs: the bytes the browser receives when a replay is opened, per shipped pair, and
the training time of recording it, as a ratio to the same training without it, measured in the same run.

Training time: ``train_pair`` on one dataset, with and without ``record_replay``, alternated for several rounds
(the order swapped each round), the median of each. The load average is read before and after.

    python -m benchmarks.replay_cost [--dataset digits] [--epochs 60] [--rounds 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import torch

from benchmarks.readme import write_section
from latent_explorer.replay import replay_pack
from vae_core import load_checkpoint, load_dataset
from vae_core.data import is_available
from vae_core.pairs import JobSpec, train_pair
from vae_core.training import TrainConfig
from vae_core.workspace import Workspace

REPO_ROOT = Path(__file__).resolve().parents[1]
HEADING = "## Training replay: payload and recording cost"
SHIPPED = ("digits-latent2.pt", "fashion-mnist-latent2.pt", "fashion-mnist-conv-latent2.pt")


def payloads() -> list[str]:
    rows = []
    for name in SHIPPED:
        pair = load_checkpoint(REPO_ROOT / "latent_explorer" / "assets" / name)
        if not is_available(pair.dataset):
            rows.append(f"| `{name}` | dataset not on this machine | | |")
            continue
        ws = Workspace(pair, load_dataset(pair.dataset, download=False), label=name)
        epochs = ws.replay_epochs(ws.main_kind)
        if epochs is None:
            rows.append(f"| `{name}` | no replay (trained before replays were kept) | | |")
            continue
        pack = replay_pack(ws, ws.main_kind)
        rows.append(f"| `{name}` | {len(epochs)} frames × {len(ws):,} images | {len(pack.data):,} | "
                    f"{len(pack.data) / len(epochs) / len(ws):.2f} |")
    return rows


def training_seconds(spec: JobSpec, dataset, record: bool) -> float:
    start = time.perf_counter()
    train_pair(spec, dataset, record_replay=record)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--no-readme", action="store_true", help="print only; leave benchmarks/README.md alone")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    rows = payloads()
    dataset = load_dataset(args.dataset, download=False)
    spec = JobSpec(args.dataset, latent_dim=2, hidden_dim=None,
                   train=TrainConfig(epochs=args.epochs, seed=0, device="cpu"))
    times = {True: [], False: []}
    for round_ in range(args.rounds):
        for record in ((True, False) if round_ % 2 == 0 else (False, True)):
            times[record].append(training_seconds(spec, dataset, record))
            print(f"round {round_ + 1}: {'with' if record else 'without'} replay {times[record][-1]:.2f} s",
                  flush=True)
    load_after = os.getloadavg()
    with_s, without_s = statistics.median(times[True]), statistics.median(times[False])
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    section = "\n".join([
        HEADING, "",
        "`python -m benchmarks.replay_cost` (`benchmarks/replay_cost.py`). Each model's held-out codes after every",
        "epoch are copied from the evaluation that ends the epoch (no extra pass over the images), kept as float16,",
        "and sent to the browser only when the replay is opened: one pack of uint16 map coordinates,",
        "frames × images × 2 × 2 bytes plus a small header (a 30-epoch Fashion-MNIST replay of 10,000 images",
        "would be 1.2 MB).", "",
        f"- Date: {stamp}; load average {[round(v, 2) for v in load_before]} before, "
        f"{[round(v, 2) for v in load_after]} after (`uptime`)",
        f"- Machine: {os.cpu_count()} logical CPUs, {args.threads} torch thread(s)", "",
        "| shipped pair | replay | bytes sent when opened | bytes per point and frame |",
        "|---|---|---|---|", *rows, "",
        f"Recording cost: `train_pair` of the {args.dataset} AE + VAE (the shipped pair's sizes), {args.epochs} "
        f"epochs, {args.rounds} rounds alternating, median:", "",
        "| training | median s | × without | fastest to slowest round, s |", "|---|---|---|---|",
        f"| without replay (baseline) | {without_s:.2f} | 1.00 | {min(times[False]):.2f} to {max(times[False]):.2f} |",
        f"| with replay | {with_s:.2f} | {with_s / without_s:.3f} | {min(times[True]):.2f} to {max(times[True]):.2f} |",
        "",
        "Where the rounds spread wider than the two medians differ, the recording's cost is below what this run",
        "could measure.", "",
        "Same seed, same weights with or without the recording (tests/core/test_replay.py).",
    ])
    print(section)
    if not args.no_readme:
        write_section(HEADING, section)


if __name__ == "__main__":
    main()
