"""VAEs of designs not ours, defined and trained a few steps here, exported with torch.onnx.export and imported the
three ways a person can (the CLI, latent_explorer.explore, the Train page's two uploaders), then explored in
Chromium: the lens decodes under the cursor, a click shows the card, and the card's ELBO is the one computed here
from the torch modules, with the same draws (Workspace.analyse: eps from a generator seeded with the index)."""

from __future__ import annotations

import math
import re

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from devtools.browser import (
    LANDING_ON_DIGITS,
    MAP_JS,
    REPO_ROOT,
    StreamlitServer,
    click_at,
    isolated_data_points,
    server_tracebacks,
    wait_for_app,
    wait_for_card,
    wait_for_map,
)
from latent_explorer import notebook
from vae_core import load_dataset
from vae_core.cli import main as vae_core_cli
from vae_core.store import STORE_ENV

pytestmark = pytest.mark.browser

ANALYSIS_SAMPLES = 256  # vae_core.latent.analyse_point's default, which the card uses


class MlpVAE(nn.Module):
    """Latent size 2, Bernoulli pixels: the decoder gives logits."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(64, 48), nn.ReLU())
        self.mean, self.log_variance = nn.Linear(48, 2), nn.Linear(48, 2)
        self.decoder = nn.Sequential(nn.Linear(2, 48), nn.ReLU(), nn.Linear(48, 64))

    def encode(self, x):
        h = self.body(x)
        return self.mean(h), self.log_variance(h)

    def logits(self, z):
        return self.decoder(z).reshape(-1, 1, 8, 8)

    def nll(self, z, x):
        """-log p(x|z) of each z, for one image x or an image per z."""
        logits = self.logits(z)
        return F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none").flatten(1).sum(1)


class ConvVAE(nn.Module):
    """Latent size 3, Gaussian pixels of variance 1/2: the encoder gives σ, the decoder pixel means."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 8, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten())
        self.mean, self.scale = nn.Linear(128, 3), nn.Linear(128, 3)
        self.decoder = nn.Sequential(nn.Linear(3, 128), nn.ReLU(), nn.Unflatten(1, (8, 4, 4)),
                                     nn.ConvTranspose2d(8, 1, 4, stride=2, padding=1), nn.Sigmoid())

    def encode(self, x):
        h = self.body(x)
        return self.mean(h), F.softplus(self.scale(h)) + 0.05

    def means(self, z):
        return self.decoder(z)

    def nll(self, z, x):
        """-log p(x|z) of each z, for one image x or an image per z."""
        pixels = x[0].numel()
        return ((x - self.means(z)) ** 2).flatten(1).sum(1) + 0.5 * pixels * math.log(math.pi)


def trained(model: nn.Module, images: torch.Tensor, sigma_output: bool) -> nn.Module:
    """A few hundred steps of the ELBO, so that the map and the numbers mean something."""
    torch.manual_seed(0)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(300):
        x = images[torch.randint(len(images), (64,))]
        mu, scale = model.encode(x)
        sigma = scale if sigma_output else torch.exp(0.5 * scale)
        z = mu + sigma * torch.randn_like(mu)
        kl = (0.5 * (mu ** 2 + sigma ** 2 - 1) - torch.log(sigma)).sum(1)
        loss = (model.nll(z, x) + kl).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return model.eval()


@torch.no_grad()
def expected_elbo(model: nn.Module, x: torch.Tensor, index: int, sigma_output: bool) -> float:
    """The card's ELBO of image ``index`` from the torch modules: KL in closed form, E[log p(x|z)] over the same
    256 draws."""
    mu, scale = model.encode(x)
    sigma = scale if sigma_output else torch.exp(0.5 * scale)
    eps = torch.randn((ANALYSIS_SAMPLES, mu.shape[1]), generator=torch.Generator().manual_seed(index))
    z = mu + sigma * eps
    kl = (0.5 * (mu ** 2 + sigma ** 2 - 1) - torch.log(sigma)).sum().item()
    return -model.nll(z, x).mean().item() - kl


def onnx_bytes(method, example: torch.Tensor, outputs: list[str]) -> bytes:
    wrapper = type("Call", (nn.Module,), {"forward": lambda self, v: method(v)})()
    program = torch.onnx.export(wrapper.eval(), (example,), output_names=outputs,
                                dynamic_shapes=({0: torch.export.Dim("batch")},), dynamo=True, verbose=False)
    return program.model_proto.SerializeToString()


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", download=False)


@pytest.fixture(scope="module")
def models(digits):
    images = digits.images("train")
    return {"mlp": trained(MlpVAE(), images, sigma_output=False),
            "conv": trained(ConvVAE(), images, sigma_output=True)}


@pytest.fixture(scope="module")
def store_server(tmp_path_factory):
    store = tmp_path_factory.mktemp("imported-models-store")
    server = StreamlitServer("app.py", log_path=REPO_ROOT / "test-artifacts" / "streamlit-imported-models.log",
                             env={**LANDING_ON_DIGITS, STORE_ENV: str(store)}).start()
    server.wait_healthy()
    yield server, store
    server.stop()
    assert not server_tracebacks(server.log_path.read_text(encoding="utf-8"))


def card_elbo(page) -> float:
    """The ELBO the card's mathematics panel writes (two decimals), read from its formulas' TeX."""
    page.get_by_text("The mathematics of this point").click()
    formula = page.locator(".st-key-math_panel annotation").filter(has_text="ELBO} &=").first
    formula.wait_for(state="attached")  # KaTeX keeps the TeX in a hidden annotation
    return float(re.search(r"ELBO\} &= (-?[\d.]+)", formula.text_content()).group(1))


