"""The browser's runtime (latent_explorer/web/runtime.js): its decoder computes what torch computes for every shipped
model (and onnxruntime for an imported one), and its posterior ellipses are the n-sigma contours of q(z|x) seen
through the map's projection."""

from __future__ import annotations

import base64
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from latent_explorer.pack import decoder_entry, encode_pack
from vae_core import load_checkpoint
from vae_core.models import ModelConfig
from vae_core.onnx_pairs import import_onnx_pair
from vae_core.portable import portable_decoder

pytestmark = pytest.mark.browser

REPO_ROOT = Path(__file__).resolve().parents[2]
RUNTIME = (REPO_ROOT / "latent_explorer" / "web" / "runtime.js").read_text()
SHIPPED = sorted((REPO_ROOT / "latent_explorer" / "assets").glob("*.pt"))
TOLERANCE = 1e-4  # max abs difference in pixel value

DECODE_JS = """
([packBase64, kind, codes]) => {
  const bytes = Uint8Array.from(atob(packBase64), (c) => c.charCodeAt(0));
  const decoder = lxDecoder(lxRegisterPack(bytes), kind);
  return codes.map((z) => Array.from(decoder.decode(z)));
}
"""


@pytest.fixture
def runtime_page(browser):
    context = browser.new_context()
    page = context.new_page()
    page.set_content("<!doctype html><title>runtime</title>")
    page.evaluate("""async (text) => {
      const url = URL.createObjectURL(new Blob([text], {type: 'text/javascript'}));
      Object.assign(window, await import(url));
    }""", RUNTIME)  # an ES module: its exports become the page's globals for the expressions below
    yield page
    context.close()


def browser_decode(page, model, kind: str, z: np.ndarray) -> np.ndarray:
    decoder = portable_decoder(model)
    assert decoder is not None, "this model's decoder should run in the browser"
    arrays: dict[str, np.ndarray] = {}
    pack = encode_pack({"models": {kind: {"decoder": decoder_entry(kind, decoder, arrays)}}}, arrays)
    decoded = page.evaluate(DECODE_JS, [base64.b64encode(pack.data).decode(), kind, z.tolist()])
    return np.array(decoded, dtype=np.float32).reshape(len(z), *model.config.input_shape)


