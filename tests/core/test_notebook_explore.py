"""latent_explorer.explore(): a VAE written and run in a notebook, kept in the model store through ONNX and the
checks of every import, with its images as a dataset of the person's own; a server started for it answers and
stops; and what cannot be used is refused with a sentence, keeping nothing."""

from __future__ import annotations

import signal
import subprocess
import sys
import types
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import latent_explorer
from latent_explorer import notebook
from latent_explorer.notebook import ExploreError, own_images_dataset
from vae_core.image_sources import ImageSourceError
from vae_core.onnx_import import OnnxModelError, OnnxVAE
from vae_core.store import STORE_ENV, ModelStore

IMAGE_SHAPE = (1, 8, 8)
CLASS_NAMES = ("ring", "cross", "bar", "dot")


class TinyVAE(nn.Module):
    """Not one of the app's models: an MLP to (μ, log σ²) with dropout (so that a training-mode export would
    give other numbers), and an MLP back to (N, 1, 8, 8) logits."""

    def __init__(self, latent_dim: int = 3):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.Tanh(), nn.Dropout(0.5))
        self.mean = nn.Linear(32, latent_dim)
        self.log_variance = nn.Linear(32, latent_dim)
        self.expand = nn.Sequential(nn.Linear(latent_dim, 32), nn.Tanh(), nn.Linear(32, 64),
                                    nn.Unflatten(1, IMAGE_SHAPE))

    def encode(self, x):
        h = self.body(x)
        return self.mean(h), self.log_variance(h)

    def decode(self, z):
        return self.expand(z)


class SigmaEncoder(nn.Module):
    """An encoder module to (μ, σ)."""

    def __init__(self, latent_dim: int = 2):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU())
        self.mean, self.scale = nn.Linear(16, latent_dim), nn.Linear(16, latent_dim)

    def forward(self, x):
        h = self.body(x)
        return self.mean(h), F.softplus(self.scale(h)) + 0.01


class MeanDecoder(nn.Module):
    """A decoder module to flat Gaussian pixel means, (N, 64)."""

    def __init__(self, latent_dim: int = 2, squash: bool = True):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(latent_dim, 16), nn.ReLU(), nn.Linear(16, 64),
                                    *([nn.Sigmoid()] if squash else []))

    def forward(self, z):
        return self.layers(z)


def _model(seed: int = 0, **settings) -> TinyVAE:
    torch.manual_seed(seed)
    return TinyVAE(**settings)


