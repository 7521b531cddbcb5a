"""Command line: ``python -m vae_core train ...``, ``evaluate CHECKPOINT``, ``diagnose CHECKPOINT``,
``import-onnx ENCODER DECODER ...`` and ``download DATASET``."""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .data import DATASETS, DatasetUnavailable, ImageDataset, is_available, load_dataset
from .diagnostics import HOLE_RATIO, LOG_PX_SAMPLES, diagnose, log_px_per_image
from .download import DownloadProgress, download_dataset
from .engine import CLUSTER_ENV, TrainingEngine, cluster_address
from .image_sources import ConversionOptions, load_image_source, options_from_manifest, same_images
from .jobs import JobStatus, TrainingJob
from .losses import LIKELIHOOD_LOSSES
from .models import ARCHITECTURES, KIND_TITLES, ModelPair
from .pairs import SEED_SIZES, JobSpec, train_pair
from .store import ModelStore, StoreError
from .training import (
    PRECISIONS,
    TrainConfig,
    TrainingDiverged,
    available_devices,
    evaluate,
    physical_cpu_cores,
    resolve_device,
    resolve_precision,
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m vae_core", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train an AE, a VAE or both and write one checkpoint")
    source = train.add_mutually_exclusive_group()
    # No argparse default: a default equal to the given value would not count as given for the exclusion.
    source.add_argument("--dataset", choices=list(DATASETS), help="a registered dataset (default: digits)")
    source.add_argument("--images", metavar="PATH",
                        help="train on your own images: a folder or .zip of PNG/JPEG files (in class folders, or "
                             "flat), or an .npy/.npz array; the checkpoint records their manifest")
    train.add_argument("--image-size", type=int, default=28, help="with --images: side in pixels to convert to")
    train.add_argument("--channels", type=int, choices=[1, 3], default=1,
                       help="with --images: 1 for grey, 3 for colour")
    train.add_argument("--data-dir", help="folder with the dataset's IDX files (searched before the defaults)")
    train.add_argument("--model", choices=["ae", "vae", "both"], default="both")
    train.add_argument("--arch", choices=list(ARCHITECTURES), default="mlp",
                       help="mlp: the seeds' fully connected layers; conv: two stride-2 convolutions (32 and 64 "
                            "channels) before the hidden layer, transposed convolutions in the decoder")
    train.add_argument("--latent-dim", type=int, default=SEED_SIZES.latent_dim,
                       help=f"latent size (default: {SEED_SIZES.describe('latent_dim')})")
    train.add_argument("--hidden-dim", type=int, default=SEED_SIZES.hidden_dim,
                       help=f"hidden layer size (default: {SEED_SIZES.describe('hidden_dim')})")
    train.add_argument("--ae-code", choices=["relu", "linear"], default="relu",
                       help="activation on the AE's code: the seed's ReLU, or none")
    train.add_argument("--beta", type=float, default=1.0, help="weight of the KL term (1 = the ELBO)")
    train.add_argument("--loss", choices=["bce", "mse"], default="bce", help="reconstruction loss")
    train.add_argument("--epochs", type=int, default=10)
    train.add_argument("--batch-size", type=int, default=128)
    train.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--device", choices=["auto", *available_devices()], default="auto")
    train.add_argument("--precision", choices=list(PRECISIONS), default="auto",
                       help="arithmetic of the layers: auto = bf16 on a CPU that computes it natively, else fp32")
    train.add_argument("--threads", type=int,
                       help="torch threads (default: $OMP_NUM_THREADS where set, else the physical cores)")
    train.add_argument("--cluster", metavar="ADDRESS", default=cluster_address(),
                       help="train on a worker of this dask scheduler (tcp://host:port) instead of in this "
                            f"process (default: ${CLUSTER_ENV} where set)")
    train.add_argument("--output", "-o", default="checkpoint.pt", help="checkpoint path to write")
    train.add_argument("--json", action="store_true", help="print one JSON line per epoch instead of a progress bar")

    evaluate_cmd = commands.add_parser("evaluate", help="test ELBO and an importance-weighted log p(x) estimate")
    evaluate_cmd.add_argument("checkpoint")
    evaluate_cmd.add_argument("--data-dir")
    evaluate_cmd.add_argument("--images", metavar="PATH",
                              help="for a checkpoint trained on your own images: the same images again")
    evaluate_cmd.add_argument("--samples", type=int, default=100, help="K, samples per image for log p(x)")
    evaluate_cmd.add_argument("--limit", type=int, help="evaluate only the first N test images")
    evaluate_cmd.add_argument("--json", action="store_true")

    diagnose_cmd = commands.add_parser(
        "diagnose", help="what the VAE does with its latent space: KL per dimension, active units, ELBO against "
                         "log p(x), the prior's holes, and with --ood how well log p(x) tells another set apart")
    diagnose_cmd.add_argument("checkpoint")
    diagnose_cmd.add_argument("--data-dir")
    diagnose_cmd.add_argument("--images", metavar="PATH",
                              help="for a checkpoint trained on your own images: the same images again")
    diagnose_cmd.add_argument("--ood", choices=list(DATASETS), metavar="DATASET",
                              help=f"another dataset ({', '.join(DATASETS)}), resized to the model's images; its "
                                   "held-out split is scored against the checkpoint's own")
    diagnose_cmd.add_argument("--samples", type=int, default=LOG_PX_SAMPLES, help="K, samples per image for log p(x)")
    diagnose_cmd.add_argument("--limit", type=int, help="use only the first N held-out images (of each set)")
    diagnose_cmd.add_argument("--json", action="store_true", help="print one JSON object")

    imported = commands.add_parser(
        "import-onnx", help="check a VAE trained elsewhere, an ONNX encoder and decoder, and write it as a checkpoint")
    imported.add_argument("encoder", help="ONNX file: images N×C×H×W in [0, 1] to the mean and scale of q(z|x)")
    imported.add_argument("decoder", help="ONNX file: codes N×D to each pixel's logit or mean")
    imported.add_argument("--likelihood", choices=list(LIKELIHOOD_LOSSES), required=True,
                          help="what the decoder gives: bernoulli, logits of pixel probabilities; gaussian, pixel "
                               "means (variance 1/2, as the MSE loss here)")
    imported.add_argument("--dataset", choices=list(DATASETS), required=True,
                          help="the registered dataset it was trained on, whose images the files must take")
    names = imported.add_mutually_exclusive_group()
    names.add_argument("--encoder-outputs", metavar="MEAN,LOGVAR",
                       help="the encoder's outputs holding the mean and the log-variance (default: mu,logvar)")
    names.add_argument("--sigma-outputs", metavar="MEAN,SIGMA",
                       help="instead, the encoder's outputs holding the mean and the standard deviation")
    destination = imported.add_mutually_exclusive_group(required=True)
    destination.add_argument("--out", "-o", metavar="PAIR.pt", help="checkpoint path to write")
    destination.add_argument("--store", metavar="DIR",
                             help="keep it in the model store at DIR (a folder or an fsspec URL) and print its id")
    imported.add_argument("--label", help="with --store: its name there (default: the two files' names)")

    download = commands.add_parser("download", help="fetch Fashion-MNIST or MNIST into the data cache, with progress")
    download.add_argument("dataset", choices=[n for n, info in DATASETS.items() if info.torchvision_class])
    download.add_argument("--root", help="folder to download into (default: the data cache)")
    return parser


