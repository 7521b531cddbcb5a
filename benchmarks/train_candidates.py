#!/usr/bin/env python
"""Speed-up candidates for vae_core's training step, timed A/B in one process.

Each candidate is a complete training step (batch gather, forward, loss,
backward, Adam, and the subnormal flush every 16 steps) of the benchmark's
784-400-20 VAE (or, with ``--arch conv``, the shipped convolutional VAE's
layout) on Fashion-MNIST, batch 128, from the same initial weights. The
candidates run in turns of ``--steps`` steps, round after round, so background
load that comes and goes hits all of them alike; the table gives each one's
median time per step over the rounds (wall and this process's CPU time) and
that median times the 469 steps of an epoch. The first 20 steps of each
candidate are timed apart: they include torch.compile's whole compilation
(from an empty cache) for the compiled candidates.

    python -m benchmarks.train_candidates [--rounds 5] [--steps 100] [--threads N] [--arch mlp|conv]
                                          [--only NAME ...]

The candidates (``--list`` prints them) are the attempts recorded in
benchmarks/README.md; ``shipped`` is what vae_core.training does now.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
import types
from collections.abc import Callable

import torch
import torch.nn.functional as F

from vae_core import training
from vae_core.data import load_dataset
from vae_core.losses import kl_divergence, reconstruction_nll
from vae_core.models import ModelConfig
from vae_core.training import new_model

MODEL_CONFIGS = {
    "mlp": ModelConfig(kind="vae", input_shape=(1, 28, 28), hidden_dim=400, latent_dim=20),
    # The shipped convolutional VAE's layout.
    "conv": ModelConfig(kind="vae", input_shape=(1, 28, 28), hidden_dim=64, latent_dim=2, architecture="conv"),
}
model_config = MODEL_CONFIGS["mlp"]
BATCH = 128
STEPS_PER_EPOCH = math.ceil(60_000 / BATCH)


def bce_with_logits(logits, x):
    """The loss as vae_core computed it before: torch's binary_cross_entropy_with_logits."""
    return F.binary_cross_entropy_with_logits(logits.flatten(1), x.flatten(1), reduction="none").sum(1)


class ReparameterizeWithKL(torch.autograd.Function):
    """z = mu + sigma * eps and KL(q || p) per image in one autograd node (candidate, dropped)."""

    @staticmethod
    def forward(ctx, mu, logvar, eps):
        variance = logvar.exp()
        noise = variance.sqrt() * eps
        ctx.save_for_backward(mu, variance, noise)
        return mu + noise, 0.5 * (mu * mu + variance - logvar - 1.0).sum(-1)

    @staticmethod
    def backward(ctx, grad_z, grad_kl):
        mu, variance, noise = ctx.saved_tensors
        grad_kl = grad_kl[:, None]
        return grad_z + grad_kl * mu, 0.5 * (grad_z * noise + grad_kl * (variance - 1.0)), None


def make_step(loss_terms: str, bf16: bool, adam: str = "torch", compile_step: bool = False,
              onednn_bf16: bool = False, uint8_batches: bool = False) -> Callable:
    """A training step over (images, batch indices) with its own model, optimizer and generator."""
    model = new_model(model_config, seed=0)
    optimizer = training._adam(model.parameters(), 1e-3)
    generator = torch.Generator().manual_seed(0)
    params = list(model.parameters())

    def losses(x):
        if loss_terms == "shipped":
            return training._batch_losses(model, x, "bce", generator, "bf16" if bf16 else "fp32")
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            mu, logvar = (t.float() for t in model.encode(x))
            eps = torch.randn(mu.shape, generator=generator)
            if loss_terms == "reparam-kl-node":
                z, kl = ReparameterizeWithKL.apply(mu, logvar, eps)
            else:
                z, kl = mu + torch.exp(0.5 * logvar) * eps, None
            logits = model.decode_logits(z)
        if kl is None:
            kl = kl_divergence(mu, logvar)
        nll = bce_with_logits if loss_terms == "torch-bce" else reconstruction_nll
        return nll(logits.float(), x), kl

    def adam_step():
        if adam == "torch":
            optimizer.step()
            return
        # The fused kernel called directly with lists built once: no Optimizer.step wrapper.
        state = [optimizer.state[p] for p in params]
        if not state[0]:
            optimizer.step()  # the first step creates the moments
            return
        for s in state:
            s["step"] += 1
        torch._fused_adam_(params, [p.grad for p in params], [s["exp_avg"] for s in state],
                           [s["exp_avg_sq"] for s in state], [], [s["step"] for s in state], amsgrad=False,
                           lr=1e-3, beta1=0.9, beta2=0.999, weight_decay=0.0, eps=1e-8, maximize=False)

    def step(x):
        reconstruction, kl = losses(x)
        loss = reconstruction.sum() + kl.sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        adam_step()
        return loss.detach()

    if compile_step:
        step = torch.compile(step)
    count = 0

    def counted_step(images, indices):
        nonlocal count
        if uint8_batches:  # the dataset kept as bytes (a quarter of the memory), each batch converted
            x = torch.index_select(images.raw, 0, indices).float().div_(255.0)
        else:
            x = torch.index_select(images.floats, 0, indices)
        if onednn_bf16:  # oneDNN may compute float32 products with bfloat16 inside; process-wide, so set per step
            torch.backends.mkldnn.matmul.fp32_precision = "bf16"
            try:
                step(x)
            finally:
                torch.backends.mkldnn.matmul.fp32_precision = "none"
        else:
            step(x)
        count += 1
        if count % training._FLUSH_SUBNORMALS_EVERY == 0:
            training._flush_subnormal_moments(optimizer)

    return counted_step