def torch_decode(model, z: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model.eval().decode(torch.as_tensor(z, dtype=torch.float32)).numpy()


@pytest.mark.parametrize("checkpoint", SHIPPED, ids=[path.name for path in SHIPPED])
def test_every_shipped_decoder_decodes_in_the_browser_as_in_torch(runtime_page, checkpoint):
    pair = load_checkpoint(checkpoint)
    for kind, model in pair.models().items():
        # Most of the prior's mass and well beyond it (the sliders reach ±4).
        z = np.random.default_rng(0).uniform(-4, 4, (120, model.config.latent_dim)).astype(np.float32)
        difference = np.abs(browser_decode(runtime_page, model, kind, z) - torch_decode(model, z)).max()
        assert difference <= TOLERANCE, f"{checkpoint.name} {kind}: max abs pixel difference {difference:.2e}"


class _ConvModel(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(3)
        self.config = ModelConfig(kind="vae", input_shape=(1, 28, 28), hidden_dim=8, latent_dim=4)
        self.decoder = nn.Sequential(
            nn.Linear(4, 32 * 7 * 7), nn.ReLU(), nn.Unflatten(1, (32, 7, 7)),
            nn.ConvTranspose2d(32, 16, 4, stride=2, padding=1), nn.ReLU(),
            nn.ConvTranspose2d(16, 8, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
            nn.Conv2d(8, 1, 3, padding=1))

    @property
    def device(self):
        return torch.device("cpu")

    def decode(self, z):
        return torch.sigmoid(self.decoder(z)).view(-1, 1, 28, 28)


def test_convolutional_decoders_decode_in_the_browser_as_in_torch(runtime_page):
    model = _ConvModel()
    z = np.random.default_rng(1).uniform(-3, 3, (100, 4)).astype(np.float32)
    difference = np.abs(browser_decode(runtime_page, model, "vae", z) - torch_decode(model, z)).max()
    assert difference <= TOLERANCE, f"max abs pixel difference {difference:.2e}"


OUTLINE_JS = """([mu, sigma, mean, components, n, count]) =>
    lxPosteriorOutline(mu, sigma, {mean, components}, n, count)"""


def outline(page, mu, sigma, mean, components, n: float, count: int) -> np.ndarray:
    return np.array(page.evaluate(OUTLINE_JS, [list(map(float, mu)), list(map(float, sigma)),
                                               list(map(float, mean)), np.asarray(components).tolist(), n, count]))


def test_identity_projection_gives_an_axis_aligned_ellipse(runtime_page):
    mu, sigma, n = np.array([1.0, -2.0]), np.array([0.5, 2.0]), 2.0
    points = outline(runtime_page, mu, sigma, [0, 0], np.eye(2), n, 73)  # 73 points hit 0, 90, 180, 270 degrees
    assert points.shape == (73, 2)
    x, y = points[:, 0], points[:, 1]
    assert x.max() == pytest.approx(1.0 + n * 0.5) and x.min() == pytest.approx(1.0 - n * 0.5)
    assert y.max() == pytest.approx(-2.0 + n * 2.0) and y.min() == pytest.approx(-2.0 - n * 2.0)
    np.testing.assert_allclose(((x - 1.0) / (n * 0.5)) ** 2 + ((y + 2.0) / (n * 2.0)) ** 2, 1.0, atol=1e-12)
    assert y[np.argmax(x)] == pytest.approx(-2.0)  # the extreme in x sits at the centre's y: not tilted
    np.testing.assert_allclose(points[0], points[-1])


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("n", [1.0, 2.5])
def test_projected_ellipse_is_the_n_sigma_contour(runtime_page, seed, n):
    rng = np.random.default_rng(seed)
    d = 6
    p = np.linalg.qr(rng.standard_normal((d, d)))[0][:2]  # two orthonormal rows, like PCA's
    mean, mu, sigma = rng.standard_normal(d), rng.standard_normal(d), rng.uniform(0.1, 2.0, d)
    points = outline(runtime_page, mu, sigma, mean, p, n, 200)
    centre = (mu - mean) @ p.T
    covariance = p @ np.diag(sigma ** 2) @ p.T
    offsets = points - centre
    mahalanobis = np.einsum("ij,jk,ik->i", offsets, np.linalg.inv(covariance), offsets)
    np.testing.assert_allclose(mahalanobis, n ** 2, rtol=1e-9)
    # It spans the whole ellipse: the longest half-axis is reached.
    longest = n * math.sqrt(np.linalg.eigvalsh(covariance).max())
    assert np.linalg.norm(offsets, axis=1).max() == pytest.approx(longest, rel=1e-3)


def test_the_browser_applies_the_projection_that_vae_core_fits(runtime_page):
    """The projection is fitted once, by vae_core (PCA above latent size 2) and sent in the pack; the browser
    only applies it, to the points, the posterior and a person's own picture, and lands where the server does."""
    from vae_core.latent import fit_projection

    rng = np.random.default_rng(3)
    mu = rng.standard_normal((300, 5)) * [3.0, 2.0, 1.0, 0.5, 0.2] + 1.0
    projection = fit_projection(mu)
    assert projection.name == "pca"
    browser = runtime_page.evaluate(
        "([codes, mean, components]) => codes.map((z) => lxProject(z, {mean, components}))",
        [mu[:50].tolist(), projection.mean.tolist(), projection.components.tolist()])
    np.testing.assert_allclose(np.array(browser), projection(mu[:50]), rtol=0, atol=1e-12)


def test_an_imported_onnx_decoder_decodes_in_the_browser_as_onnxruntime_does(runtime_page):
    """A decoder trained elsewhere and imported as ONNX (vae_core/onnx_portable.py) runs in the browser to 1e-5 of
    onnxruntime, which decodes it on the server."""
    torch.manual_seed(4)
    decoder = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 64))
    encoder = nn.Sequential(nn.Flatten(), nn.Linear(64, 4))
    batch = ({0: torch.export.Dim("batch")},)
    files = [torch.onnx.export(module.eval(), (example,), output_names=names, dynamic_shapes=batch, dynamo=True,
                               verbose=False).model_proto.SerializeToString()
             for module, example, names in ((_Halves(encoder), torch.rand(2, 1, 8, 8), ["mu", "logvar"]),
                                            (decoder, torch.randn(2, 2), ["logits"]))]
    imported = import_onnx_pair(*files, "digits", "bernoulli").vae
    z = np.random.default_rng(2).uniform(-4, 4, (120, 2)).astype(np.float32)
    difference = np.abs(browser_decode(runtime_page, imported, "vae", z) - torch_decode(imported, z)).max()
    assert difference <= 1e-5, f"max abs pixel difference {difference:.2e}"


class _Halves(nn.Module):
    """An encoder whose one output splits into the mean and the log-variance."""

    def __init__(self, body: nn.Module):
        super().__init__()
        self.body = body

    def forward(self, x):
        mu, logvar = self.body(x).chunk(2, dim=1)
        return mu, logvar
