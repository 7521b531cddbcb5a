"""The command line: ``python -m vae_core train`` and ``evaluate``, and clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from core_helpers import REPO_ROOT

from vae_core.checkpoint import load_checkpoint
from vae_core.cli import main
from vae_core.training import device_name, resolve_device


def _run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # tiny models on a shared two-core machine
    return subprocess.run([sys.executable, "-m", "vae_core", *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def trained_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "tmp.pt"
    result = _run("train", "--dataset", "digits", "--model", "both", "--latent-dim", "2", "--epochs", "2",
                  "--json", "-o", str(path))
    return path, result


def test_train_prints_json_lines_and_writes_a_checkpoint(trained_checkpoint):
    path, result = trained_checkpoint
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    # The AE and the VAE train side by side, each reporting its epochs.
    assert [(line["model"], line["epoch"]) for line in lines] == [("ae", 1), ("vae", 1), ("ae", 2), ("vae", 2)]
    for line in lines:
        assert {"epoch", "train_s", "train_loss", "test_loss"} <= set(line)
        assert line["epochs"] == 2 and line["train_loss"] > 0 and line["test_loss"] > 0
    assert str(path) in result.stderr
    pair = load_checkpoint(path)
    assert pair.dataset == "digits"
    assert pair.ae.config.latent_dim == pair.vae.config.latent_dim == 2
    assert (pair.ae.config.hidden_dim, pair.vae.config.hidden_dim) == (256, 400)  # the seeds' defaults
    assert [h["epoch"] for h in pair.histories["vae"]] == [1, 2]
    assert pair.train_settings["vae"]["epochs"] == 2 and pair.train_settings["vae"]["dataset"] == "digits"
    # "auto" asked for; the device it ran on recorded, and said.
    trained_on = pair.train_settings["vae"]["trained_on"]
    assert pair.train_settings["vae"]["device"] == "auto" and trained_on == device_name(resolve_device("auto"))
    assert f"training on {trained_on}" in result.stderr


def test_evaluate_reports_elbo_below_log_px(trained_checkpoint):
    path, _ = trained_checkpoint
    result = _run("evaluate", str(path), "--json", "--samples", "5")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    vae, ae = report["vae"], report["ae"]
    assert vae["images"] == ae["images"] == 360 and vae["samples"] == 5
    assert vae["elbo"] == pytest.approx(-(vae["reconstruction_nll"] + vae["kl"]), abs=0.05)
    assert vae["log_px"] >= vae["elbo"] - 0.05
    assert ae["reconstruction_nll"] > 0 and "elbo" not in ae


def test_evaluate_text_output_with_limit(trained_checkpoint, capsys):
    path, _ = trained_checkpoint
    assert main(["evaluate", str(path), "--samples", "3", "--limit", "20"]) == 0
    out = capsys.readouterr().out
    assert "20 test images" in out and "ELBO" in out and "log p(x)" in out and "AE" in out


def test_bad_option_value_is_a_clear_error_without_traceback(tmp_path, capsys):
    # In process: an uncaught exception would propagate here (and be a traceback under `python -m`).
    output = tmp_path / "never.pt"
    code = main(["train", "--epochs", "0", "-o", str(output)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and "epochs" in err
    assert "Traceback" not in err
    assert not output.exists()


@pytest.mark.parametrize("argv, words", [
    (["train", "--batch-size", "0"], "batch size"),
    (["train", "--lr", "0"], "learning rate"),
    (["train", "--beta", "-1"], "beta"),
    (["train", "--hidden-dim", "9000"], "hidden_dim"),
    (["train", "--latent-dim", "600"], "latent_dim"),
    (["train", "--dataset", "mnist", "--data-dir", "/nonexistent"], None),
])
def test_invalid_training_options_exit_with_error(tmp_path, capsys, monkeypatch, argv, words):
    from vae_core import data, download, registry

    if "mnist" in argv:  # no local copy, and a mirror nobody answers on: the download fails
        monkeypatch.setattr(data, "find_local_folder", lambda name, data_dir=None: None)
        monkeypatch.setattr(registry, "DOWNLOAD_DIR", tmp_path / "cache")
        monkeypatch.setenv(download.MIRRORS_ENV, "http://127.0.0.1:9/")
        data.load_dataset.cache_clear()
    output = tmp_path / "never.pt"
    code = main([*argv, "--epochs", "1", "-o", str(output)] if "--epochs" not in argv else argv)
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ")
    if words:
        assert words in err
    assert not output.exists()


@pytest.mark.parametrize("option", ["--latent-dim", "--hidden-dim"])
def test_zero_sizes_are_rejected_not_replaced_by_defaults(tmp_path, capsys, option):
    # `args.latent_dim or latent` in cli.py turns an explicit 0 into the default size.
    output = tmp_path / "zero.pt"
    code = main(["train", "--model", "vae", option, "0", "--epochs", "1", "--json", "-o", str(output)])
    err = capsys.readouterr().err
    assert code != 0 and "error:" in err
    assert not output.exists()


def test_argparse_rejects_unknown_choices(capsys):
    with pytest.raises(SystemExit) as raised:
        main(["train", "--model", "gan"])
    assert raised.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_evaluate_refuses_a_bad_checkpoint(tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    assert main(["evaluate", str(bad)]) == 2
    assert capsys.readouterr().err.startswith("error: this is not a PyTorch checkpoint")
    assert main(["evaluate", str(tmp_path / "absent.pt")]) == 2
    assert "no checkpoint file" in capsys.readouterr().err


def test_evaluate_rejects_zero_samples(trained_checkpoint, capsys):
    path, _ = trained_checkpoint
    assert main(["evaluate", str(path), "--samples", "0"]) == 2
    assert "error:" in capsys.readouterr().err


def test_train_a_convolutional_pair_in_fp32(tmp_path):
    path = tmp_path / "conv.pt"
    result = _run("train", "--dataset", "digits", "--arch", "conv", "--latent-dim", "2", "--hidden-dim", "16",
                  "--ae-code", "linear", "--epochs", "1", "--precision", "fp32", "--threads", "1", "--json",
                  "-o", str(path))
    assert result.returncode == 0, result.stderr
    pair = load_checkpoint(path)
    assert {m.config.architecture for m in pair.models().values()} == {"conv"}
    assert pair.train_settings["vae"]["precision"] == "fp32"
    report = json.loads(_run("evaluate", str(path), "--json", "--samples", "2").stdout)
    assert report["vae"]["elbo"] < 0 and report["ae"]["reconstruction_nll"] > 0


@pytest.mark.parametrize("argv, words", [
    (["--threads", "0"], "--threads"),
    (["--arch", "conv", "--dataset", "digits", "--precision", "bf16"], None),
])
def test_bad_engine_options_exit_with_a_message(tmp_path, capsys, monkeypatch, argv, words):
    from vae_core import training

    monkeypatch.setattr(training, "cpu_computes_bf16", lambda: False)  # bf16 asked for where there is none
    output = tmp_path / "never.pt"
    code = main(["train", "--epochs", "1", "--hidden-dim", "8", *argv, "-o", str(output)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ")
    assert (words or "native bfloat16") in err
    assert not output.exists()