CANDIDATES: dict[str, tuple[str, Callable[[], Callable]]] = {
    "main": ("the loop before this work: fp32, torch's BCE with logits",
             lambda: make_step("torch-bce", bf16=False)),
    "fused-bce": ("fp32, the Bernoulli NLL as one autograd node with log(1 + e) instead of log1p",
                  lambda: make_step("fused-bce", bf16=False)),
    "bf16": ("bf16 autocast for the layers, torch's BCE with logits",
             lambda: make_step("torch-bce", bf16=True)),
    "shipped": ("bf16 autocast + the fused Bernoulli NLL: vae_core.training._batch_losses",
                lambda: make_step("shipped", bf16=True)),
    "onednn-fp32-as-bf16": ("fp32 layers with torch.backends.mkldnn.matmul.fp32_precision = 'bf16'",
                            lambda: make_step("fused-bce", bf16=False, onednn_bf16=True)),
    "uint8-batches": ("shipped, the training set kept as uint8 and each batch converted to float",
                      lambda: make_step("shipped", bf16=True, uint8_batches=True)),
    "reparam-kl-node": ("shipped + reparameterization and KL as one autograd node",
                        lambda: make_step("reparam-kl-node", bf16=True)),
    "raw-adam": ("shipped + torch._fused_adam_ called directly (no Optimizer.step wrapper)",
                 lambda: make_step("shipped", bf16=True, adam="raw")),
    "compile-fp32": ("torch.compile of the whole step (forward, loss, backward, Adam), fp32",
                     lambda: make_step("torch-bce", bf16=False, compile_step=True)),
    "compile-bf16": ("torch.compile of the whole step, bf16 autocast",
                     lambda: make_step("torch-bce", bf16=True, compile_step=True)),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=100, help="steps per candidate per round")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's own)")
    parser.add_argument("--arch", choices=list(MODEL_CONFIGS), default="mlp",
                        help="the benchmark's 784-400-20 MLP VAE, or the shipped convolutional VAE's layout")
    parser.add_argument("--only", nargs="+", choices=list(CANDIDATES), help="candidates to run (default: all)")
    parser.add_argument("--data-dir", help="folder with the Fashion-MNIST IDX files")
    parser.add_argument("--list", action="store_true", help="describe the candidates and exit")
    args = parser.parse_args(argv)
    if args.list:
        for name, (description, _) in CANDIDATES.items():
            print(f"{name:16} {description}")
        return 0
    if args.rounds < 1 or args.steps < 1:
        parser.error("--rounds and --steps must be at least 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    # A fresh compilation cache (removed when the script ends), so the compiled candidates' first steps
    # include their whole compile time.
    inductor_cache = tempfile.TemporaryDirectory(prefix="train-candidates-inductor-")
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = inductor_cache.name
    global model_config
    model_config = MODEL_CONFIGS[args.arch]
    names = args.only or list(CANDIDATES)
    dataset = load_dataset("fashion-mnist", args.data_dir)
    images = types.SimpleNamespace(raw=dataset.train_images, floats=dataset.images("train"))
    order = torch.randperm(len(dataset.train_images), generator=torch.Generator().manual_seed(0))
    batches = [order[i:i + BATCH] for i in range(0, len(order) - BATCH + 1, BATCH)]
    print(f"{args.arch} VAE, torch {torch.__version__}, {torch.get_num_threads()} threads, bf16 native: "
          f"{training.cpu_computes_bf16()}, load average {load_average()}", flush=True)

    steps, warmup_s = {}, {}
    for name in names:
        started = time.perf_counter()
        step = CANDIDATES[name][1]()
        for indices in batches[:20]:  # first calls: allocation, oneDNN primitive caches, compilation
            step(images, indices)
        warmup_s[name] = time.perf_counter() - started
        steps[name] = step
        print(f"  {name}: first 20 steps (with any compilation) {warmup_s[name]:.1f} s", flush=True)

    wall = {name: [] for name in names}
    cpu = {name: [] for name in names}
    position = 20
    for round_number in range(args.rounds):
        for name in names:
            chosen = [batches[(position + i) % len(batches)] for i in range(args.steps)]
            wall_start, cpu_start = time.perf_counter(), time.process_time()
            for indices in chosen:
                steps[name](images, indices)
            wall[name].append((time.perf_counter() - wall_start) / args.steps * 1000)
            cpu[name].append((time.process_time() - cpu_start) / args.steps * 1000)
        position += args.steps
        print(f"  round {round_number + 1}: load average {load_average()}", flush=True)

    reference = statistics.median(wall[names[0]])
    print(f"\n| candidate | wall ms/step | CPU ms/step | epoch estimate s | vs {names[0]} | first 20 steps s |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in names:
        median = statistics.median(wall[name])
        print(f"| {name} | {median:.3f} | {statistics.median(cpu[name]):.3f} | "
              f"{median * STEPS_PER_EPOCH / 1000:.2f} | {reference / median:.2f}x | {warmup_s[name]:.1f} |")
    print(f"load average after: {load_average()}")
    return 0


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


if __name__ == "__main__":
    sys.exit(main())
