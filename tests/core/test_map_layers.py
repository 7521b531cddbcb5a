"""The map's layers: the aggregate posterior's density and its holes, and two latent dimensions as axes,
each against an independent computation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vae_core.diagnostics import (
    HOLE_RATIO,
    density_grid,
    hole_outline,
    kl_per_dimension_mean,
    log_aggregate_posterior,
    map_axis_dimensions,
)
from vae_core.latent import axis_projection, dimension_name, fit_projection


def test_the_density_grid_is_the_mixture_evaluated_point_by_point():
    rng = np.random.default_rng(0)
    mu, sigma = rng.normal(0, 1.5, (300, 2)), rng.uniform(0.05, 1.2, (300, 2))
    grid = density_grid(mu, sigma, (-4, 3), (-2, 5), n=37)
    points = np.stack(np.meshgrid(grid.x, grid.y), -1).reshape(-1, 2)
    np.testing.assert_allclose(grid.log_q, log_aggregate_posterior(points, mu, sigma).reshape(37, 37), rtol=1e-9)
    assert grid.x[0] == -4 and grid.x[-1] == 3 and grid.y[0] == -2 and grid.y[-1] == 5


def test_far_from_every_code_the_density_is_zero_and_inside_the_prior_disc_a_hole():
    mu, sigma = np.array([[30.0, 30.0]]), np.full((1, 2), 0.05)
    grid = density_grid(mu, sigma, (-2, 2), (-2, 2), n=9)
    assert np.isneginf(grid.log_q).all()
    x, y = np.meshgrid(grid.x, grid.y)
    np.testing.assert_array_equal(grid.hole, x ** 2 + y ** 2 <= 4)


class _Grid:
    """What ``hole_outline`` reads of a density grid: the coordinates and a hole mask given by the test."""

    def __init__(self, x, y, hole):
        self.x, self.y, self.hole = x, y, hole


def test_one_hole_cell_is_outlined_by_the_four_sides_of_its_cell():
    hole = np.zeros((5, 5), dtype=bool)
    hole[2, 3] = True
    segments = hole_outline(_Grid(np.arange(5.0), np.arange(5.0) * 2, hole))
    assert segments.shape == (4, 2, 2)
    # The cell around grid point (x=3, y=4): x from 2.5 to 3.5, y from 3 to 5.
    assert {tuple(map(tuple, np.round(s, 9))) for s in segments} == {
        ((2.5, 3.0), (2.5, 5.0)), ((3.5, 3.0), (3.5, 5.0)), ((2.5, 3.0), (3.5, 3.0)), ((2.5, 5.0), (3.5, 5.0))}


def test_a_block_of_holes_at_the_grid_edge_is_outlined_along_its_perimeter():
    hole = np.zeros((6, 8), dtype=bool)
    hole[0:3, 5:8] = True  # rows 0-2 (y), columns 5-7 (x), touching the grid's right and bottom edges
    segments = hole_outline(_Grid(np.arange(8.0), np.arange(6.0), hole))
    lengths = np.linalg.norm(segments[:, 1] - segments[:, 0], axis=1)
    assert lengths.sum() == pytest.approx(2 * (3 + 3))
    xs, ys = segments[..., 0], segments[..., 1]
    assert xs.min() == 4.5 and xs.max() == 7.5 and ys.min() == -0.5 and ys.max() == 2.5


def test_every_outline_segment_has_a_hole_on_one_side_only():
    rng = np.random.default_rng(1)
    mu, sigma = rng.normal(0.8, 0.6, (200, 2)), rng.uniform(0.05, 0.3, (200, 2))
    grid = density_grid(mu, sigma, (-3, 3), (-3, 3), n=60)
    segments = hole_outline(grid)
    assert grid.hole.any() and len(segments)
    step = grid.x[1] - grid.x[0]
    middle = segments.mean(1)
    across = (segments[:, 1] - segments[:, 0])[:, ::-1] * [1, -1]  # perpendicular to each segment
    across = across / np.linalg.norm(across, axis=1, keepdims=True) * step / 2

    def in_hole(points):
        # The independent check: the full rule at the nearest grid point, by the point-by-point mixture.
        column = np.clip(np.rint((points[:, 0] - grid.x[0]) / step).astype(int), -1, len(grid.x))
        row = np.clip(np.rint((points[:, 1] - grid.y[0]) / step).astype(int), -1, len(grid.y))
        inside = (column >= 0) & (column < len(grid.x)) & (row >= 0) & (row < len(grid.y))
        z = np.stack([grid.x[np.clip(column, 0, len(grid.x) - 1)], grid.y[np.clip(row, 0, len(grid.y) - 1)]], -1)
        log_p = -0.5 * (2 * math.log(2 * math.pi) + (z ** 2).sum(1))
        rule = ((z ** 2).sum(1) <= 4) & (log_aggregate_posterior(z, mu, sigma) < log_p - math.log(HOLE_RATIO))
        return inside & rule

    np.testing.assert_array_equal(in_hole(middle + across) != in_hole(middle - across), True)


def test_the_axes_offered_are_the_active_units_largest_kl_first():
    rng = np.random.default_rng(2)
    spreads = np.array([0.3, 1.5, 0.002, 0.8, 0.05])  # the std of mu per dimension; variance > 0.01: 0, 1, 3
    mu = rng.standard_normal((4000, 5)) * spreads
    logvar = np.log(np.full((4000, 5), [0.5, 0.05, 1.0, 0.2, 0.9]))
    active = np.flatnonzero(np.diag(np.cov(mu.T, bias=True)) > 0.01)
    # KL in closed form, by hand: 0.5 (mu^2 + sigma^2 - log sigma^2 - 1), averaged.
    kl = (0.5 * (mu ** 2 + np.exp(logvar) - logvar - 1)).mean(0)
    dims, all_active = map_axis_dimensions(mu, logvar)
    assert all_active and sorted(dims) == active.tolist()
    assert dims == sorted(active.tolist(), key=lambda d: -kl[d])
    # One active dimension: the two of largest KL, flagged as not all active.
    collapsed = mu * [0, 0, 0, 1, 0]
    dims, all_active = map_axis_dimensions(collapsed, logvar)
    kl = kl_per_dimension_mean(collapsed, logvar)
    assert not all_active and dims == np.argsort(-kl)[:2].tolist()


def test_two_dimensions_as_axes_show_them_as_they_are_and_fix_the_others_at_their_mean():
    rng = np.random.default_rng(3)
    mu = rng.normal([1.0, -2.0, 0.5, 3.0], 1.0, (500, 4))
    kl = np.array([0.1, 2.345, 0.7, 1.05])
    projection = axis_projection(mu, (3, 1), kl)
    np.testing.assert_allclose(projection(mu), mu[:, [3, 1]])
    assert projection.axis_titles == ("z₄ (KL 1.1 nats)", "z₂ (KL 2.3 nats)")
    z = projection.unproject(np.array([[0.25, -1.5], [2.0, 0.0]]))
    np.testing.assert_allclose(z[:, [3, 1]], [[0.25, -1.5], [2.0, 0.0]])
    np.testing.assert_allclose(z[:, [0, 2]], np.broadcast_to(mu.mean(0)[[0, 2]], (2, 2)))
    with pytest.raises(ValueError, match="two different"):
        axis_projection(mu, (2, 2), kl)
    assert dimension_name(11) == "z₁₂"


def test_unproject_inverts_pca_and_the_identity_on_the_map():
    rng = np.random.default_rng(4)
    xy = rng.normal(0, 2, (20, 2))
    for mu in (rng.normal(0, 1, (300, 5)) * [3, 1, 0.5, 0.1, 0.1], rng.normal(0, 1, (300, 2))):
        projection = fit_projection(mu)
        np.testing.assert_allclose(projection(projection.unproject(xy)), xy, atol=1e-9)
    pca = fit_projection(rng.normal(0, 1, (300, 5)))
    # The map's origin is the codes' mean: what the map does not show stays there.
    np.testing.assert_allclose(pca.unproject(np.zeros(2)), pca.mean)
