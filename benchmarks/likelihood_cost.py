#!/usr/bin/env python
"""The cost of log p(x) for every held-out image: what Compare's "Understand the VAE" waits for.

Times ``diagnostics.log_px_per_image`` over the 10,000 held-out Fashion-MNIST images with the shipped VAE
(latent_explorer/assets/fashion-mnist-latent2.pt, or --checkpoint) for several K, and the one-sample per-image ELBO
(``elbo_per_image``, one decoder pass per image) in the same run as the baseline: each K's time is also given
as a ratio to it, which moves less with the machine's load than the seconds do.

    python -m benchmarks.likelihood_cost [--samples 1 20 100] [--images 10000] [--threads N] [--checkpoint PATH]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch

from vae_core import diagnostics, load_checkpoint, load_dataset

REPO_ROOT = Path(__file__).resolve().parents[1]


def timed(compute) -> float:
    start = time.perf_counter()
    compute()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint",
                        default=str(REPO_ROOT / "latent_explorer" / "assets" / "fashion-mnist-latent2.pt"))
    parser.add_argument("--samples", type=int, nargs="+", default=[1, diagnostics.PAGE_LOG_PX_SAMPLES,
                                                                     diagnostics.LOG_PX_SAMPLES])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's own)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    pair = load_checkpoint(args.checkpoint)
    loss = pair.train_settings.get("vae", {}).get("loss", "bce")
    images = load_dataset(pair.dataset, download=False).images("test")[: args.images]
    print(f"{pair.dataset}: {len(images):,} held-out images, VAE latent {pair.vae.config.latent_dim}, "
          f"{torch.get_num_threads()} torch threads")
    print(f"load average before: {[round(x, 2) for x in os.getloadavg()]}")
    baseline = timed(lambda: diagnostics.elbo_per_image(pair.vae, images, loss))
    print(f"one-sample ELBO per image (baseline): {baseline:.2f} s")
    for k in args.samples:
        seconds = timed(lambda k=k: diagnostics.log_px_per_image(pair.vae, images, loss, samples=k))
        print(f"log p(x), K = {k:>3}: {seconds:7.2f} s, {seconds / baseline:6.1f}x the baseline")
    print(f"load average after: {[round(x, 2) for x in os.getloadavg()]}")


if __name__ == "__main__":
    main()
