"""A map selection taken away: the CSV's rows against the workspace's own codes, the zip's images against its
images."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pandas as pd
from PIL import Image

from latent_explorer.selection import selection_csv, selection_zip
from latent_explorer.session import shipped_workspace
from vae_core.images import to_uint8


def test_the_csv_holds_each_selected_images_class_split_code_and_kl():
    ws = shipped_workspace("digits")
    indices = np.array([3, 12, 200])
    table = pd.read_csv(io.BytesIO(selection_csv(ws, indices, "vae")), dtype={"class": str})
    codes = ws.codes("vae")
    assert table["index"].tolist() == indices.tolist()
    assert table["class"].tolist() == [ws.class_names[ws.labels[i]] for i in indices]
    assert set(table["split"]) == {"held-out"}
    np.testing.assert_allclose(table[["mu_1", "mu_2"]].to_numpy(), codes.mu[indices], rtol=1e-5)
    sigma = codes.sigma[indices]
    np.testing.assert_allclose(table[["sigma_1", "sigma_2"]].to_numpy(), sigma, rtol=1e-5)
    # KL(N(μ, σ²) ‖ N(0, 1)) summed over the dimensions, computed here independently.
    kl = 0.5 * (codes.mu[indices] ** 2 + sigma ** 2 - 1 - 2 * np.log(sigma)).sum(1)
    np.testing.assert_allclose(table["kl_nats"], kl, rtol=1e-4)


def test_an_autoencoders_csv_has_no_sigma_or_kl():
    ws = shipped_workspace("digits")
    table = pd.read_csv(io.BytesIO(selection_csv(ws, np.array([0, 1]), "ae")))
    assert [c for c in table.columns if c.startswith(("sigma", "kl"))] == []


def test_the_zip_holds_each_selected_image_named_by_index_and_class():
    ws = shipped_workspace("digits")
    indices = np.array([5, 12])
    archive = zipfile.ZipFile(io.BytesIO(selection_zip(ws, indices)))
    names = archive.namelist()
    assert names == [f"{i:05d}_{ws.class_names[ws.labels[i]]}.png" for i in indices]
    for name, index in zip(names, indices):
        picture = np.array(Image.open(io.BytesIO(archive.read(name))))
        np.testing.assert_array_equal(picture, to_uint8(ws.image(index)))