def _images(count: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    images = torch.rand(count, *IMAGE_SHAPE, generator=torch.Generator().manual_seed(1))
    return images, torch.arange(count) % len(CLASS_NAMES)


def _nothing_kept(store: Path) -> bool:
    return not (store / "models").exists() or not any((store / "models").iterdir())


def test_explore_keeps_the_torch_models_numbers_and_their_images(tmp_path, capsys):
    vae = _model().train()
    images, labels = _images()
    result = latent_explorer.explore(vae.encode, vae.decode, images, labels, class_names=CLASS_NAMES,
                                     name="tiny", store=tmp_path, start=False)

    assert result.url == f"http://localhost:8501/?model={result.model_id}"
    assert result.url in capsys.readouterr().out and result.model_id in repr(result)
    assert vae.training and vae.body[-1].training  # left in the mode it was in
    kept = ModelStore(tmp_path).open(result.model_id)
    assert kept.entry.label == "tiny" and kept.entry.image_count == 64
    imported = kept.pair.vae
    assert isinstance(imported, OnnxVAE) and imported.config.latent_dim == 3
    vae.eval()
    with torch.no_grad():
        mu, logvar = vae.encode(images)
        z = torch.randn(16, 3, generator=torch.Generator().manual_seed(2))
        logits = vae.decode(z)
    got_mu, got_logvar = imported.encode(images)
    torch.testing.assert_close(got_mu, mu, atol=1e-5, rtol=0)
    torch.testing.assert_close(got_logvar, logvar, atol=1e-5, rtol=0)
    torch.testing.assert_close(imported.decode_logits(z), logits, atol=1e-5, rtol=0)
    torch.testing.assert_close(imported.decode(z), torch.sigmoid(logits), atol=1e-5, rtol=0)

    dataset = kept.dataset
    assert dataset.name == kept.pair.dataset == "custom:tiny" and dataset.class_names == CLASS_NAMES
    assert torch.bincount(dataset.test_labels).tolist() == [3, 3, 3, 3]  # a fifth of each class held out
    stored = {(image.numpy().tobytes(), int(label)) for image, label in
              zip(torch.cat([dataset.train_images, dataset.test_images]),
                  torch.cat([dataset.train_labels, dataset.test_labels]))}
    given = {(image.numpy().tobytes(), int(label)) for image, label in
             zip(torch.round(images * 255).to(torch.uint8), labels)}
    assert stored == given


def test_explore_on_a_registered_dataset_with_sigma_and_gaussian_means(tmp_path, capsys):
    encoder, decoder = SigmaEncoder(), MeanDecoder()
    result = latent_explorer.explore(encoder, decoder, dataset="digits", likelihood="gaussian", encoder_scale="sigma",
                                     store=tmp_path, url="http://lab.example.org/explorer/", start=False)

    assert result.url == f"http://lab.example.org/explorer/?model={result.model_id}"
    kept = ModelStore(tmp_path).open(result.model_id)
    assert kept.dataset is None and kept.entry.dataset == "digits" and kept.entry.image_count == 0
    images, _ = _images(8)
    with torch.no_grad():
        mu, sigma = encoder(images)
        means = decoder(mu)
    got_mu, got_logvar = kept.pair.vae.encode(images)
    torch.testing.assert_close(got_mu, mu, atol=1e-5, rtol=0)
    torch.testing.assert_close(got_logvar, 2 * torch.log(sigma), atol=1e-5, rtol=0)
    torch.testing.assert_close(kept.pair.vae.decode(mu), means.reshape(8, *IMAGE_SHAPE), atol=1e-5, rtol=0)


def test_uint8_grey_images_without_labels_become_an_unlabelled_dataset():
    pixels = np.random.default_rng(3).integers(0, 256, (20, 10, 10), dtype=np.uint8)
    dataset = own_images_dataset(pixels, name="plain")
    assert dataset.name == "custom:plain" and dataset.image_shape == (1, 10, 10)
    assert dataset.class_names == ("unlabelled",) and len(dataset.test_images) == 4
    stored = {image.numpy().tobytes() for image in torch.cat([dataset.train_images, dataset.test_images])}
    assert stored == {image[None].tobytes() for image in pixels}


def test_importing_the_package_stays_cheap_and_the_call_streamlit_free():
    script = ("import sys, latent_explorer; assert 'torch' not in sys.modules; latent_explorer.explore; "
              "assert 'torch' in sys.modules and 'streamlit' not in sys.modules, sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", script], check=True, cwd=Path(__file__).resolve().parents[2], timeout=120)


class _ThreeOutputs(nn.Module):
    def forward(self, x):
        flat = x.flatten(1)[:, :2]
        return flat, flat, flat


class _BranchesOnValues(nn.Module):
    """Runs, but a Python branch on a tensor's value is nothing torch.export can trace."""

    def __init__(self):
        super().__init__()
        self.mean, self.log_variance = nn.Linear(64, 3), nn.Linear(64, 3)

    def forward(self, x):
        flat = x.flatten(1)
        if flat.mean() > 0.5:
            flat = flat * 2
        return self.mean(flat), self.log_variance(flat)


@pytest.mark.parametrize("images, words", [
    (torch.rand(64, 8, 9), "must be square"),
    (torch.rand(64, 4, 4), "8 to 64 pixels"),
    (torch.rand(64, 8, 8, 1), "channels last"),
    (torch.rand(64, 2, 8, 8), "1 or 3 channels"),
    (torch.rand(64), r"\(N, C, H, W\)"),
], ids=["not square", "too small", "channels last", "two channels", "flat"])
def test_images_of_a_bad_shape_are_refused(tmp_path, images, words):
    vae = _model()
    with pytest.raises(ExploreError, match=words):
        latent_explorer.explore(vae.encode, vae.decode, images, store=tmp_path, start=False)
    assert _nothing_kept(tmp_path)


def test_images_the_upload_reader_refuses_are_refused_with_its_words(tmp_path):
    vae = _model()
    with pytest.raises(ImageSourceError, match="divide by 255"):
        latent_explorer.explore(vae.encode, vae.decode, torch.rand(64, 1, 8, 8) * 255, store=tmp_path, start=False)
    assert _nothing_kept(tmp_path)