def _own_images(path: str, options: ConversionOptions) -> ImageDataset:
    dataset = load_image_source(path, options=options)
    manifest = dataset.manifest
    classes = ", ".join(f"{name} {count:,}" for name, count in manifest["class_counts"].items())
    print(f"{dataset.title}: {manifest['images']:,} images ({classes}), {manifest['train_images']:,} to train on, "
          f"{manifest['test_images']:,} held out", file=sys.stderr)
    for note in manifest["notes"]:
        print(f"  {note}", file=sys.stderr)
    return dataset


def _train(args: argparse.Namespace) -> int:
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr,
                         beta=args.beta, loss=args.loss, seed=args.seed, device=args.device,
                         precision=args.precision)
    resolve_precision(config.precision, resolve_device(config.device))  # refuse bf16 where there is none, now
    if args.threads is not None and args.threads < 1:
        raise ValueError("--threads must be at least 1")
    if args.images:
        dataset = _own_images(args.images, ConversionOptions(image_size=args.image_size, channels=args.channels))
    else:
        dataset = load_dataset(args.dataset or "digits", args.data_dir)
    spec = JobSpec(dataset.name, kinds=("ae", "vae") if args.model == "both" else (args.model,),
                   latent_dim=args.latent_dim, hidden_dim=args.hidden_dim, ae_code_activation=args.ae_code,
                   architecture=args.arch, train=config, data_dir=args.data_dir,
                   custom_dataset=dataset if args.images else None)
    bars = {}

    def start(kinds, device: str) -> None:
        print(f"training on {device}", file=sys.stderr)
        if not args.json:
            bars.update({kind: tqdm(total=config.epochs, desc=f"{KIND_TITLES[kind]} {dataset.name}", unit="epoch")
                         for kind in kinds})

    def report(epoch: dict) -> None:
        if args.json:
            print(json.dumps(epoch), flush=True)
        else:
            bars[epoch["model"]].set_postfix(train=f"{epoch['train_loss']:.2f}", test=f"{epoch['test_loss']:.2f}")
            bars[epoch["model"]].update(1)

    try:
        if args.cluster:
            pair = _train_on_cluster(spec, args.cluster, start, report)
        else:
            if args.threads or not os.environ.get("OMP_NUM_THREADS"):
                torch.set_num_threads(args.threads or physical_cpu_cores())
            pair = train_pair(spec, dataset, on_epoch=lambda epoch, model: report(epoch.to_dict()),
                              on_start=start).pair
    finally:
        for bar in bars.values():
            bar.close()
    path = save_checkpoint(pair, args.output)
    print(f"wrote {path}", file=sys.stderr)
    return 0


