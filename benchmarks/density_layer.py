#!/usr/bin/env python
"""The cost of the Explore map's density layer: server time for its grid, and the bytes it adds to the map's data.

On the shipped Fashion-MNIST VAE (latent size 2), for the map of the 10,000 held-out images and for the map of
all 70,000 (its extent is wider, so its grid is another one): the layer the page sends
(latent_explorer/map_layers.py density_layer: the grid of q(z) over the held-out codes as one matrix
product, the holes' outline, the PNG), timed cold (the workspace's cache empty) and warm (cached, what every
later run of the page pays). The baseline, timed in the same run on the same grid, is the point-by-point
mixture ``log_aggregate_posterior`` (every grid point against every code), so the ratio moves less with the
machine's load than the seconds do. Also timed: the grid over all 70,000 codes, what q(z) of every image would
cost.

    python -m benchmarks.density_layer [--repeats 3] [--no-readme]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from benchmarks.readme import publish
from latent_explorer.contract import MapData
from latent_explorer.figures import map_extent
from latent_explorer.map_layers import DENSITY_CELLS, density_grid_extent, density_layer
from latent_explorer.shipped import ASSETS, SHIPPED_FILES
from vae_core import load_checkpoint, load_dataset
from vae_core.diagnostics import density_grid, log_aggregate_posterior
from vae_core.workspace import Workspace

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS = REPO_ROOT / "benchmarks" / "results" / "density_layer.json"
HEADING = "## `density_layer.py`: the Explore map's density layer"


def median_s(compute, repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        compute()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def fresh_workspace() -> Workspace:
    pair = load_checkpoint(ASSETS / SHIPPED_FILES["fashion-mnist"])
    return Workspace(pair, load_dataset(pair.dataset, download=False), label="benchmark")


def measure(repeats: int) -> dict:
    ws = fresh_workspace()
    codes = ws.encodings["vae"]
    every = ws.codes("vae", every_image=True)
    maps = {"10k": ws.map_points["vae"], "70k": ws.projections["vae"](every.mu)}
    result: dict = {"cells": DENSITY_CELLS, "held_out_codes": len(codes.mu), "maps": {}}
    # The hole fraction in the caption: computed once per model (the Sample page shares it), timed apart.
    start = time.perf_counter()
    ws.prior_hole_fraction()
    result["prior_hole_fraction_s"] = round(time.perf_counter() - start, 2)
    for name, points in maps.items():
        extent = map_extent(points)
        x_range, y_range = density_grid_extent(extent)
        start = time.perf_counter()
        layers = density_layer(ws, extent)
        cold = time.perf_counter() - start
        warm = median_s(lambda extent=extent: density_layer(ws, extent), max(repeats, 20))
        grid = np.stack(np.meshgrid(np.linspace(*x_range, DENSITY_CELLS), np.linspace(*y_range, DENSITY_CELLS)),
                        -1).reshape(-1, 2)
        baseline = median_s(lambda grid=grid: log_aggregate_posterior(grid, codes.mu, codes.sigma), 1)
        every_codes = median_s(lambda x=x_range, y=y_range: density_grid(every.mu, every.sigma, x, y, DENSITY_CELLS),
                               repeats)
        without = MapData(pack="p", kind="vae", view="z", decodes=True, points=None, axis_titles=["z1", "z2"],
                          extent=[list(extent[0]), list(extent[1])], equal_axes=True, view_key="k", height=560,
                          colours=["#000000"] * 10, highlight="#D62728", selected=None, location=None, region=None,
                          posterior=True, background=False, eps=None, ack=0, probe=None)
        with_layers = replace(without, layers=layers)
        result["maps"][name] = {
            "points": len(points),
            "grid_extent": [list(x_range), list(y_range)],
            "layer_cold_s": round(cold, 3), "layer_warm_ms": round(warm * 1000, 3),
            "point_by_point_baseline_s": round(baseline, 2), "baseline_over_cold": round(baseline / cold, 1),
            "grid_over_every_image_s": round(every_codes, 3),
            "png_bytes": len(layers.density.uri), "holes_path_bytes": len(layers.holes),
            "map_data_bytes_without": len(json.dumps(without.to_data())),
            "map_data_bytes_with": len(json.dumps(with_layers.to_data())),
        }
    return result


def readme_section(result: dict) -> str:
    rows = "\n".join(
        f"| {name} ({m['points']:,} points) | {m['layer_cold_s']:.2f} s | {m['layer_warm_ms']:.3f} ms | "
        f"{m['point_by_point_baseline_s']:.1f} s ({m['baseline_over_cold']:.0f}x) | "
        f"{m['grid_over_every_image_s']:.2f} s | {m['map_data_bytes_with'] - m['map_data_bytes_without']:,} B "
        f"(PNG {m['png_bytes']:,}, holes "
        f"{m['holes_path_bytes']:,}) |"
        for name, m in result["maps"].items())
    return f"""{HEADING}

`python -m benchmarks.density_layer` ({result['when']}, load average {result['load_before']} before and
{result['load_after']} after, `uptime`: {result['uptime']}). The shipped Fashion-MNIST VAE; q(z) over its
{result['held_out_codes']:,} held-out codes on a {result['cells']} x {result['cells']} grid that reaches a
quarter of the map's width beyond each edge. Cold: the first run of the page with the layer on (grid, holes'
outline, PNG); warm: every later run (the finished layer is kept per workspace and map). Baseline, same run,
same grid: every grid point against every code (`log_aggregate_posterior`); the layer factorises each diagonal
Gaussian and takes one matrix product instead. The caption's `prior_hole_fraction` (4,096 prior draws against
every held-out code, once per model, shared with the Sample page) took {result['prior_hole_fraction_s']:.1f} s
on its own, before the first layer. The machine has {os.cpu_count()} cores: at a load above that, the seconds
mostly measure the other work, so compare only figures from one run (the ratio column).

| map | layer, cold | layer, warm | point by point (x the cold layer) | grid over 70,000 codes | added to map data |
|---|---|---|---|---|---|
{rows}

The layer is part of the map's data, so while it is on, its bytes (last column) travel with every run that
sends the map again, a click's included. In the browser a click or a hover never draws it again: the picture is
a layout image and the circles and the outline are layout shapes, replaced with the rest by the same
`Plotly.relayout` that moves the selection's marks, never by `Plotly.react`. Zooming costs the server nothing:
the grid is fixed and wider than the map, and Plotly stretches the picture with the axes. Not measured here:
the click-to-image latency in Chromium with the layer on (benchmarks/ui_latency.py does not switch it on).
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    result = measure(args.repeats)
    result.update(when=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), uptime=uptime,
                  load_before=round(load_before, 2), load_after=round(os.getloadavg()[0], 2))
    publish(result, RESULTS, HEADING, readme_section(result), readme=not args.no_readme)


if __name__ == "__main__":
    main()
