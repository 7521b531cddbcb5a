"""Training on a real dask cluster: a scheduler and a worker as processes of their own, the app pointed at them
with LATENT_EXPLORER_CLUSTER, a training started from the Train page in Chromium, and no process started by the
web server."""

from __future__ import annotations

import os
import subprocess
import sys

import psutil
import pytest
from distributed import Client

from devtools.browser import (
    LANDING_ON_DIGITS,
    REPO_ROOT,
    RUN_COUNTER_JS,
    VIEWPORT,
    StreamlitServer,
    active_models_label,
    alert,
    exception_texts,
    free_port,
    open_train,
    server_tracebacks,
    set_number,
    wait_for_app,
)
from vae_core.engine import CLUSTER_ENV, TASK_PREFIX

pytestmark = pytest.mark.browser

TRAIN_WAIT_S = 300  # a worker's first training imports torch and loads digits; generous for a shared machine
ARTIFACTS = REPO_ROOT / "test-artifacts"


def _dask(*args: str, log_name: str) -> subprocess.Popen:
    # The worker needs only this project importable (here, from the checkout; elsewhere, `pip install .`).
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])))
    ARTIFACTS.mkdir(exist_ok=True)
    log = open(ARTIFACTS / log_name, "w", encoding="utf-8")  # noqa: SIM115 - closed with the process, below
    process = subprocess.Popen([sys.executable, "-m", "dask", *args], cwd=REPO_ROOT, stdout=log,
                               stderr=subprocess.STDOUT, env=env)
    process.log = log
    return process


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)
    process.log.close()


@pytest.fixture(scope="module")
def cluster():
    """`dask scheduler` and one `dask worker` (one thread) on free loopback ports; yields the scheduler's address."""
    address = f"tcp://127.0.0.1:{free_port()}"
    scheduler = _dask("scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1], "--no-dashboard",
                      log_name="dask-scheduler.log")
    worker = _dask("worker", address, "--nthreads", "1", "--nworkers", "1", "--host", "127.0.0.1",
                   "--no-dashboard", log_name="dask-worker.log")
    try:
        with Client(address, timeout="60s") as client:
            client.wait_for_workers(1, timeout=180)
        yield address
    finally:
        _stop(worker)
        _stop(scheduler)


@pytest.fixture(scope="module")
def cluster_app(cluster):
    server = StreamlitServer("app.py", log_path=ARTIFACTS / "streamlit-cluster-server.log",
                             env={**LANDING_ON_DIGITS, CLUSTER_ENV: cluster}).start()
    try:
        server.wait_healthy()
        yield server
    finally:
        server.stop()


def test_a_training_from_the_train_page_runs_on_the_cluster_and_the_server_starts_no_process(
        browser, cluster, cluster_app):
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(90_000)
    context.add_init_script(RUN_COUNTER_JS)
    log_offset = cluster_app.log_size()
    try:
        page = open_train(_Visitor(context.new_page(), cluster_app))
        set_number(page, "Hidden size", 32)
        set_number(page, "Epochs", 2)
        page.get_by_role("button", name="Train", exact=True).click()
        finished = alert(page, "Training finished")
        wait_for_app(page, finished, timeout_s=TRAIN_WAIT_S)
        assert "2 epochs" in active_models_label(page) and active_models_label(page).endswith("(yours)")
        assert exception_texts(page) == []
    finally:
        context.close()

    assert psutil.Process(cluster_app.process.pid).children(recursive=True) == [], \
        "the web server started a process of its own"
    with Client(cluster, timeout="60s") as client:
        prefixes = client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.task_prefixes))
    assert TASK_PREFIX in prefixes, "the training did not run on the cluster"
    assert server_tracebacks(cluster_app.log_since(log_offset)) == []


class _Visitor:
    """What open_train needs of a visitor: a page, opened on this server."""

    def __init__(self, page, server: StreamlitServer):
        self.page, self.server = page, server

    def open(self, path: str = "/"):
        self.page.goto(self.server.url + path, wait_until="domcontentloaded")
        return self.page