@pytest.mark.parametrize("case, error, words", [
    ("encoder gives one tensor", ExploreError, r"must return two tensors, μ and log σ²; it returned a tensor"),
    ("encoder gives three", ExploreError, "must return two tensors.*a tuple of 3"),
    ("decoder gives a pair", ExploreError, r"decoder\(z\) must return one tensor, the pixels' logits"),
    ("latent sizes differ", ExploreError, "fails on the encoder's 3-d codes"),
    ("branches on values", ExploreError, "encoder cannot be exported to ONNX .*data-dependent"),
    ("gaussian means outside [0, 1]", OnnxModelError, r"outside the images' range \[0, 1\]"),
])
def test_models_that_cannot_be_used_are_refused_and_nothing_is_kept(tmp_path, case, error, words):
    vae, other = _model(latent_dim=3), _model(latent_dim=2)
    encoder, decoder, likelihood = vae.encode, vae.decode, "bernoulli"
    if case == "encoder gives one tensor":
        encoder = lambda x: vae.encode(x)[0]  # noqa: E731
    elif case == "encoder gives three":
        encoder = _ThreeOutputs()
    elif case == "decoder gives a pair":
        decoder = lambda z: (vae.decode(z), z)  # noqa: E731
    elif case == "latent sizes differ":
        decoder = other.decode
    elif case == "branches on values":
        encoder = _BranchesOnValues()
    else:
        encoder, decoder, likelihood = SigmaEncoder(3), MeanDecoder(3, squash=False), "gaussian"
    images, labels = _images()
    with pytest.raises(error, match=words):
        latent_explorer.explore(encoder, decoder, images, labels, likelihood=likelihood, store=tmp_path, start=False)
    assert _nothing_kept(tmp_path)


def test_a_url_where_nothing_answers_is_refused_before_the_export(tmp_path, monkeypatch):
    def no_export(*args, **kwargs):
        raise AssertionError("exported before the server was checked")

    monkeypatch.setattr(notebook, "exported_pair", no_export)
    vae = _model()
    with pytest.raises(ExploreError, match="nothing answers at http://localhost:9/_stcore/health"):
        latent_explorer.explore(vae.encode, vae.decode, *_images(), store=tmp_path, url="http://localhost:9")
    assert _nothing_kept(tmp_path)


def _fake_jupyter(monkeypatch) -> list:
    """An IPython kernel as explore() sees one, whose display() records what it is given."""
    shown = []
    ipython = types.ModuleType("IPython")
    ipython.get_ipython = lambda: types.SimpleNamespace(kernel=object())
    display = types.ModuleType("IPython.display")
    display.IFrame = lambda src, width, height: ("iframe", src, width, height)
    display.display = shown.append
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "IPython.display", display)
    return shown


def test_explore_starts_a_server_on_the_store_reuses_it_and_stops_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(STORE_ENV, str(tmp_path))
    shown = _fake_jupyter(monkeypatch)
    vae = _model()
    images, labels = _images()
    try:
        first = latent_explorer.explore(vae.encode, vae.decode, images, labels)
        (server,) = notebook._SERVERS.values()
        base = server.url
        assert first.url == f"{base}/?model={first.model_id}" and base.startswith("http://localhost:")
        assert f"Latent Explorer: {first.url}" in capsys.readouterr().out
        assert shown == [("iframe", first.url, "100%", notebook.IFRAME_HEIGHT_PX)]
        with urllib.request.urlopen(f"{base}/_stcore/health", timeout=10) as response:
            assert response.read() == b"ok"
        with urllib.request.urlopen(first.url, timeout=10) as response:  # the page Streamlit serves for the link
            assert response.status == 200 and b'id="root"' in response.read()
        assert ModelStore(tmp_path).entry(first.model_id).image_count == 64

        second = latent_explorer.explore(vae.encode, vae.decode, images, labels, inline=False)
        assert second.url == f"{base}/?model={second.model_id}" and len(shown) == 1
        assert list(notebook._SERVERS.values()) == [server]
    finally:
        notebook.stop_servers()
    # Ended by closing its pipe, the way this process's end would end it: its watcher's SIGTERM, by which uvicorn
    # ends once it has shut down gracefully; not stop()'s kill (-SIGKILL) nor the watcher's give-up exit (1).
    assert server.process.returncode == -signal.SIGTERM
    assert not notebook._SERVERS and not server.log_path.exists()
