"""Training engine start-up: from "Train" to the first epoch on a cold LocalCluster and on a warm one, and the
resident memory of the process that hosts the engine (as the web server does), idle and with the cluster running.

Cold: the first training of a process, which starts the LocalCluster (its scheduler in this process) and a
worker process, which imports torch and loads the dataset. Warm: the next training, on the worker that is still
there. Each is timed to its job's first "running" report (a worker has taken it) and to its first finished epoch,
with a tiny VAE on the embedded digits, so that the epoch itself takes a small part of the time. Timings depend on
the load: the workers run at the lowest priority (SCHED_IDLE) and get only the CPU time nothing else wants.

    python -m benchmarks.engine_startup
    python -m benchmarks.engine_startup --cluster tcp://127.0.0.1:8786 --device cuda --dataset fashion-mnist

With ``--cluster`` the trainings go to that scheduler's workers (a GPU machine's, say) and nothing is started
here: "cold" is then the first training a worker takes (it imports the training code, starts CUDA and loads the
dataset), "warm" the ones after it.
"""

from __future__ import annotations

import argparse
import os
import time

import psutil

from vae_core import TrainConfig
from vae_core.pairs import JobSpec


def training_spec(dataset: str, device: str, data_dir: str | None) -> JobSpec:
    return JobSpec(dataset, kinds=("vae",), latent_dim=2, hidden_dim=64, data_dir=data_dir,
                   train=TrainConfig(epochs=1000, device=device))


def mib(n_bytes: int) -> str:
    return f"{n_bytes / 2**20:.0f} MiB"


def children_rss() -> int:
    return sum(child.memory_info().rss for child in psutil.Process().children(recursive=True))


def time_to_first_epoch(engine, spec: JobSpec) -> tuple[float, float]:
    from vae_core.jobs import JobStatus, TrainingJob

    started = time.perf_counter()
    job = TrainingJob(spec, engine=engine).start()
    running = None
    while job.progress().epochs_done < 1:
        if running is None and job.status == JobStatus.RUNNING:
            running = time.perf_counter() - started
        if job.status.done:
            raise RuntimeError(f"the training ended before an epoch: {job.progress().error}")
        time.sleep(0.01)
    first_epoch = time.perf_counter() - started
    job.cancel()
    job.wait()
    return running or first_epoch, first_epoch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cluster", help="a dask scheduler's address (default: a LocalCluster of this machine)")
    parser.add_argument("--device", default="cpu", help="the trainings' device (default cpu)")
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--data-dir", help="the dataset's folder, as the workers see it")
    args = parser.parse_args()
    spec = training_spec(args.dataset, args.device, args.data_dir)
    print(f"{args.dataset} on {args.device}, {'scheduler ' + args.cluster if args.cluster else 'a LocalCluster'}")
    print(f"load average before: {[round(x, 2) for x in os.getloadavg()]}")
    me = psutil.Process()
    before = me.memory_info().rss
    from vae_core.engine import TrainingEngine  # dask.distributed with it

    idle = me.memory_info().rss
    print(f"torch and vae_core imported: this process {mib(before)}; with the engine (dask.distributed) "
          f"imported, no cluster: {mib(idle)} (+{mib(idle - before)}), {len(me.children(recursive=True))} children")
    engine = TrainingEngine(args.cluster) if args.cluster else TrainingEngine(max_workers=2)
    try:
        for name in ("cold", "warm", "warm"):
            to_running, to_epoch = time_to_first_epoch(engine, spec)
            print(f"{name}: to a worker {to_running:.2f} s, to the first epoch {to_epoch:.2f} s")
        print(f"{'Connected to the cluster' if args.cluster else 'LocalCluster running, one worker warm'}: this "
              f"process {mib(me.memory_info().rss)}, its {len(me.children(recursive=True))} children "
              f"{mib(children_rss())}")
    finally:
        engine.close()
    print(f"load average after: {[round(x, 2) for x in os.getloadavg()]}")


if __name__ == "__main__":
    main()