def _train_on_cluster(spec: JobSpec, address: str, start, report) -> ModelPair:
    """Train ``spec`` on a worker of the scheduler at ``address``, reporting its epochs as they arrive."""
    engine = TrainingEngine(address)
    job = TrainingJob(spec, engine=engine).start()
    reported: dict[str, int] = {}
    try:
        while True:
            progress = job.progress()
            if not reported and progress.histories:  # the models are built
                start(tuple(progress.histories), progress.device)
            for kind, history in progress.histories.items():
                for epoch in history[reported.get(kind, 0):]:
                    report(epoch)
                reported[kind] = len(history)
            if progress.status.done:
                break
            time.sleep(0.2)
    except KeyboardInterrupt:
        job.cancel()
        job.wait()
    finally:
        engine.close()
    progress = job.progress()
    if progress.status == JobStatus.FAILED:
        raise ClusterTrainingFailed(progress.error)
    pair = job.result_pair()
    if pair is None:
        raise ClusterTrainingFailed("Training stopped before an epoch finished; nothing to write.")
    return pair


class ClusterTrainingFailed(RuntimeError):
    """A training on a cluster ended in failure; the message says why."""


def _check_sampling_arguments(args: argparse.Namespace) -> None:
    if args.samples < 1:
        raise ValueError("--samples must be at least 1")
    if args.limit is not None and args.limit < 1:
        raise ValueError("--limit must be at least 1")


def _checkpoint_and_dataset(args: argparse.Namespace):
    """The checkpoint's pair and the dataset it was trained on (a person's own images come again with --images)."""
    pair = load_checkpoint(args.checkpoint)
    if pair.data_manifest is None:
        return pair, load_dataset(pair.dataset, args.data_dir)
    if not args.images:
        raise ValueError(f"{args.checkpoint} was trained on your own images ({pair.data_manifest.get('source')}); "
                         "pass the same images with --images PATH")
    dataset = load_image_source(args.images, options=options_from_manifest(pair.data_manifest))
    if not same_images(dataset.manifest, pair.data_manifest):
        raise ValueError(f"{args.images} are not the images {args.checkpoint} was trained on "
                         f"(sha256 {dataset.manifest['sha256'][:12]}…, not {pair.data_manifest.get('sha256')})")
    return pair, dataset


def _evaluate(args: argparse.Namespace) -> int:
    _check_sampling_arguments(args)
    pair, dataset = _checkpoint_and_dataset(args)
    images = dataset.images("test")[: args.limit]
    results = {}
    for kind, model in pair.models().items():
        loss = pair.train_settings.get(kind, {}).get("loss", "bce")
        figures = evaluate(model, images, loss)
        entry = {"images": len(images), "loss": loss, "reconstruction_nll": figures["reconstruction"]}
        if kind == "vae":
            log_px = log_px_per_image(model, images, loss, args.samples)
            entry.update(kl=figures["kl"], elbo=-figures["loss"], log_px=float(log_px.mean()), samples=args.samples)
        results[kind] = entry
    if args.json:
        print(json.dumps(results))
        return 0
    print(f"{args.checkpoint}: {dataset.title}, {len(images)} test images, nats per image")
    for kind, entry in results.items():
        if kind == "vae":
            print(f"  VAE  ELBO {entry['elbo']:.2f} = -reconstruction {entry['reconstruction_nll']:.2f} "
                  f"- KL {entry['kl']:.2f};  log p(x) >= {entry['log_px']:.2f} (K={entry['samples']})")
        else:
            print(f"  AE   reconstruction -log p(x|z) {entry['reconstruction_nll']:.2f} ({entry['loss']})")
    return 0


