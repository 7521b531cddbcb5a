"""Understanding the VAE: Compare's section (KL per dimension, log p(x) in the background, the gap, another set's
log p(x) and its AUROC) and the Sample page's marks on prior draws that fall in a hole, on the shipped digits."""

from __future__ import annotations

import io
import json
import weakref

import numpy as np
import pytest
import torch
from page_runner import page_path, run_page
from PIL import Image

from latent_explorer import own_images, probe, session
from vae_core import diagnostics
from vae_core.data import ImageDataset
from vae_core.latent import active_units, prior_samples
from vae_core.workspace import HELD_OUT

COMPARE, SAMPLE = page_path("compare"), page_path("sample")
OWN_SET = "own-images"
WAIT_S = 600  # how long a test waits for the background computation before it fails, not a speed requirement


@pytest.fixture(autouse=True, scope="module")
def _few_importance_samples():
    """K = 8 instead of the pages' 100: the same code, less to wait for."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(diagnostics, "PAGE_LOG_PX_SAMPLES", 8)
        yield


def captions(at) -> str:
    return "\n".join(c.value for c in at.caption)


@pytest.fixture(scope="module")
def finished_compare():
    """The Compare page, drawn again once the held-out split and the other set have their log p(x)."""
    at = run_page(COMPARE)
    ws = session.shipped_workspace("digits")
    other = at.selectbox(key="compare_ood_set").value
    jobs = [ws.likelihood_job(key, samples=diagnostics.PAGE_LOG_PX_SAMPLES) for key in (HELD_OUT, other)]
    assert all(job.wait(WAIT_S) for job in jobs)
    at.run()
    assert not at.exception
    return at, ws, jobs


def test_the_kl_bars_show_with_the_active_units():
    at = run_page(COMPARE)
    ws = session.shipped_workspace("digits")
    bars = next(chart for chart in at.get("plotly_chart") if chart.key == "compare_kl_bars")
    codes = ws.encodings["vae"]
    np.testing.assert_allclose(json.loads(bars.proto.spec)["data"][0]["y"],
                               diagnostics.kl_per_dimension_mean(codes.mu, codes.logvar))
    count = active_units(codes.mu)
    assert f"Active units: {count} of {ws.latent_dim('vae')}" in captions(at)


def test_log_px_is_computed_in_the_background_with_its_k_on_screen():
    at = run_page(COMPARE)
    texts = [p.proto.text for p in at.get("progress")] + [c.value for c in at.caption]
    assert any(f"K = {diagnostics.PAGE_LOG_PX_SAMPLES}" in text for text in texts)


def test_the_gap_histogram_gives_the_mean_gap(finished_compare):
    at, _, (held_out, _) = finished_compare
    gap = held_out.result.gap
    assert held_out.result.log_px.shape == (360,)
    assert f"Mean gap {gap.mean():.2f} nats over 360 images" in captions(at)
    assert not at.get("progress")


def test_the_other_set_shows_its_auroc(finished_compare):
    at, ws, (held_out, other) = finished_compare
    assert at.selectbox(key="compare_ood_set").value in ws.comparison_sets()
    expected = diagnostics.auroc(held_out.result.log_px, other.result.log_px)
    assert [m.value for m in at.metric] == [f"{expected:.3f}"]
    assert "Nalisnick et al., 2019" in captions(at)


def test_your_picture_is_a_mark_on_the_histogram(finished_compare):
    _, ws, _ = finished_compare
    image = ws.image_tensors(5)[0].numpy()
    picture = probe.Probe(id="five", name="five", image=image, codes=ws.encode(image), workspace=weakref.ref(ws))
    at = run_page(COMPARE, **{probe.PROBE: picture})
    chart = next(chart for chart in at.get("plotly_chart") if chart.key == "compare_ood_histogram")
    annotations = [a["text"] for a in json.loads(chart.proto.spec)["layout"]["annotations"]]
    assert annotations == [f"your picture {picture.log_px(ws):.1f}"]


def test_the_visitors_uploaded_images_can_be_the_other_set():
    rng = np.random.default_rng(0)
    uploaded = ImageDataset(
        name="custom-test", class_names=("a", "b"),
        train_images=torch.from_numpy(rng.integers(0, 256, (20, 3, 16, 16), dtype=np.uint8)),
        train_labels=torch.zeros(20, dtype=torch.long),
        test_images=torch.from_numpy(rng.integers(0, 256, (12, 3, 16, 16), dtype=np.uint8)),
        test_labels=torch.zeros(12, dtype=torch.long))
    at = run_page(COMPARE, **{own_images.DATASET: uploaded})
    assert at.selectbox(key="compare_ood_set").value == OWN_SET  # the visitor's own images come first
    ws = session.shipped_workspace("digits")
    held_out = ws.likelihood_job(HELD_OUT, samples=diagnostics.PAGE_LOG_PX_SAMPLES)
    other = ws.likelihood_job(f"{OWN_SET}:custom-test", samples=diagnostics.PAGE_LOG_PX_SAMPLES)
    assert held_out.wait(WAIT_S) and other.wait(WAIT_S) and other.error is None
    assert other.result.log_px.shape == (12,)
    at.run()
    assert [m.value for m in at.metric] == [f"{diagnostics.auroc(held_out.result.log_px, other.result.log_px):.3f}"]


def red_pixels(png: bytes) -> int:
    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    return int(((rgb[..., 0] == 214) & (rgb[..., 1] == 39) & (rgb[..., 2] == 40)).sum())


@pytest.mark.parametrize("seed", [2, 3])
def test_the_sample_page_frames_the_draws_in_a_hole(monkeypatch, seed):
    import streamlit as st

    shown, downloaded = [], []
    show, download = st.image, st.download_button
    monkeypatch.setattr(st, "image", lambda picture, *a, **k: shown.append(picture) or show(picture, *a, **k))
    monkeypatch.setattr(st, "download_button",
                        lambda label, data, *a, **k: downloaded.append(data) or download(label, data, *a, **k))
    at = run_page(SAMPLE, **{session.SEED: seed})
    ws = session.shipped_workspace("digits")
    in_hole = ws.in_prior_hole(prior_samples(36, 2, seed, 1.0))
    marked = ", ".join(str(i) for i in np.flatnonzero(in_hole)) or "none"
    assert f"Samples in a hole of the prior (red frame): {marked}." in captions(at)
    assert f"{ws.prior_hole_fraction():.0%} of all prior draws land in a hole" in captions(at)
    mosaic = shown[0]
    assert (red_pixels(mosaic) > 0) == bool(in_hole.any())
    assert red_pixels(downloaded[-1]) == 0  # the download holds the decodes without the marks
    if in_hole.any():
        assert f"red frame: in a hole ({int(in_hole.sum())} of 36)" in at.image[0].captions[0]
