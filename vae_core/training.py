"""Training that keeps the whole dataset on the device and batches it there.

The usual recipe converts every image with ToTensor and collates it in a
DataLoader on each epoch; that per-sample Python work dominates a small MLP's
epoch. Here the images become one float tensor on the device once, and each
batch is an index into it. On CPUs that compute bfloat16 in hardware the matrix
products run in bfloat16 (the weights, the optimizer and the loss stay float32).

Every random draw (initial weights, batch order, the VAE's noise) comes from a
generator of the training's own, seeded from its settings, never from torch's
global one: a training is reproducible whatever else runs in the process.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from .data import ImageDataset
from .losses import RECONSTRUCTION_LOSSES, kl_divergence, reconstruction_nll
from .models import VAE, Autoencoder, ModelConfig, build_model, reparameterize
from .replay import ReplayRecorder

# "auto": bfloat16 matrix products on a CPU that computes them natively, float32 elsewhere.
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16")
# CPU flags of native bfloat16 arithmetic (AVX-512 BF16 and AMX), as Linux lists them in /proc/cpuinfo.
_BF16_CPU_FLAGS = {"avx512_bf16", "amx_bf16"}


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the model holds its last good weights."""


def available_devices() -> list[str]:
    """Devices this machine can train on, fastest first."""
    devices = []
    if torch.cuda.is_available():
        devices.append("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        devices.append("mps")
    devices.append("cpu")
    return devices


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device(available_devices()[0])
    if name.split(":")[0] not in available_devices():
        raise ValueError(f"device {name!r} is not available here; choose from {available_devices()}")
    return torch.device(name)


def device_name(device: torch.device) -> str:
    """The device a training runs on, as its checkpoint records it: 'cpu', 'mps', or a GPU with its index
    ('cuda:0'), which "cuda" alone leaves to the current one."""
    if device.type == "cuda" and device.index is None:
        return f"cuda:{torch.cuda.current_device()}"
    return str(device)


@functools.cache
def cpu_computes_bf16() -> bool:
    """Whether this CPU has bfloat16 arithmetic in hardware (read from /proc/cpuinfo; False where unknown)."""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    flags = set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags.update(line.partition(":")[2].split())
    return bool(flags & _BF16_CPU_FLAGS)


def resolve_precision(precision: str, device: torch.device) -> str:
    """'fp32' or 'bf16': the arithmetic of the matrix products for this device.

    Only a CPU's native bfloat16 is used, and by "auto" only there: emulated
    bfloat16 is slower than float32, and GPUs were not measured with it.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}")
    native = device.type == "cpu" and cpu_computes_bf16()
    if precision == "bf16" and not native:
        where = "a CPU without it" if device.type == "cpu" else device.type.upper()
        raise ValueError(f"precision 'bf16' needs a CPU with native bfloat16 arithmetic (AVX-512 BF16 or AMX); "
                         f"this training runs on {where}. Use precision 'fp32' or 'auto'.")
    return "bf16" if precision == "bf16" or (precision == "auto" and native) else "fp32"


def physical_cpu_cores() -> int:
    """Physical cores this process may run on (hyper-threads counted once); the logical count where unknown."""
    try:
        cpus = os.sched_getaffinity(0)
    except AttributeError:  # not Linux
        return os.cpu_count() or 1
    cores = set()
    for cpu in cpus:
        topology = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            cores.add(((topology / "physical_package_id").read_text(), (topology / "core_id").read_text()))
        except OSError:
            return len(cpus)
    return max(len(cores), 1)


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 10
    batch_size: int = 128
    learning_rate: float = 1e-3
    beta: float = 1.0
    loss: str = "bce"
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"

    def __post_init__(self) -> None:
        if not 1 <= self.epochs <= 10_000:
            raise ValueError(f"epochs must be between 1 and 10000, not {self.epochs}")
        if not 1 <= self.batch_size <= 65_536:
            raise ValueError(f"batch size must be between 1 and 65536, not {self.batch_size}")
        if not (math.isfinite(self.learning_rate) and 0 < self.learning_rate <= 10):
            raise ValueError(f"learning rate must be in (0, 10], not {self.learning_rate}")
        if not (math.isfinite(self.beta) and 0 <= self.beta <= 1000):
            raise ValueError(f"beta must be in [0, 1000], not {self.beta}")
        if self.loss not in RECONSTRUCTION_LOSSES:
            raise ValueError(f"loss must be one of {RECONSTRUCTION_LOSSES}, not {self.loss!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, not {self.precision!r}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class EpochReport:
    """One epoch's figures, per image: loss = reconstruction + beta * KL (KL is 0 for an AE)."""

    model: str
    epoch: int
    epochs: int
    train_loss: float
    train_reconstruction: float
    train_kl: float
    test_loss: float
    test_reconstruction: float
    test_kl: float
    train_s: float
    elapsed_s: float

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrainResult:
    model: Autoencoder | VAE
    history: list[EpochReport]
    cancelled: bool


def _batch_losses(model, x: torch.Tensor, loss: str, generator: torch.Generator | None = None,
                  precision: str = "fp32", codes_out: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image (reconstruction, KL) with one reparameterized sample for a VAE.

    With precision 'bf16' the layers compute in bfloat16 under autocast; the
    noise, the reconstruction term and the KL are float32 either way.
    ``codes_out``: filled with the batch's codes (a VAE's mu, an AE's code), in its own dtype.
    """
    matmuls = (torch.autocast(x.device.type, dtype=torch.bfloat16) if precision == "bf16"
               else contextlib.nullcontext())
    is_vae = model.config.kind == "vae"  # our VAE, or one imported from ONNX
    with matmuls:
        if is_vae:
            mu, logvar = (t.float() for t in model.encode(x))
            code = mu
            logits = model.decode_logits(reparameterize(mu, logvar, generator=generator))
        else:
            code = model.encode(x)
            logits = model.decode_logits(code)
    if codes_out is not None:
        codes_out.copy_(code.detach())
    reconstruction = reconstruction_nll(logits.float(), x, loss)
    if is_vae:
        return reconstruction, kl_divergence(mu, logvar)
    return reconstruction, torch.zeros_like(reconstruction)


@torch.no_grad()
def evaluate(model, images: torch.Tensor, loss: str = "bce", beta: float = 1.0,
             batch_size: int = 2048, seed: int = 0, codes_out: torch.Tensor | None = None) -> dict[str, float]:
    """Mean per-image reconstruction, KL and loss (with beta = 1: -ELBO in nats, one z sample), in float32.

    The VAE's z samples come from a generator seeded with ``seed``: the same
    model always gets the same figures, and torch's global generator is untouched.
    ``codes_out``: an (N, latent) tensor filled with the images' codes on the way, at no extra pass.
    """
    was_training = model.training
    model.eval()
    device = model.device
    generator = torch.Generator(device=device).manual_seed(seed)
    reconstruction_sum = kl_sum = 0.0
    for start in range(0, len(images), batch_size):
        x = images[start:start + batch_size].to(device)
        codes = None if codes_out is None else codes_out[start:start + batch_size]
        reconstruction, kl = _batch_losses(model, x, loss, generator, codes_out=codes)
        reconstruction_sum += reconstruction.sum().item()
        kl_sum += kl.sum().item()
    model.train(was_training)
    n = max(len(images), 1)
    return {"reconstruction": reconstruction_sum / n, "kl": kl_sum / n,
            "loss": (reconstruction_sum + beta * kl_sum) / n}


def train_model(
    model: Autoencoder | VAE,
    dataset: ImageDataset,
    config: TrainConfig,
    on_epoch: Callable[[EpochReport], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrainResult:
    """Train in place with Adam; returns the history.

    Batch order and the VAE's noise are drawn from one generator seeded with
    ``config.seed``. ``should_stop`` is polled between batches: when it answers
    True the model keeps what it learned so far. A non-finite loss restores the
    weights of the last finished epoch and raises TrainingDiverged.
    """
    device = resolve_device(config.device)
    trainer = EpochTrainer(model, dataset.images("train").to(device), dataset.images("test").to(device), config,
                           record_replay=False)
    while not trainer.done:
        trainer.begin_epoch()
        while not (should_stop is not None and should_stop()):
            if not trainer.train_batch():
                break
        else:
            trainer.cancelled = True
        report = trainer.end_epoch()
        if report is not None and on_epoch is not None:
            on_epoch(report)
    if not trainer.cancelled:
        model.eval()
    return TrainResult(model, trainer.history, trainer.cancelled)


class EpochTrainer:
    """One model's training, a batch at a time, so that several models can train side by side.

    ``begin_epoch``, then ``train_batch`` until it answers False (or until the
    caller stops early and sets ``cancelled``), then ``end_epoch``. The images
    are float tensors in [0, 1] on the training's device, which several
    trainers may share.
    """

    def __init__(self, model: Autoencoder | VAE, train_x: torch.Tensor, test_x: torch.Tensor, config: TrainConfig,
                 record_replay: bool = True):
        if model.config.foreign:
            raise ValueError("an imported model (ONNX) is explored as it is: it cannot be trained here")
        if tuple(train_x.shape[1:]) != tuple(model.config.input_shape):
            raise ValueError(f"model expects images {model.config.input_shape}, dataset has "
                             f"{tuple(train_x.shape[1:])}")
        self.device = resolve_device(config.device)
        self.precision = resolve_precision(config.precision, self.device)
        self.model = model.to(self.device).train()
        self.train_x, self.test_x, self.config = train_x, test_x, config
        self.generator = torch.Generator(device=self.device).manual_seed(config.seed)
        self._steps = _training_steps(self.model, train_x, config, self.generator, self.precision)
        self.history: list[EpochReport] = []
        # The held-out codes of every epoch (the map's replay), taken from the evaluation that ends it.
        self.recorder = (ReplayRecorder(config.epochs, len(test_x), model.config.latent_dim) if record_replay
                         else None)
        self.cancelled = False
        self.epoch = 0
        self._started = time.perf_counter()

    @property
    def done(self) -> bool:
        return self.cancelled or self.epoch >= self.config.epochs

    def begin_epoch(self) -> None:
        self.epoch += 1
        self._last_good = copy.deepcopy(self.model.state_dict())
        self._order = torch.randperm(len(self.train_x), device=self.device, generator=self.generator)
        self._next = 0
        self._steps.new_epoch()
        self._seen = 0
        self._train_s = 0.0

    def train_batch(self) -> bool:
        """One optimizer step on the epoch's next batch; False (and no step) when the epoch has none left."""
        if self._next >= len(self.train_x):
            return False
        batch_start = time.perf_counter()
        batch = self._order[self._next:self._next + self.config.batch_size]
        self._next += self.config.batch_size
        self._steps.step(batch)
        self._seen += len(batch)
        self._train_s += time.perf_counter() - batch_start
        return True

    def end_epoch(self) -> EpochReport | None:
        """Evaluate the epoch and record its report; None (and the training cancelled) if no batch was trained.

        A non-finite loss or weight restores the weights of the epoch before and raises TrainingDiverged.
        """
        if self._seen == 0:
            self.cancelled = True
            self.epoch -= 1
            return None
        config, epoch, kind = self.config, self.epoch, self.model.config.kind
        # .tolist() waits for the device, so train_s covers all the epoch's queued work on a GPU too.
        sync_start = time.perf_counter()
        train_reconstruction, train_kl = (total / self._seen for total in self._steps.sums.tolist())
        train_s = self._train_s + time.perf_counter() - sync_start
        codes = None if self.recorder is None else self.recorder.buffer_for(epoch, self.device)
        test = evaluate(self.model, self.test_x, config.loss, config.beta, codes_out=codes)
        figures = (train_reconstruction, train_kl, test["loss"])
        if not all(math.isfinite(v) for v in figures) or _has_non_finite_weights(self.model):
            self.model.load_state_dict(self._last_good)
            raise TrainingDiverged(
                f"{kind.upper()} training diverged in epoch {epoch} (loss became NaN or infinite); "
                f"the weights from epoch {epoch - 1} were kept. Try a smaller learning rate "
                f"(now {config.learning_rate:g}) or a smaller beta.")
        report = EpochReport(
            model=kind, epoch=epoch, epochs=config.epochs,
            train_loss=train_reconstruction + config.beta * train_kl,
            train_reconstruction=train_reconstruction, train_kl=train_kl,
            test_loss=test["loss"], test_reconstruction=test["reconstruction"], test_kl=test["kl"],
            train_s=train_s, elapsed_s=time.perf_counter() - self._started)
        self.history.append(report)
        if self.recorder is not None:
            self.recorder.epoch_done()
        return report


def _adam(params, learning_rate: float, capturable: bool = False) -> torch.optim.Optimizer:
    """Adam, with the fused kernel where this torch has one for the parameters' device.

    The fused kernel is the same algorithm, with the same defaults, in one pass over
    all parameters; the default per-tensor loop launches about ten small kernels
    per parameter tensor and took about 40% of a small MLP's CPU step.
    ``capturable``: its step count stays on the device, so a CUDA graph can hold the step.
    """
    params = list(params)
    try:
        return torch.optim.Adam(params, lr=learning_rate, fused=True, capturable=capturable)
    except (RuntimeError, TypeError, ValueError):  # no fused Adam for this device or torch
        return torch.optim.Adam(params, lr=learning_rate, capturable=capturable)


class _EagerSteps:
    """One optimisation step per batch, run op by op; sums the epoch's per-image terms on the device."""

    def __init__(self, model, train_x: torch.Tensor, config: TrainConfig, generator: torch.Generator,
                 precision: str, capturable: bool = False) -> None:
        self.model, self.train_x, self.config = model, train_x, config
        self.generator, self.precision = generator, precision
        self.optimizer = _adam(model.parameters(), config.learning_rate, capturable)
        self.sums = torch.zeros(2, device=train_x.device)  # reconstruction, KL
        self.flush_subnormals = train_x.device.type == "cpu"
        self.count = 0

    def new_epoch(self) -> None:
        self.sums.zero_()

    def step(self, batch: torch.Tensor) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        self._forward_backward_update(batch)
        self.count += 1
        if self.flush_subnormals and self.count % _FLUSH_SUBNORMALS_EVERY == 0:
            _flush_subnormal_moments(self.optimizer)

    def _forward_backward_update(self, batch: torch.Tensor) -> None:
        x = torch.index_select(self.train_x, 0, batch)
        reconstruction, kl = _batch_losses(self.model, x, self.config.loss, self.generator, self.precision)
        # Summed over the batch like the canonical example; Adam is scale-free.
        reconstruction_batch, kl_batch = reconstruction.sum(), kl.sum()
        batch_loss = reconstruction_batch + self.config.beta * kl_batch
        batch_loss.backward()
        self.optimizer.step()
        self.sums += torch.stack((reconstruction_batch.detach(), kl_batch.detach()))


class _GraphedSteps(_EagerSteps):
    """The whole step of a full batch (gather, forward, backward, Adam) captured once as a CUDA graph.

    A small model's step is some eighty tiny kernels, and launching them one by one from
    Python left the GPU mostly idle (2.6 ms a step on an H200). Replaying the captured graph
    launches them together. A last, shorter batch runs op by op on the same weights.
    """

    def __init__(self, model, train_x, config, generator, precision) -> None:
        super().__init__(model, train_x, config, generator, precision, capturable=True)
        self.batch = torch.zeros(config.batch_size, dtype=torch.long, device=train_x.device)
        self._warm_up()
        self.graph = torch.cuda.CUDAGraph()
        self.graph.register_generator_state(generator)
        self.optimizer.zero_grad(set_to_none=True)
        with torch.cuda.graph(self.graph):
            self._forward_backward_update(self.batch)

    def _warm_up(self) -> None:
        """A few steps on a side stream, as capture needs; then weights, Adam and noise are put back in place."""
        weights = [p.detach().clone() for p in self.model.parameters()]
        noise_state = self.generator.get_state()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):
                self.optimizer.zero_grad(set_to_none=True)
                self._forward_backward_update(self.batch)
        torch.cuda.current_stream().wait_stream(side)
        with torch.no_grad():
            for parameter, weight in zip(self.model.parameters(), weights):
                parameter.copy_(weight)
            for state in self.optimizer.state.values():
                for value in state.values():
                    if isinstance(value, torch.Tensor):
                        value.zero_()  # a fresh Adam: no moments, step count 0
        self.generator.set_state(noise_state)
        self.sums.zero_()

    def step(self, batch: torch.Tensor) -> None:
        if len(batch) == len(self.batch):
            self.batch.copy_(batch)
            self.graph.replay()
        else:
            # Gradients of their own, so the graph's gradient buffers are left as it captured them.
            self.optimizer.zero_grad(set_to_none=True)
            self._forward_backward_update(batch)
            self.optimizer.zero_grad(set_to_none=True)


# Fewer full batches than this in an epoch, and capturing the graph is not worth its warm-up.
_GRAPH_MIN_BATCHES = 8


def _training_steps(model, train_x, config, generator, precision) -> _EagerSteps:
    """Op-by-op steps, or on CUDA replays of one captured step where an epoch has enough full batches."""
    if (train_x.device.type == "cuda" and len(train_x) // config.batch_size >= _GRAPH_MIN_BATCHES
            and hasattr(torch.cuda.CUDAGraph, "register_generator_state")):
        return _GraphedSteps(model, train_x, config, generator, precision)
    return _EagerSteps(model, train_x, config, generator, precision)


# Where a weight's gradient is exactly 0 (encoder weights of pixels that are blank in every
# image of a batch), Adam's first moment decays by beta1 = 0.9 a step and turns into subnormal
# floats within a few hundred steps; x86 CPUs compute on subnormals one to two orders of
# magnitude slower. On Fashion-MNIST about 150k of the VAE's 650k moments were subnormal
# from the second epoch on, and the optimizer step took nearly 3x as long. Flushing them to
# zero, as the CPU's flush-to-zero mode would, changes an update by at most
# lr * 1.2e-38 / eps (about 1e-33), below what a float32 weight of ordinary size can
# represent: the benchmark's weights after 3 Fashion-MNIST epochs were bitwise identical
# with and without. torch.set_flush_denormal cannot do it here: it sets only the calling
# thread, and the intra-op worker threads keep the mode they started with.
_FLUSH_SUBNORMALS_EVERY = 16


def _flush_subnormal_moments(optimizer: torch.optim.Optimizer) -> None:
    for state in optimizer.state.values():
        for key in ("exp_avg", "exp_avg_sq"):
            moment = state.get(key)
            if isinstance(moment, torch.Tensor) and moment.is_floating_point():
                moment.masked_fill_(moment.abs() < torch.finfo(moment.dtype).tiny, 0.0)


def _has_non_finite_weights(model) -> bool:
    return any(not torch.isfinite(p).all() for p in model.parameters())


_INITIALISED_LAYERS = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)


def new_model(config: ModelConfig, seed: int = 0) -> Autoencoder | VAE:
    """A freshly initialised model whose weights depend only on the seed.

    The weights are PyTorch's default initialisation, drawn in the same order
    (so they equal ``torch.manual_seed(seed); build_model(config)``), but from a
    generator of their own: torch's global generator is neither used nor changed.
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.device("meta"):  # no default initialisation to throw away
        model = build_model(config)
    model.to_empty(device="cpu")
    with torch.no_grad():
        for layer in model.modules():
            if isinstance(layer, _INITIALISED_LAYERS):
                nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)
                # weight[0] holds one output unit's inputs: its size is the layer's fan-in.
                bound = 1 / math.sqrt(layer.weight[0].numel())
                nn.init.uniform_(layer.bias, -bound, bound, generator=generator)
    return model
