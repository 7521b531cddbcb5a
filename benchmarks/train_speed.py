#!/usr/bin/env python
"""Training speed: vae_core's device-resident loop against the usual recipe, in one run.

Both sides train the same 784-400-20 VAE (vae_core's ``VAE``, same initial
weights from the same seed) on the same Fashion-MNIST IDX files, batch 128,
Adam lr 1e-3, loss = BCE summed over pixels + KL, for the same number of epochs.

(a) recipe: ``torchvision.datasets.FashionMNIST(transform=ToTensor())`` and a
    ``DataLoader(batch_size=128, shuffle=True)`` (num_workers=0), trained and
    tested with the loop of PyTorch's ``examples/vae/main.py``.
(b) vae_core: ``train_model(new_model(...), load_dataset('fashion-mnist'), TrainConfig(...))``,
    reading ``train_s`` and ``test_loss`` from its EpochReports.

Only the training part of each epoch is timed, on both sides; dataset loading
and the test evaluation are not. Test loss is per image, in nats (-ELBO with
one z sample, over the 10k test images).

    python -m benchmarks.train_speed [--epochs 3] [--device cpu|cuda] [--precision auto|fp32|bf16]
                                     [--interleave] [--json-out PATH]

torchvision's FashionMNIST class wants uncompressed files in
ROOT/FashionMNIST/raw/; the script builds that layout once in a cache folder by
decompressing the gzipped IDX files (no network: download=False).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

from vae_core import training
from vae_core.data import IDX_FILES, load_dataset
from vae_core.models import ModelConfig
from vae_core.training import PRECISIONS, TrainConfig, cpu_computes_bf16, new_model, resolve_precision, train_model

REPO = Path(__file__).resolve().parents[1]

DEFAULT_DATA_DIR = Path("/usr/share/datasets/fashion-mnist")
DEFAULT_CACHE = Path.home() / ".cache" / "latent-explorer-bench" / "torchvision"
TARGET_SPEEDUP = {"cpu": 3.5, "cuda": 30.0}
TARGET_LOSS_GAP = 1.0  # nats per image
MODEL_CONFIG = ModelConfig(kind="vae", input_shape=(1, 28, 28), hidden_dim=400, latent_dim=20)


# --------------------------------------------------------------------------- setup

def torchvision_root(data_dir: Path, cache: Path) -> Path:
    """A root with FashionMNIST/raw/<uncompressed IDX files>, built from data_dir once."""
    raw = cache / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for stem in IDX_FILES.values():
        target = raw / stem
        if target.is_file() and target.stat().st_size > 0:
            continue
        plain, gz = data_dir / stem, data_dir / f"{stem}.gz"
        tmp = target.with_suffix(".part")
        if plain.is_file():
            shutil.copyfile(plain, tmp)
        elif gz.is_file():
            with gzip.open(gz, "rb") as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst)
        else:
            raise SystemExit(f"{data_dir} has neither {stem} nor {stem}.gz "
                             "(on Debian: apt-get install dataset-fashion-mnist)")
        os.replace(tmp, target)
    return cache


def machine_info(device: str) -> dict:
    info = {"python": platform.python_version(), "torch": torch.__version__,
            "torchvision": torchvision.__version__, "torch_threads": torch.get_num_threads(),
            "os_cpu_count": os.cpu_count(), "cpu_bf16": cpu_computes_bf16()}
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        fields = dict(line.split(":", 1) for line in lscpu.splitlines() if ":" in line)
        fields = {k.strip(): v.strip() for k, v in fields.items()}
        info["cpu_model"] = fields.get("Model name")
        info["cpus"] = fields.get("CPU(s)")
        info["cores_per_socket"] = fields.get("Core(s) per socket")
        info["threads_per_core"] = fields.get("Thread(s) per core")
        info["sockets"] = fields.get("Socket(s)")
    except (OSError, subprocess.CalledProcessError):
        info["cpu_model"] = platform.processor() or None
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return info


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# --------------------------------------------------------------------------- (a) the recipe

def recipe_loss(recon_x, x, mu, logvar):
    """examples/vae/main.py's loss_function. vae_core's VAE returns (N, 1, 28, 28)
    images where the example's returns (N, 784), hence the one extra view."""
    bce = F.binary_cross_entropy(recon_x.view(-1, 784), x.view(-1, 784), reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce + kld


def recipe_epochs(root: Path, epochs: int, seed: int, device: torch.device, log, clock=time.perf_counter):
    """The recipe, one epoch per next(): yields each epoch's figures."""
    torch.manual_seed(seed)
    train_set = datasets.FashionMNIST(str(root), train=True, download=False, transform=transforms.ToTensor())
    test_set = datasets.FashionMNIST(str(root), train=False, download=False, transform=transforms.ToTensor())
    train_loader = DataLoader(train_set, batch_size=128, shuffle=True)
    test_loader = DataLoader(test_set, batch_size=128, shuffle=False)

    model = new_model(MODEL_CONFIG, seed).to(device)
    torch.manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(1, epochs + 1):
        # train(epoch), as in the example
        synchronize(device)
        start = clock()
        model.train()
        train_loss = 0.0
        for data, _ in train_loader:
            data = data.to(device)
            optimizer.zero_grad()
            recon_batch, mu, logvar = model(data)
            loss = recipe_loss(recon_batch, data, mu, logvar)
            loss.backward()
            train_loss += loss.item()
            optimizer.step()
        synchronize(device)
        train_s = clock() - start
        # test(epoch), as in the example: one z sample per image, summed, / 10000
        model.eval()
        test_loss = 0.0
        with torch.no_grad():
            for data, _ in test_loader:
                data = data.to(device)
                recon_batch, mu, logvar = model(data)
                test_loss += recipe_loss(recon_batch, data, mu, logvar).item()
        test_loss /= len(test_loader.dataset)
        row = {"epoch": epoch, "train_s": train_s, "train_loss": train_loss / len(train_loader.dataset),
               "test_loss": test_loss, "load_avg": load_average()}
        log(f"  recipe   epoch {epoch}: train {train_s:7.3f} s   test loss {test_loss:8.3f}   "
            f"(load {row['load_avg']})")
        yield row


# --------------------------------------------------------------------------- (b) vae_core

def run_vae_core(data_dir: Path, epochs: int, seed: int, device: str, precision: str, log,
                 clock=time.perf_counter, after_epoch=None) -> dict:
    """train_model on the benchmark's VAE; ``after_epoch`` runs after each epoch's report (outside train_s)."""
    dataset = load_dataset("fashion-mnist", str(data_dir))
    model = new_model(MODEL_CONFIG, seed)
    config = TrainConfig(epochs=epochs, batch_size=128, learning_rate=1e-3, seed=seed, device=device,
                         precision=precision)

    def on_epoch(report):
        log(f"  vae_core epoch {report.epoch}: train {report.train_s:7.3f} s   "
            f"test loss {report.test_loss:8.3f}   (load {load_average()})")
        if after_epoch is not None:
            after_epoch()

    # train_s is timed inside train_model with training.time.perf_counter; for --clock cpu
    # that one name is pointed at the chosen clock for the duration of the call.
    real_time = training.time
    if clock is not time.perf_counter:
        training.time = types.SimpleNamespace(perf_counter=clock)
    try:
        result = train_model(model, dataset, config, on_epoch=on_epoch)
    finally:
        training.time = real_time
    return {"epochs": [{"epoch": r.epoch, "train_s": r.train_s, "train_loss": r.train_loss,
                        "test_loss": r.test_loss} for r in result.history],
            "train_images": len(dataset.train_images), "test_images": len(dataset.test_images),
            "precision": resolve_precision(precision, torch.device(device))}


# --------------------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, help="torch.set_num_threads for both sides (default: torch's own)")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR,
                        help=f"folder with the Fashion-MNIST IDX files, raw or .gz (default {DEFAULT_DATA_DIR})")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE,
                        help=f"where torchvision's FashionMNIST/raw layout is built (default {DEFAULT_CACHE})")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="wall: time.perf_counter (the figure that counts); cpu: time.process_time, this "
                             "process's CPU seconds, a steadier proxy on a machine shared with other work")
    parser.add_argument("--vae-core-first", action="store_true",
                        help="run (b) before (a); alternate between runs to see drifting background load")
    parser.add_argument("--interleave", action="store_true",
                        help="alternate the two sides epoch by epoch (a1 b1 a2 b2 ...), so load that comes and "
                             "goes falls on both alike")
    parser.add_argument("--precision", choices=list(PRECISIONS), default="auto",
                        help="vae_core's TrainConfig.precision (default auto: bf16 where the CPU computes it)")
    parser.add_argument("--json-out", type=Path, help="write all figures to this JSON file")
    args = parser.parse_args(argv)

    if args.epochs < 1:
        parser.error("--epochs must be at least 1")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error("--device cuda asked for, but torch sees no CUDA device here")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    log = lambda message: print(message, flush=True)  # noqa: E731

    info = machine_info(args.device)
    command = "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(__file__, REPO), *(argv or sys.argv[1:])])
    log(f"{info.get('cpu_model')} ({info.get('cpus')} CPUs, native bf16: {info['cpu_bf16']}), torch {info['torch']} "
        f"({info['torch_threads']} threads), device {args.device}")
    log(f"load average before: {load_average()}; clock: {args.clock}")

    root = torchvision_root(args.data_dir, args.cache_dir)
    same = (torch.equal(datasets.FashionMNIST(str(root), train=True).data,
                        load_dataset("fashion-mnist", str(args.data_dir)).train_images.squeeze(1))
            and torch.equal(datasets.FashionMNIST(str(root), train=False).data,
                            load_dataset("fashion-mnist", str(args.data_dir)).test_images.squeeze(1)))
    if not same:
        raise SystemExit("torchvision and vae_core read different images; the comparison would be unfair")

    def side_a():
        log(f"(a) recipe: torchvision FashionMNIST + ToTensor + DataLoader(128, shuffle), {args.epochs} epochs")
        return recipe_epochs(root, args.epochs, args.seed, device, log, clock)

    def side_b(after_epoch=None):
        log(f"(b) vae_core: train_model, {args.epochs} epochs, precision {args.precision}")
        return run_vae_core(args.data_dir, args.epochs, args.seed, args.device, args.precision, log, clock,
                            after_epoch)

    if args.interleave:
        recipe_rows = side_a()
        rows = [next(recipe_rows)]  # a1 first, then b1, a2, b2, ...
        core = side_b(after_epoch=lambda: len(rows) < args.epochs and rows.append(next(recipe_rows)))
        recipe = {"epochs": rows}
    elif args.vae_core_first:
        core = side_b()
        recipe = {"epochs": list(side_a())}
    else:
        recipe = {"epochs": list(side_a())}
        core = side_b()

    recipe_times = [e["train_s"] for e in recipe["epochs"]]
    core_times = [e["train_s"] for e in core["epochs"]]
    speedup = statistics.median(recipe_times) / statistics.median(core_times)
    per_epoch_ratio = [r / c for r, c in zip(recipe_times, core_times)]
    recipe_final = recipe["epochs"][-1]["test_loss"]
    core_final = core["epochs"][-1]["test_loss"]
    gap = core_final - recipe_final
    target = TARGET_SPEEDUP.get(device.type)

    log("")
    log(f"{'epoch':>5} | {'recipe s':>9} | {'vae_core s':>10} | {'ratio':>6} | "
        f"{'recipe test':>11} | {'vae_core test':>13}")
    for r, c, q in zip(recipe["epochs"], core["epochs"], per_epoch_ratio):
        log(f"{r['epoch']:>5} | {r['train_s']:9.3f} | {c['train_s']:10.3f} | {q:6.2f} | "
            f"{r['test_loss']:11.3f} | {c['test_loss']:13.3f}")
    log(f"median epoch time: recipe {statistics.median(recipe_times):.3f} s, "
        f"vae_core {statistics.median(core_times):.3f} s -> ratio (recipe / vae_core) {speedup:.2f}x"
        + (f" (target >= {target}x: {'met' if speedup >= target else 'NOT met'})" if target else ""))
    log(f"final test loss (nats/image): recipe {recipe_final:.3f}, vae_core {core_final:.3f}, "
        f"difference (vae_core - recipe) {gap:+.3f} "
        f"(target |diff| <= {TARGET_LOSS_GAP}: {'met' if abs(gap) <= TARGET_LOSS_GAP else 'NOT met'})")
    log(f"load average after: {load_average()}")

    if args.json_out:
        results = {
            "command": command, "machine": info, "device": args.device, "epochs": args.epochs,
            "seed": args.seed, "clock": args.clock,
            "order": ("interleaved" if args.interleave else
                      "vae_core first" if args.vae_core_first else "recipe first"),
            "precision": core["precision"],
            "settings": {"model": MODEL_CONFIG.to_dict(), "batch_size": 128,
                                             "optimizer": "Adam", "learning_rate": 1e-3,
                                             "loss": "BCE summed over pixels + KL"},
            "recipe": recipe, "vae_core": core,
            "median_train_s": {"recipe": statistics.median(recipe_times),
                               "vae_core": statistics.median(core_times)},
            "speedup_median": speedup, "speedup_per_epoch": per_epoch_ratio,
            "final_test_loss": {"recipe": recipe_final, "vae_core": core_final, "difference": gap},
            "targets": {"speedup": target, "test_loss_gap": TARGET_LOSS_GAP,
                        "speedup_met": None if target is None else speedup >= target,
                        "test_loss_met": abs(gap) <= TARGET_LOSS_GAP},
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(results, indent=2) + "\n")
        log(f"wrote {args.json_out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
