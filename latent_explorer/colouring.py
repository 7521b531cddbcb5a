"""Colouring the map by a per-point quantity (vae_core.diagnostics.POINT_QUANTITIES) instead of by class.

The values come from the engine (Workspace.point_quantities) and travel to the browser as a pack, which the map
and the inspect card read. log p(x) and the gap need the importance-weighted estimate of every held-out image:
it runs in the background (latent_explorer/likelihood.py, once per model), and until it is in, the map keeps its
class colours.
"""

from __future__ import annotations

import numpy as np

from vae_core import diagnostics
from vae_core.diagnostics import NEEDS_LOG_PX, POINT_QUANTITIES, LikelihoodJob
from vae_core.workspace import HELD_OUT, Workspace

from .contract import ColourBy
from .likelihood import started
from .pack import Pack, encode_pack

CLASS = "class"
LABELS = {CLASS: "Class", "kl": "KL", "reconstruction": "Reconstruction term", "elbo": "ELBO",
          "log_px": "log p(x)", "gap": "log p(x) − ELBO", "sigma": "Mean σ", "neighbour": "Nearest-neighbour distance"}
# Perceptually uniform: equal steps of the value look like equal steps of colour. Cividis also reads the same
# with red-green colour blindness, so the colour-blind palette switches to it.
COLOUR_SCALES = {False: "Viridis", True: "Cividis"}
# The scale spans the 1st to the 99th percentile, so a few extreme images (log p(x) has long tails) do not
# squeeze every other colour into one end.
SCALE_PERCENTILES = (1, 99)
# Column names of the selection CSV, with units.
CSV_COLUMNS = {"kl": "kl_nats", "reconstruction": "reconstruction_nats", "elbo": "elbo_nats", "log_px": "log_px_nats",
               "gap": "gap_nats", "sigma": "mean_sigma", "neighbour": "neighbour_distance"}


def choices(ws: Workspace) -> list[str]:
    """What this pair's map can be coloured by: every quantity needs the VAE's posterior."""
    return [CLASS] if ws.vae is None else [CLASS, *POINT_QUANTITIES]


def log_px_job(ws: Workspace) -> LikelihoodJob:
    """The held-out images' log p(x), started in the background unless it already runs or ran (Compare's too)."""
    return started(ws.likelihood_job(HELD_OUT, samples=diagnostics.PAGE_LOG_PX_SAMPLES))


def values(ws: Workspace, quantity: str) -> np.ndarray | None:
    """The quantity for each held-out image; None for class colours, or while log p(x) is still being computed."""
    if quantity == CLASS or ws.vae is None:
        return None
    if quantity in NEEDS_LOG_PX:
        job = log_px_job(ws)
        if job.result is None:
            return None
        return ws.point_quantities(job.samples)[quantity]
    return ws.point_quantities()[quantity]


def computed(ws: Workspace) -> dict[str, np.ndarray]:
    """Every quantity already at hand without waiting: log p(x) and the gap only once their job has finished."""
    if ws.vae is None:
        return {}
    job = ws.likelihood_job(HELD_OUT, samples=diagnostics.PAGE_LOG_PX_SAMPLES)
    return ws.point_quantities(job.samples if job.result is not None else None)


def csv_columns(ws: Workspace, quantity: str) -> dict[str, np.ndarray]:
    """A selection CSV's extra columns, in CSV_COLUMNS' order: the quantity the map is coloured by, and log p(x)
    and the gap once computed (the table has the KL already)."""
    at_hand, wanted = computed(ws), {quantity, *NEEDS_LOG_PX}
    return {column: at_hand[name] for name, column in CSV_COLUMNS.items()
            if name in wanted and name != "kl" and name in at_hand}


def pack(quantity: str, quantity_values: np.ndarray) -> Pack:
    return encode_pack({"type": "colour", "quantity": quantity}, {"values": quantity_values.astype(np.float32)})


def map_colour(colour_pack: Pack, quantity: str, quantity_values: np.ndarray, colour_blind: bool) -> ColourBy:
    """What the map and the card need to colour by a quantity (MapData.colour_by)."""
    low, high = np.percentile(quantity_values, SCALE_PERCENTILES)
    if not high > low:
        low, high = float(quantity_values.min()), float(quantity_values.min()) + 1.0
    return ColourBy(pack=colour_pack.id, array="values", quantity=quantity, label=LABELS[quantity],
                    title=POINT_QUANTITIES[quantity], colorscale=COLOUR_SCALES[colour_blind], cmin=float(low),
                    cmax=float(high))
