"""AppTest of the Explore map coloured by a per-point quantity, on the shipped digits pair: what the server sends the
map and the card, the link that keeps the choice, log p(x) computed in the background, and the selection's CSV."""

from __future__ import annotations

import io
import json
import struct

import numpy as np
import pandas as pd
from page_runner import sent_pack_bytes
from test_explore_edit import component_data, packs, run_app

from latent_explorer import colouring, selection
from latent_explorer.session import shipped_workspace
from vae_core.workspace import HELD_OUT


def pack_values(at, pack_id: str) -> np.ndarray:
    """The float32 array "values" of the pack with this id, as the browser reads it."""
    for proto in packs(at):
        blob = sent_pack_bytes(proto)
        (length,) = struct.unpack("<I", blob[4:8])
        header = json.loads(blob[8:8 + length])
        if header["id"] == pack_id:
            start = 8 + length + (-(8 + length) % 8) + header["arrays"]["values"]["offset"]
            count = header["arrays"]["values"]["shape"][0]
            return np.frombuffer(blob[start:start + 4 * count], np.float32)
    raise AssertionError(f"no pack {pack_id} was sent")


def test_colour_by_kl_sends_the_values_a_colour_bar_and_the_card_its_quantity():
    at = run_app(point="3")
    assert component_data(at, "latent_map")["colour_by"] is None  # class colours by default
    at.selectbox(key="map_colour_by").select("kl").run()
    assert not at.exception
    colour = component_data(at, "latent_map")["colour_by"]
    assert colour["quantity"] == "kl" and colour["colorscale"] == "Viridis" and colour["cmin"] < colour["cmax"]
    assert "KL" in colour["title"]
    assert component_data(at, "inspect_card")["colour"] == colour
    kl = shipped_workspace("digits").point_quantities()["kl"]
    np.testing.assert_allclose(pack_values(at, colour["pack"]), kl, rtol=1e-6)
    assert np.isclose(colour["cmin"], np.percentile(kl, 1)) and np.isclose(colour["cmax"], np.percentile(kl, 99))
    assert at.query_params["colour"] == "kl"
    # The colour-blind palette takes a colour-blind-safe scale too.
    at.toggle(key="colour_blind_palette").set_value(True).run()
    assert component_data(at, "latent_map")["colour_by"]["colorscale"] == "Cividis"


def test_a_link_keeps_the_colour_and_a_bad_one_is_a_notice():
    at = run_app(model="digits", colour="neighbour")
    assert component_data(at, "latent_map")["colour_by"]["quantity"] == "neighbour"
    bad = run_app(model="digits", colour="<b>shoe size</b>")
    assert component_data(bad, "latent_map")["colour_by"] is None
    assert any("is not a quantity this map can be coloured by" in w.value and "<b>" not in w.value
               for w in bad.warning)
    assert "colour" not in bad.query_params


def test_log_px_colours_arrive_when_the_background_computation_is_done():
    at = run_app(model="digits", colour="gap")
    assert not at.exception
    job = shipped_workspace("digits").likelihood_job(HELD_OUT)
    colour = component_data(at, "latent_map")["colour_by"]
    if colour is None:  # still computing: the classes meanwhile, and the progress
        assert any("Computing log p(x)" in p.proto.text for p in at.get("progress"))
    assert job.wait(120) and job.error is None
    at.run()
    colour = component_data(at, "latent_map")["colour_by"]
    assert colour["quantity"] == "gap"
    expected = job.result.log_px - shipped_workspace("digits").point_quantities()["elbo"]
    np.testing.assert_allclose(pack_values(at, colour["pack"]), expected, rtol=1e-5, atol=1e-4)


def test_the_selection_csv_carries_the_colour_and_log_px():
    ws = shipped_workspace("digits")
    job = colouring.log_px_job(ws)
    assert job.wait(120)
    indices = np.array([0, 5, 7])
    quantities = colouring.computed(ws)
    table = pd.read_csv(io.BytesIO(selection.selection_csv(
        ws, indices, "vae", {"elbo_nats": quantities["elbo"], "log_px_nats": quantities["log_px"]})))
    np.testing.assert_allclose(table["elbo_nats"], quantities["elbo"][indices], rtol=1e-5)
    np.testing.assert_allclose(table["log_px_nats"], quantities["log_px"][indices], rtol=1e-5)
    # A training image has no value of a held-out quantity: its cell is blank.
    training = selection.selection_table(ws, np.array([1, len(ws) + 2]), "vae", {"elbo_nats": quantities["elbo"]})
    assert np.isnan(training["elbo_nats"].iloc[1]) and np.isfinite(training["elbo_nats"].iloc[0])
