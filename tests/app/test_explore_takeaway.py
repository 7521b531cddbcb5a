"""Explore: an inspected point's neighbours taken away like a selection; a browser without WebGL is offered no
map of every image; the map is told what its image marks show."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pandas as pd
from streamlit.delta_generator import DeltaGenerator
from streamlit.testing.v1 import AppTest

from latent_explorer import colouring, session
from latent_explorer.selection import selection_csv, selection_zip
from latent_explorer.session import shipped_workspace

APP = str(Path(__file__).resolve().parents[2] / "latent_explorer" / "streamlit_app.py")
NO_WEBGL = "browser_without_webgl"  # latent_explorer/app_pages/explore.py's NO_WEBGL, set by the map's "webgl" event


def run_app(state: dict | None = None, **query) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    for key, value in query.items():
        at.query_params[key] = value
    for key, value in (state or {}).items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def map_data(at: AppTest) -> dict:
    found = [e.proto for e in at.get("bidi_component") if e.proto.id.endswith("-latent_map")]
    assert len(found) == 1
    return json.loads(found[0].json)


def test_the_neighbours_download_as_the_selection_does(monkeypatch):
    downloads = {}
    download = DeltaGenerator.download_button  # the buttons sit in a row: a container's method
    monkeypatch.setattr(DeltaGenerator, "download_button", lambda self, label, data, *a, **k: downloads.__setitem__(
        label, (data, k.get("file_name"))) or download(self, label, data, *a, **k))
    at = run_app(model="digits", point="12")
    labels = [button.label for button in at.get("download_button")]
    assert "Neighbours (CSV)" in labels and "Neighbours (zip)" in labels
    ws = shipped_workspace("digits")
    neighbours = ws.neighbours(12, k=8)[0]
    make_csv, csv_name = downloads["Neighbours (CSV)"]
    make_zip, zip_name = downloads["Neighbours (zip)"]
    assert (csv_name, zip_name) == ("neighbours_of_12.csv", "neighbours_of_12.zip")
    # Built only when pressed, by the selection's own writers, over the card's eight neighbours in its order.
    csv = make_csv()
    assert csv == selection_csv(ws, neighbours, "vae", colouring.csv_columns(ws, colouring.CLASS))
    table = pd.read_csv(io.BytesIO(csv), dtype={"class": str})
    assert table["index"].tolist() == neighbours.tolist() and 12 not in table["index"].tolist()
    assert make_zip() == selection_zip(ws, neighbours)
    assert len(zipfile.ZipFile(io.BytesIO(make_zip())).namelist()) == 8


def test_no_neighbours_to_download_before_a_point_is_inspected():
    at = run_app(model="digits")
    assert not [b for b in at.get("download_button") if b.label.startswith("Neighbours")]


def test_without_webgl_the_map_of_every_image_is_off_and_says_why():
    at = run_app(model="digits")
    every_image = at.toggle(key=session.EVERY_IMAGE)
    assert not every_image.disabled
    assert map_data(at)["webgl"] is True
    held_out_pack = map_data(at)["pack"]
    at.toggle(key=session.EVERY_IMAGE).set_value(True).run()
    assert map_data(at)["pack"] != held_out_pack
    # What the map's "webgl" event leaves in the session (latent_explorer/app_pages/explore.py on_webgl).
    at.session_state[NO_WEBGL] = True
    at.session_state[session.EVERY_IMAGE] = False
    at.run()
    every_image = at.toggle(key=session.EVERY_IMAGE)
    assert every_image.disabled and every_image.value is False
    reason = "Training images too: off, as this browser has no WebGL to draw that many points."
    assert any(c.value == reason for c in at.caption)
    assert map_data(at)["webgl"] is False  # the map asks no more
    assert map_data(at)["pack"] == held_out_pack  # the held-out split only


def test_the_map_is_told_what_its_image_marks_show():
    at = run_app(model="digits")
    assert map_data(at)["marks"] == "originals"
    at.segmented_control(key="map_marks").set_value("reconstructions").run()
    assert map_data(at)["marks"] == "reconstructions"
