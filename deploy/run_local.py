"""N app processes behind nginx on this machine, sharing one model store (and, with --cluster, one dask scheduler).

    python -m deploy.run_local                      # 2 processes, http://127.0.0.1:8080
    python -m deploy.run_local --processes 3 --port 9000 --cluster --store /tmp/lx-store

Everything listens on 127.0.0.1 only. Ctrl-C (or SIGTERM) stops every process it started; so does any of them
exiting on its own. Logs go to --logs (a new temporary folder by default), which it prints.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from devtools.browser import free_port
from devtools.proxy import NginxProxy, die_with_parent, wait_for_health

REPO_ROOT = Path(__file__).resolve().parents[1]
# As vae_core names them; not imported from there, which would load torch into this small supervisor.
STORE_ENV = "LATENT_EXPLORER_STORE"      # vae_core/store.py
CLUSTER_ENV = "LATENT_EXPLORER_CLUSTER"  # vae_core/engine.py
DEFAULT_STORE = Path.home() / ".cache" / "latent-explorer" / "store"
HOST = "127.0.0.1"
MAX_PROCESSES = 8  # each app process holds about 1 GiB with both shipped models loaded
APP_START_S = 180  # a cold start loads torch and the shipped models; generous on a shared 2-core machine
CLUSTER_START_S = 60


class Supervisor:
    """Starts child processes with their output in log files, and stops them all, last started first."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.children: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, command: list[str], env: dict[str, str], lower_priority: bool = False):
        log = open(self.log_dir / f"{name}.log", "w", encoding="utf-8")

        def prepare_child():
            die_with_parent()
            if lower_priority:
                # Like the app's own LocalCluster workers: training gets only the CPU time the web servers leave.
                try:
                    os.nice(19)
                    if hasattr(os, "SCHED_IDLE"):
                        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
                except OSError:  # not permitted here: train at normal priority rather than not at all
                    pass

        # A session of its own: Ctrl-C reaches only this script, which stops the children in order.
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True, preexec_fn=prepare_child)
        log.close()
        self.children.append((name, process))
        return process

    def exited(self) -> list[str]:
        return [f"{name} (exit {process.returncode})" for name, process in self.children if process.poll() is not None]

    def stop_all(self) -> None:
        for _, process in reversed(self.children):
            if process.poll() is None:
                process.terminate()
        for name, process in reversed(self.children):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                print(f"{name} did not stop within 20 s: killed", file=sys.stderr)
                process.kill()
                process.wait()


def wait_for_port(port: int, process: subprocess.Popen, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        with socket.socket() as s:
            if s.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not listen on {HOST}:{port} within {timeout_s:.0f} s")


def stop_like_ctrl_c(signum, frame):
    raise KeyboardInterrupt


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, default=2, help=f"app processes, 1 to {MAX_PROCESSES} (default 2)")
    parser.add_argument("--port", type=int, default=8080, help="the proxy's port on 127.0.0.1 (default 8080)")
    parser.add_argument("--store", type=Path, default=None,
                        help=f"the model store folder they share (default ${STORE_ENV}, else {DEFAULT_STORE})")
    parser.add_argument("--cluster", action="store_true",
                        help="start a dask scheduler and one worker, and train there instead of in each process")
    parser.add_argument("--logs", type=Path, default=None, help="folder for every log (default: a new temp folder)")
    parser.add_argument("--hide-upstream", action="store_true",
                        help="do not add the X-Upstream header (which process answered) to responses")
    args = parser.parse_args(argv)
    if not 1 <= args.processes <= MAX_PROCESSES:
        parser.error(f"--processes must be 1 to {MAX_PROCESSES}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    log_dir = args.logs or Path(tempfile.mkdtemp(prefix="latent-explorer-local-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    store = args.store or Path(os.environ.get(STORE_ENV) or DEFAULT_STORE)
    if "://" not in str(store):
        store = store.expanduser().resolve()
        store.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONUNBUFFERED="1", **{STORE_ENV: str(store)})
    env.pop(CLUSTER_ENV, None)  # only --cluster names one, so a stray variable cannot send trainings elsewhere
    # dask's workers import vae_core from this checkout, installed or not.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))

    supervisor = Supervisor(log_dir)
    # Both explicitly: a shell starting this in the background ignores SIGINT for it, and Python keeps that.
    signal.signal(signal.SIGINT, stop_like_ctrl_c)
    signal.signal(signal.SIGTERM, stop_like_ctrl_c)
    proxy = None
    try:
        if args.cluster:
            scheduler_port = free_port()
            scheduler = supervisor.start("dask-scheduler", [
                sys.executable, "-m", "dask", "scheduler", "--host", HOST,
                "--port", str(scheduler_port), "--no-dashboard"], env)
            wait_for_port(scheduler_port, scheduler, CLUSTER_START_S, "the dask scheduler")
            address = f"tcp://{HOST}:{scheduler_port}"
            supervisor.start("dask-worker", [
                sys.executable, "-m", "dask", "worker", address, "--host", HOST, "--nthreads", "1",
                "--nworkers", "1", "--no-dashboard", "--name", "local-worker"], env, lower_priority=True)
            env[CLUSTER_ENV] = address
        app_ports = [free_port() for _ in range(args.processes)]
        apps = [supervisor.start(f"app-{port}", [
            sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
            "--server.address", HOST, "--server.headless", "true"], env) for port in app_ports]
        for port, app in zip(app_ports, apps):
            wait_for_health(f"http://{HOST}:{port}", app, APP_START_S, f"the app process on port {port}")
        proxy = NginxProxy([f"{HOST}:{port}" for port in app_ports], args.port, prefix=log_dir / "nginx",
                           report_upstream=not args.hide_upstream)
        proxy.start()
        print(f"Latent Explorer: {proxy.url}  ({args.processes} app processes on ports "
              f"{', '.join(map(str, app_ports))}; store {store}"
              f"{'; dask scheduler ' + env[CLUSTER_ENV] if args.cluster else ''})")
        print(f"Logs: {log_dir}  (nginx: {proxy.access_log_path}). Ctrl-C stops everything.", flush=True)
        while True:
            exited = supervisor.exited() + ([f"nginx (exit {proxy.process.returncode})"]
                                            if proxy.process.poll() is not None else [])
            if exited:
                print(f"stopping everything: {', '.join(exited)} ended (see {log_dir})", file=sys.stderr)
                return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        return 0
    except RuntimeError as err:
        print(f"{err}; logs in {log_dir}", file=sys.stderr)
        return 1
    finally:
        print("stopping…", file=sys.stderr)
        if proxy is not None:
            proxy.stop()
        supervisor.stop_all()


if __name__ == "__main__":
    sys.exit(main())
