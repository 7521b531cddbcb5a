"""Pairs trained on your own images: the CLI, background jobs and checkpoints that carry the data manifest."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import torch
from core_helpers import single_thread

from devtools.sample_images import shapes_zip
from vae_core.checkpoint import CheckpointError, checkpoint_dict, load_checkpoint, save_checkpoint
from vae_core.cli import main
from vae_core.image_sources import ConversionOptions, load_image_source
from vae_core.jobs import JobSpec, JobStatus, TrainingJob
from vae_core.training import TrainConfig
from vae_core.workspace import Workspace


@pytest.fixture(scope="module")
def own_dataset():
    return load_image_source(shapes_zip(), "shapes.zip", ConversionOptions(image_size=12))


@pytest.fixture(scope="module")
def images_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("own") / "shapes.zip"
    path.write_bytes(shapes_zip())
    return path


@pytest.fixture(scope="module")
def cli_checkpoint(images_path, tmp_path_factory):
    output = tmp_path_factory.mktemp("own-ckpt") / "shapes.pt"
    with single_thread():
        code = main(["train", "--images", str(images_path), "--image-size", "12", "--latent-dim", "2",
                     "--hidden-dim", "16", "--epochs", "2", "--json", "-o", str(output)])
    assert code == 0
    return output


def test_the_cli_trains_on_own_images_and_records_the_manifest(cli_checkpoint, images_path, capsys):
    pair = load_checkpoint(cli_checkpoint)
    assert pair.dataset == "custom:shapes"
    manifest = pair.data_manifest
    assert manifest["source"] == "shapes.zip" and manifest["class_counts"] == {"bright": 6, "dark": 6}
    assert (manifest["image_size"], manifest["channels"]) == (12, 1)
    assert {kind: m.config.input_shape for kind, m in pair.models().items()} == {"ae": (1, 12, 12),
                                                                                  "vae": (1, 12, 12)}
    assert pair.train_settings["vae"]["dataset"] == "custom:shapes"
    assert "data_manifest" in torch.load(cli_checkpoint, weights_only=True)


def test_the_cli_says_what_it_read(images_path, tmp_path, capsys):
    with single_thread():
        assert main(["train", "--images", str(images_path), "--image-size", "10", "--channels", "3",
                     "--model", "vae", "--latent-dim", "2", "--hidden-dim", "8", "--epochs", "1", "--json",
                     "-o", str(tmp_path / "c.pt")]) == 0
    err = capsys.readouterr().err
    assert "Your images: shapes: 12 images (bright 6, dark 6), 10 to train on, 2 held out" in err
    assert "20x20 pixels: resized to 10x10" in err and "repeated into 3 colour channels" in err
    assert load_checkpoint(tmp_path / "c.pt").vae.config.input_shape == (3, 10, 10)


def test_evaluate_needs_the_same_images(cli_checkpoint, images_path, tmp_path, capsys):
    with single_thread():
        assert main(["evaluate", str(cli_checkpoint), "--images", str(images_path), "--samples", "4",
                     "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert results["vae"]["images"] == 2 and np.isfinite(results["vae"]["elbo"])

    assert main(["evaluate", str(cli_checkpoint)]) == 2
    assert "trained on your own images (shapes.zip); pass the same images with --images" in capsys.readouterr().err

    other = tmp_path / "other.zip"
    other.write_bytes(shapes_zip(seed=1))
    assert main(["evaluate", str(cli_checkpoint), "--images", str(other)]) == 2
    assert "are not the images" in capsys.readouterr().err


def test_the_cli_refuses_bad_images_clearly(tmp_path, capsys):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("../../escape.png", b"x")
    assert main(["train", "--images", str(archive), "-o", str(tmp_path / "never.pt")]) == 2
    assert "climbs out of its folder" in capsys.readouterr().err
    assert not (tmp_path / "never.pt").exists()
    assert main(["train", "--images", str(archive), "--image-size", "200", "-o", str(tmp_path / "n.pt")]) == 2
    assert "from 8 to 64" in capsys.readouterr().err


def test_dataset_and_images_are_exclusive(images_path, capsys):
    with pytest.raises(SystemExit):
        main(["train", "--dataset", "digits", "--images", str(images_path)])
    assert "not allowed with argument" in capsys.readouterr().err


def test_a_background_job_trains_on_own_images(own_dataset, tmp_path):
    spec = JobSpec(own_dataset.name, latent_dim=2, hidden_dim=16, custom_dataset=own_dataset,
                   train=TrainConfig(epochs=2, batch_size=8, device="cpu"))
    assert spec.model_config("vae").input_shape == (1, 12, 12)
    with single_thread():
        job = TrainingJob(spec).start()
        assert job.wait(timeout=120) == JobStatus.FINISHED, job.progress().error
    pair = job.result_pair()
    assert pair.dataset == "custom:shapes" and pair.data_manifest == own_dataset.manifest
    workspace = Workspace(pair, own_dataset, label="mine")
    assert workspace.dataset_title == "Your images: shapes" and len(workspace) == 2
    again = load_checkpoint(save_checkpoint(pair, tmp_path / "job.pt"))
    assert again.data_manifest == own_dataset.manifest


def test_a_job_spec_refuses_a_dataset_under_another_name(own_dataset):
    with pytest.raises(ValueError, match="the custom dataset is 'custom:shapes', not 'custom:other'"):
        JobSpec("custom:other", custom_dataset=own_dataset)
    with pytest.raises(ValueError, match="unknown dataset"):
        JobSpec("custom:shapes")


@pytest.mark.parametrize("change, message", [
    (lambda c: c.pop("data_manifest"), "data manifest for custom:shapes is unusable: the data manifest is missing"),
    (lambda c: c["data_manifest"].update(image_size=tensor_value()), "unusable"),
    (lambda c: c["data_manifest"].pop("channels"), "lacks a conversion setting"),
    (lambda c: c["data_manifest"].update(channels=2), "channels must be 1"),
    (lambda c: c["data_manifest"].update(image_size=14), r"takes images of shape \(1, 12, 12\), but its dataset "
                                                         r"has \(1, 14, 14\)"),
    (lambda c: c.update(dataset="custom:../../etc"), "unknown dataset 'custom:../../etc'"),
    (lambda c: c.update(dataset="custom:"), "unknown dataset"),
])
def test_custom_checkpoints_with_a_bad_manifest_are_refused(cli_checkpoint, tmp_path, change, message):
    content = checkpoint_dict(load_checkpoint(cli_checkpoint))
    change(content)
    torch.save(content, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(tmp_path / "bad.pt")


def tensor_value():
    return torch.tensor(12)
