"""Compare's "Understand the VAE" in a real browser: log p(x) arrives from the server's background thread and the
page, polling, then draws the gap histogram and the AUROC against another set, without a click."""

from __future__ import annotations

import re

import pytest

from devtools.browser import wait_for_app

pytestmark = pytest.mark.browser

LIKELIHOOD_WAIT_S = 600  # how long to wait for the background computation, not a speed requirement


def test_compare_polls_for_log_px_and_then_shows_the_gap_and_the_auroc(visitor, assert_no_exceptions):
    page = visitor.open("/compare")
    page.set_viewport_size({"width": 1024, "height": 900})
    wait_for_app(page, page.get_by_role("heading", name="Understand the VAE"))
    assert page.get_by_text(re.compile(r"^Active units: \d+ of \d+\.")).is_visible()
    wait_for_app(page, page.get_by_text(re.compile(r"^Mean gap -?\d+\.\d+ nats over 360 images")),
                 timeout_s=LIKELIHOOD_WAIT_S)
    auroc = page.locator('[data-testid="stMetric"]').filter(has_text="AUROC of log p(x)")
    assert re.fullmatch(r"[01]\.\d{3}", auroc.locator('[data-testid="stMetricValue"]').inner_text().strip())
    plots = page.locator(".js-plotly-plot")
    # Both maps, the KL bars, the gap histogram and the two sets' histograms.
    wait_for_app(page, lambda: plots.count() == 5)
    assert page.locator('[data-testid="stProgress"]').count() == 0
    # The two maps are the map component; Streamlit's charts are the KL bars, the gap histogram, the two sets'.
    gap_plot = page.locator('[data-testid="stPlotlyChart"]').nth(1)
    gap_plot.scroll_into_view_if_needed()
    assert "log p(x) − ELBO (nats)" in gap_plot.inner_text()
    visitor.screenshot("understand-the-vae")
    assert_no_exceptions(page)