def _diagnose(args: argparse.Namespace) -> int:
    _check_sampling_arguments(args)
    pair, dataset = _checkpoint_and_dataset(args)
    if pair.vae is None:
        raise ValueError(f"{args.checkpoint} holds no VAE: diagnose describes a VAE's latent space")
    ood_images = None
    if args.ood is not None:
        if not is_available(args.ood, args.data_dir):
            raise DatasetUnavailable(f"--ood {args.ood}: {DATASETS[args.ood].title} is not on this machine "
                                     f"(python -m vae_core download {args.ood})")
        ood_images = load_dataset(args.ood, args.data_dir).images("test")[: args.limit]
    loss = pair.train_settings.get("vae", {}).get("loss", "bce")
    images = dataset.images("test")[: args.limit]
    total = len(images) + (0 if ood_images is None else len(ood_images))
    with tqdm(total=total, desc="log p(x)", unit="image", disable=args.json) as bar:
        diagnosis = diagnose(pair.vae, images, loss, args.samples, ood_images, args.ood,
                             on_progress=lambda done, _: bar.update(done - bar.n))
    if args.json:
        print(json.dumps(diagnosis.to_dict()))
        return 0
    kl = ", ".join(f"{v:.2f}" for v in diagnosis.kl_per_dimension)
    print(f"{args.checkpoint}: the VAE over {diagnosis.images:,} held-out images of {dataset.title}, nats per image")
    print(f"  KL per dimension: {kl}")
    print(f"  active units (Cov_x E_q[z_d] > 0.01): {diagnosis.active_units} of {len(diagnosis.kl_per_dimension)}")
    print(f"  ELBO {diagnosis.elbo:.2f}  <=  log p(x) {diagnosis.log_px:.2f} (K={diagnosis.log_px_samples}); "
          f"gap {diagnosis.log_px - diagnosis.elbo:.2f}")
    print(f"  prior hole fraction: {diagnosis.prior_hole_fraction:.3f} of z ~ N(0, I) have "
          f"q(z) < p(z) / {HOLE_RATIO:g}")
    if diagnosis.ood_auroc is not None:
        print(f"  log p(x) tells held-out images from {DATASETS[args.ood].title}: AUROC {diagnosis.ood_auroc:.3f} "
              "(below 0.5: the model finds the other set more likely)")
    return 0


def _output_names(text: str, option: str) -> tuple[str, str]:
    names = tuple(name.strip() for name in text.split(","))
    if len(names) != 2 or not all(names):
        raise ValueError(f"{option} takes two output names separated by a comma, not {text!r}")
    return names


def _import_onnx(args: argparse.Namespace) -> int:
    # Imported here: onnx takes most of a second to import, which the other commands need not wait for.
    from .onnx_pairs import import_onnx_pair

    if args.sigma_outputs is not None:
        naming = {"encoder_outputs": _output_names(args.sigma_outputs, "--sigma-outputs"), "encoder_scale": "sigma"}
    elif args.encoder_outputs is not None:
        naming = {"encoder_outputs": _output_names(args.encoder_outputs, "--encoder-outputs")}
    else:
        naming = {}
    pair = import_onnx_pair(args.encoder, args.decoder, args.dataset, args.likelihood, **naming)
    config = pair.vae.config
    print(f"checked: a VAE of latent size {config.latent_dim} over {DATASETS[args.dataset].title}, "
          f"{config.likelihood} pixels", file=sys.stderr)
    if args.out:
        print(f"wrote {save_checkpoint(pair, args.out)}", file=sys.stderr)
        return 0
    label = args.label or f"{Path(args.encoder).name} + {Path(args.decoder).name} (ONNX)"
    # No browser made it, so no one's "Your models" lists it: its id is its link, and retention lets it go.
    print(ModelStore(args.store).put(pair, label, owner_token=secrets.token_urlsafe(18)))
    return 0


def _download(args: argparse.Namespace) -> int:
    bars: dict[str, tqdm] = {}

    def report(progress: DownloadProgress) -> None:
        if progress.stage != "downloading":
            return
        bar = bars.get(progress.file)
        if bar is None:
            bar = bars[progress.file] = tqdm(total=progress.total_bytes, desc=progress.file, unit="B",
                                             unit_scale=True)
        bar.update(progress.done_bytes - bar.n)

    try:
        folder = download_dataset(args.dataset, args.root, on_progress=report)
    finally:
        for bar in bars.values():
            bar.close()
    print(f"{DATASETS[args.dataset].title} is in {folder}", file=sys.stderr)
    return 0


COMMANDS = {"train": _train, "evaluate": _evaluate, "diagnose": _diagnose, "import-onnx": _import_onnx,
            "download": _download}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (DatasetUnavailable, CheckpointError, TrainingDiverged, ClusterTrainingFailed, StoreError,
            ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
