"""A link's view (latent_explorer/view_state.py): what to_query writes, from_query reads back the same, and a value
that is not what the app writes is left out with a notice naming it."""

from __future__ import annotations

import numpy as np
import pytest

from latent_explorer import events
from latent_explorer.shipped import load_shipped_workspace
from latent_explorer.view_state import MapView, ViewState


@pytest.fixture(scope="module")
def digits():
    return load_shipped_workspace("digits")


def query_of(view: ViewState) -> dict[str, str]:
    query = view.to_query()
    query.pop("model")
    return query


def test_what_a_link_writes_reads_back_as_the_same_view(digits):
    region = events.Region("box", np.array([[-1.0, -0.5], [0.25, 1.5]]))
    view = ViewState(model="digits", point=12, z=(0.5, -1.25), seed=7, region=region, colour="kl")
    read, notices = ViewState.from_query(query_of(view), digits, "digits")
    assert notices == []
    assert (read.model, read.point, read.z, read.seed, read.colour) == ("digits", 12, (0.5, -1.25), 7, "kl")
    np.testing.assert_allclose(read.region.vertices, region.vertices)
    located = ViewState(model="digits", at=(1.5, -2.0))
    assert ViewState.from_query(query_of(located), digits, "digits") == (located, [])


def test_a_view_writes_only_what_differs_from_the_default_and_nothing_without_a_model():
    assert ViewState(model="digits").to_query() == {"model": "digits"}
    assert ViewState(point=3, seed=2).to_query() == {}
    # An inspected point and a decoded location: the point wins, as it does on the page.
    assert "at" not in ViewState(model="digits", point=3, at=(0.0, 0.0)).to_query()
    assert MapView("pca").text() is None and MapView("active", (0, 3)).text() == "active:1,4"


@pytest.mark.parametrize("name, value, named", [
    ("point", "99999", "point '99999'"), ("point", "²", "point '²'"), ("at", "1,nan", "location '1,nan'"),
    ("at", "1,1e9", "location"), ("z", "1", "latent vector '1'"), ("z", "1_0,2", "latent vector"),
    ("seed", "-1", "seed '\\-1'"), ("region", "circle:1,2", "region"), ("view", "tsne", "view 'tsne' is for latent"),
    ("colour", "mood", "colour 'mood'"), ("z", "1," * 1500, "latent vector")])
def test_each_bad_value_is_left_out_with_a_notice_that_names_it(digits, name, value, named):
    read, notices = ViewState.from_query({name: value}, digits, "digits")
    assert read == ViewState(model="digits")
    assert len(notices) == 1 and named in notices[0]
    assert len(notices[0]) < 300  # a stranger's long value is shortened