def explore_and_check(page, url: str, model: nn.Module, digits, sigma_output: bool) -> None:
    page.goto(url, wait_until="domcontentloaded")
    wait_for_app(page, page.get_by_role("heading", name="Explore the latent space"), timeout_s=180)
    wait_for_map(page, timeout_s=180)
    # Hover: the lens decodes under the cursor, in the browser (no round trip).
    box = page.evaluate(f"() => {{ const b = {MAP_JS}.overlay.getBoundingClientRect(); "
                        "return [b.left, b.top, b.width, b.height]; }")
    before = page.evaluate(f"() => {MAP_JS}.lensCaption.textContent")
    page.mouse.move(box[0] + box[2] * 0.4, box[1] + box[3] * 0.45)
    page.mouse.move(box[0] + box[2] * 0.55, box[1] + box[3] * 0.5, steps=4)
    page.wait_for_function(f"(b) => {MAP_JS}.lensCaption.textContent !== b", arg=before)
    # Click: the card of that image, with the ELBO of the torch modules.
    point = isolated_data_points(page, 1)[0]
    click_at(page, point["px"], point["py"])
    index = int(point["custom"])
    wait_for_card(page, index, timeout_s=120)
    x = digits.images("test")[index:index + 1] if index < len(digits.test_labels) else None
    assert x is not None, "the held-out points come first"
    assert card_elbo(page) == pytest.approx(expected_elbo(model, x, index, sigma_output), abs=0.005 + 1e-3)


# What each design gives: the likelihood, whether the encoder's second output is σ, and its decoder method.
DESIGNS = {"mlp": ("bernoulli", False, "logits"), "conv": ("gaussian", True, "means")}


def files(model: nn.Module, design: str) -> tuple[bytes, bytes]:
    _, sigma_output, decoder = DESIGNS[design]
    latent = 2 if design == "mlp" else 3
    encoder = onnx_bytes(model.encode, torch.rand(2, 1, 8, 8), ["mu", "sigma" if sigma_output else "logvar"])
    return encoder, onnx_bytes(getattr(model, decoder), torch.randn(2, latent), ["pixels"])


@pytest.mark.parametrize("design", list(DESIGNS))
def test_a_vae_imported_through_the_cli_is_explored(store_server, page, models, digits, tmp_path, capsys, design):
    server, store = store_server
    likelihood, sigma_output, _ = DESIGNS[design]
    encoder, decoder = files(models[design], design)
    (tmp_path / "enc.onnx").write_bytes(encoder)
    (tmp_path / "dec.onnx").write_bytes(decoder)
    naming = ["--sigma-outputs", "mu,sigma"] if sigma_output else []
    assert vae_core_cli(["import-onnx", str(tmp_path / "enc.onnx"), str(tmp_path / "dec.onnx"), "--likelihood",
                         likelihood, "--dataset", "digits", "--store", str(store), *naming]) == 0
    model_id = capsys.readouterr().out.strip()
    explore_and_check(page, f"{server.url}/?model={model_id}", models[design], digits, sigma_output)


@pytest.mark.parametrize("design", list(DESIGNS))
def test_a_vae_imported_from_python_is_explored(store_server, page, models, digits, design):
    server, store = store_server
    likelihood, sigma_output, decoder = DESIGNS[design]
    model = models[design]
    result = notebook.explore(model.encode, getattr(model, decoder), dataset="digits", likelihood=likelihood,
                              encoder_scale="sigma" if sigma_output else "logvar", store=str(store), url=server.url,
                              inline=False)
    explore_and_check(page, result.url, model, digits, sigma_output)


@pytest.mark.parametrize("design", list(DESIGNS))
def test_a_vae_imported_on_the_train_page_is_explored(store_server, page, models, digits, design):
    server, _ = store_server
    likelihood, sigma_output, _ = DESIGNS[design]
    page.goto(server.url + "/train", wait_until="domcontentloaded")
    wait_for_app(page, page.get_by_role("button", name="Train", exact=True), timeout_s=180)
    for label, data in zip(("Encoder (.onnx)", "Decoder (.onnx)"), files(models[design], design)):
        page.get_by_test_id("stFileUploader").filter(has_text=label).locator('input[type="file"]') \
            .set_input_files(files=[{"name": label.split(" ")[0].lower() + ".onnx", "mimeType":
                                     "application/octet-stream", "buffer": data}])
        wait_for_app(page)
    if sigma_output:
        outputs = page.get_by_role("textbox", name="The encoder's outputs")
        outputs.fill("mu, sigma")
        outputs.press("Enter")
        wait_for_app(page)
        page.get_by_test_id("stRadio").filter(has_text="Second output").get_by_text("σ", exact=True).click()
        wait_for_app(page)
    if likelihood == "gaussian":
        page.get_by_test_id("stSelectbox").filter(has_text="The decoder gives").click()
        page.get_by_role("option", name="means of Gaussian pixels").click()
        wait_for_app(page)
    page.get_by_role("button", name="Check the files").click()
    keep = page.get_by_role("button", name="Keep and explore")
    keep.wait_for()
    # The preview of reconstructions, before anything is kept.
    page.get_by_role("img", name="The imported VAE's reconstruction of held-out image #7").wait_for()
    keep.click()
    wait_for_app(page)
    explore_and_check(page, page.url.replace("/train", "/"), models[design], digits, sigma_output)
