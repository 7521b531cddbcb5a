"""Explore: the VAE's latent map. Hover to decode, click a point to inspect it, empty space to decode it,
box or lasso to summarise a region.

The map and every decode the browser can compute run in the browser (latent_explorer/components.py); this
page keeps the view in session state, and sends what only the server has: the original images, the
neighbours' images and the costly numbers, in that order, cheapest first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import NamedTuple

import numpy as np
import pandas as pd
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from latent_explorer import (
    colouring,
    components,
    contract,
    decode_route,
    events,
    map_layers,
    pages,
    probe,
    selection,
    serving,
    session,
    shared,
    thumbnails,
    widgets,
)
from latent_explorer.figures import CLASS_COLOURS, COLOUR_BLIND_CLASS_COLOURS, HIGHLIGHT_COLOUR, bar_chart, map_extent
from latent_explorer.pack import browser_decodes, encode_pack, every_image_pack, workspace_pack
from latent_explorer.replay import replay_extent, replay_pack
from latent_explorer.text import plain
from vae_core import diagnostics
from vae_core.diagnostics import NEEDS_LOG_PX, LikelihoodJob, kl_per_dimension_mean
from vae_core.images import png_bytes
from vae_core.latent import (
    LinearProjection,
    PointAnalysis,
    active_units,
    dimension_name,
    points_in_region,
    prior_samples,
    reparameterized_draws,
)
from vae_core.models import KIND_TITLES
from vae_core.workspace import Workspace

MAP_KEY = "latent_map"
CARD_KEY = "inspect_card"
DECODED_AT = session.DECODED_AT
REGION = session.REGION
ACKS = "explore_acks"
COLOUR_BLIND = "colour_blind_palette"
MARKS = "map_marks"  # zoomed in, the points show their "originals" or "reconstructions"
THUMBNAILS_WANTED = "map_thumbnails_wanted"  # indices whose original images the map asked for
NO_WEBGL = "browser_without_webgl"  # this session's browser said it cannot draw WebGL
SHOW_DENSITY = "show_density"
MAP_VIEW_CHOICE = "map_projection"
AXIS_ACROSS, AXIS_UP = "map_axis_across", "map_axis_up"
# The projection of the map drawn last: a click on it is turned back into a whole code with it.
DRAWN_PROJECTION = "map_drawn_projection"
VIEW_LABELS = {"pca": "PCA", "tsne": "t-SNE", "active": "Active dimensions"}
DECODING_VIEWS = ("z", "active")  # views whose every spot is a code (the decode follows the cursor)
REPLAY = "map_replay"
MATH_PANEL_OPEN = "math_panel_open"
LOG_PX_POLL_S = 1.0  # how often the colour control looks at log p(x)'s background computation while it runs
POSTERIOR_DRAWS = 8
KL_TERMS_WRITTEN = 3  # the maths panel writes out the KL of this many dimensions
NEIGHBOURS = 8
MAP_HEIGHT = 760  # at most: web/map_figure.js fits the interactive map into the first screen
NO_WEBGL_REASON = "Training images too: off, as this browser has no WebGL to draw that many points."
HINT = ("Click a point to inspect it, or empty space to decode that location. "
        "Choose Box or Lasso in the map's toolbar to summarise a region.")


# --- events from the browser (callbacks: they run before the fragment draws) -----------------------

def _event(key: str, name: str):
    payload = st.session_state[key][name]
    st.session_state.setdefault(ACKS, {})[key] = events.sequence(payload)
    return payload


def on_point(key: str) -> None:
    event = events.point(_event(key, "point"), session.active_workspace().total)
    if event is not None:
        session.select(event.index)
        st.session_state[DECODED_AT] = None
        probe.hide()


def on_location() -> None:
    event = events.location(_event(MAP_KEY, "location"))
    projection = st.session_state.get(DRAWN_PROJECTION)
    if event is not None and projection is not None:
        session.select(None)
        # The whole code at the spot: above latent size 2, the dimensions off the axes at their held-out mean.
        st.session_state[DECODED_AT] = tuple(float(v) for v in projection.unproject(np.array([event.x, event.y])))
        probe.hide()


def on_probe() -> None:
    """The star of the person's own picture was clicked."""
    _event(MAP_KEY, "probe")
    st.session_state[DECODED_AT] = None
    probe.show()


def on_region() -> None:
    st.session_state[REGION] = events.region(_event(MAP_KEY, "region"))


def on_thumbnails() -> None:
    event = events.thumbnails(st.session_state[MAP_KEY]["thumbnails"], session.active_workspace().total)
    if event is not None:
        st.session_state[THUMBNAILS_WANTED] = np.array(event.indices, dtype=np.int64)


def on_webgl() -> None:
    event = events.webgl(st.session_state[MAP_KEY]["webgl"])
    if event is not None and not event.available:
        st.session_state[NO_WEBGL] = True
        st.session_state[session.EVERY_IMAGE] = False


def ack(key: str) -> int:
    return st.session_state.get(ACKS, {}).get(key, 0)


# --- controls --------------------------------------------------------------------------------------------

class ControlSlots(NamedTuple):
    """Places the later controls fill, so that every control sits in the one row above the map."""

    colour: DeltaGenerator  # beside "Codes of", before the switches: "Colour by"
    layers: DeltaGenerator  # the "Layers" popover: the training replay's switch joins it
    notes: DeltaGenerator   # under the row: log p(x)'s progress, why a switch is off


def switch(place: DeltaGenerator, label: str, key: str, explanation: str, value: bool = False,
           disabled: bool = False) -> bool:
    """A toggle with its explanation written under it: inside a popover a help button per switch would be one
    more tab stop each, and a tooltip a finger cannot open."""
    on = place.toggle(label, value=value, key=key, disabled=disabled)
    place.caption(explanation)
    return on


def map_controls(ws: Workspace) -> tuple[str, str, bool, bool, bool, ControlSlots]:
    # One row that wraps rather than columns that cut: every label and button keeps its width at 1024 px. The
    # switches wait in two popovers, so the map starts on the first screen.
    top = st.container(horizontal=True, vertical_alignment="bottom", gap="small", key="map_controls")
    kind = top.segmented_control("Codes of", ws.kinds, default=ws.main_kind, format_func=KIND_TITLES.get,
                                 key="map_kind", help="Whose encoder places the images on the map.") \
        or ws.main_kind
    if ws.latent_dim(kind) > 2:
        views = ["pca", "tsne"] + (["active"] if kind == "vae" else [])
        linked = st.session_state.get(session.LINKED_MAP_VIEW)
        default = VIEW_LABELS[linked[0] if linked and linked[0] in views else "pca"]
        label = top.segmented_control("Projection", [VIEW_LABELS[v] for v in views], default=default,
                                      key=MAP_VIEW_CHOICE,
                                      help="PCA is linear, so posteriors and paths can be drawn in it; "
                                           "t-SNE keeps neighbourhoods but not distances; active dimensions puts "
                                           "two of the VAE's own latent dimensions on the axes.") or "PCA"
        view = next((v for v in views if VIEW_LABELS[v] == label), "pca")  # the AE's codes have no KL
    else:
        view = "z"
    colour = top.container(width="content")
    layers = top.popover("Layers", icon=":material/layers:")
    view_options = top.popover("View", icon=":material/visibility:")
    with top:
        widgets.share_link()
    show_posterior = switch(layers, "Posterior", "show_posterior",
                            "The selected image's q(z|x) as 1σ and 2σ ellipses, with a few reparameterised draws "
                            "z = μ + σ·ε.", value=True)
    can_tile = view == "z"
    show_background = switch(layers, "Decoder background", "show_manifold",
                             "The decoder's output tiled over the visible region (latent size 2 only).",
                             disabled=not can_tile)
    # t-SNE of tens of thousands of codes would take many minutes: the training split joins linear maps only.
    no_webgl = st.session_state.get(NO_WEBGL, False)
    every_image = switch(layers, f"Training images too (+{ws.total - len(ws):,})", session.EVERY_IMAGE,
                         f"All {ws.total:,} images on the map: the held-out split as before, the training split "
                         "lighter and smaller. The encoders saw the training images, so their codes are a little "
                         "tighter.", disabled=view == "tsne" or no_webgl)
    switch(layers, "Density and holes", SHOW_DENSITY,
           "The VAE's aggregate posterior q(z) under the points, the prior's 1σ and 2σ circles, and the holes the "
           "codes leave in the prior outlined (latent size 2, VAE codes).",
           disabled=not (view == "z" and kind == "vae"))
    if view == "z":
        view_options.caption(f"Latent size {ws.latent_dim(kind)}: the axes are the latent coordinates themselves.")
    switch(view_options, "Colour-blind-safe colours", COLOUR_BLIND,
           "Class colours that stay apart with red-green or blue-yellow colour blindness.")
    view_options.segmented_control("Marks show", ["originals", "reconstructions"], default="originals", key=MARKS,
                                   disabled=not browser_decodes(ws, ws.main_kind))
    view_options.caption(f"Zoomed in until at most {contract.MAX_IMAGE_MARKS} points are visible, each point becomes "
                         "an image: the "
                         f"original, or its reconstruction by the {KIND_TITLES[ws.main_kind]} (decoded in your "
                         "browser).")
    notes = st.container()
    if no_webgl:
        notes.caption(NO_WEBGL_REASON)
    every_image = every_image and view != "tsne" and not no_webgl
    if every_image:
        notes.caption(f"Held-out images are numbered #0 to #{len(ws) - 1:,}, training images #{len(ws):,} to "
                      f"#{ws.total - 1:,}; the training split is drawn lighter and smaller.")
    return kind, view, show_posterior, show_background and can_tile, every_image, ControlSlots(colour, layers, notes)


def axis_dimensions(ws: Workspace) -> tuple[int, int]:
    """The two VAE dimensions on the map's axes (0-based), picked among the active units, largest KL first."""
    offered, all_active = ws.axis_dimensions()
    codes = ws.encodings["vae"]
    kl = kl_per_dimension_mean(codes.mu, codes.logvar)
    linked = (st.session_state.get(session.LINKED_MAP_VIEW) or (None, None))[1]
    if linked is None or not set(linked) <= set(offered):  # no link, or one that named another model's dimensions
        linked = tuple(offered[:2])

    def name(d: int) -> str:
        return f"{dimension_name(d)} (KL {kl[d]:.1f} nats)"

    row = st.container(horizontal=True, vertical_alignment="bottom", gap="medium")
    across = row.selectbox("Across", offered, index=offered.index(linked[0]), format_func=name, key=AXIS_ACROSS,
                           help="Active units (Burda et al.): dimensions whose μ varies across the images "
                                "(variance above 0.01), largest mean KL first.")
    up = row.selectbox("Up", offered, index=offered.index(linked[1]), format_func=name, key=AXIS_UP)
    if up == across:
        up = next(d for d in offered if d != across)
        row.caption(f"Both axes cannot be one dimension: up is {dimension_name(up)}.")
    others = ws.latent_dim("vae") - 2
    note = "" if all_active else f" Only {active_units(codes.mu)} of the {ws.latent_dim('vae')} dimensions are " \
        "active units; these are the two of largest KL."
    st.caption(f"The axes are z itself along {dimension_name(across)} and {dimension_name(up)}. Hovering or "
               f"clicking empty space decodes a whole code: the other {others} dimensions at their held-out mean "
               f"of μ.{note}")
    return across, up


def view_projection(ws: Workspace, kind: str, view: str, dims: tuple[int, int] | None) -> LinearProjection:
    """What the map's points go through: two latent dimensions, or the pack's projection (identity or PCA)."""
    return ws.axis_projection(dims) if view == "active" else ws.projections[kind]


def replay_control(ws: Workspace, kind: str, view: str, every_image: bool, slots: ControlSlots) -> bool:
    """The switch that opens the training replay under the map (its frames are sent only then); whether it is on."""
    epochs = ws.replay_epochs(kind)
    if epochs is None:
        slots.notes.caption(f"This {KIND_TITLES[kind]} has no training replay: it was trained or saved before training "
                   "kept one, so the map cannot show how it formed.")
        return False
    why_not = ("t-SNE places only the codes it was fitted on, so the replay is drawn in the PCA view."
               if view == "tsne" else
               "The replay is drawn with the final map's PCA axes: choose PCA to play it."
               if view == "active" else
               "The replay holds the held-out images: switch off the training images to play it."
               if every_image else None)
    opened = switch(slots.layers, f"Training replay ({len(epochs)} epochs)", REPLAY,
                    "Play how the map formed during training: the held-out codes after each epoch, drawn with the "
                    "final map's axes. Scrub or play under the map; clicking the map returns to the final epoch.",
                    disabled=why_not is not None)
    if why_not is not None:
        slots.notes.caption(why_not)
    return opened and why_not is None


def with_replay(data: contract.MapData, ws: Workspace, kind: str, slot) -> contract.MapData:
    """The map with the replay's frames: their pack sent now, and axes that hold every frame."""
    pack = replay_pack(ws, kind)
    with slot:
        components.send_pack(pack)
    extent = replay_extent(ws, kind)
    return replace(data, replay=contract.Replay(pack.id, pack.meta["epochs"]),
                   extent=[list(extent[0]), list(extent[1])], view_key=data.view_key + "/replay")


def colour_control(ws: Workspace, slots: ControlSlots) -> str:
    """What the points are coloured by; while log p(x) is being computed, its progress (the map keeps its class
    colours meanwhile and takes the new ones when it is done)."""
    options = colouring.choices(ws)
    if st.session_state.get(session.COLOUR_BY) not in options:
        st.session_state[session.COLOUR_BY] = colouring.CLASS
    quantity = slots.colour.selectbox(
        "Colour by", options, format_func=colouring.LABELS.get, key=session.COLOUR_BY, width=200,
        disabled=len(options) == 1,
        help="Class, or a number of each held-out image under the VAE, on a colour bar. log p(x) is an "
             f"importance-weighted estimate (K = {diagnostics.PAGE_LOG_PX_SAMPLES}), computed once per model in the "
             "background; the gap log p(x) − ELBO is what the bound leaves out.")
    if quantity in NEEDS_LOG_PX:
        job = colouring.log_px_job(ws)
        with slots.notes:
            if not job.finished:
                st.fragment(run_every=LOG_PX_POLL_S)(log_px_progress)(job)
            elif job.error:
                st.warning(f"log p(x) could not be computed: {plain(job.error, 300)}; colouring by class.")
    return quantity


def log_px_progress(job: LikelihoodJob) -> None:
    if job.finished:
        st.rerun()  # the values are in: draw the map with them, and stop polling
    st.progress(job.progress, text=f"Computing log p(x) for the colours: {job.done_images:,} images of "
                                   f"{job.total_images:,}. The map shows the classes meanwhile.")


def map_colour(ws: Workspace, quantity: str, slot) -> contract.ColourBy | None:
    """MapData.colour_by for the chosen quantity, its values sent in a pack; None for class colours (also while
    log p(x) is being computed)."""
    quantity_values = colouring.values(ws, quantity)
    if quantity_values is None:
        return None
    colour_pack = colouring.pack(quantity, quantity_values)
    with slot:
        components.send_pack(colour_pack)
    return colouring.map_colour(colour_pack, quantity, quantity_values, bool(st.session_state.get(COLOUR_BLIND)))


def class_colours() -> tuple[str, ...]:
    """The class palette of the map and of the selection's chart."""
    return COLOUR_BLIND_CLASS_COLOURS if st.session_state.get(COLOUR_BLIND) else CLASS_COLOURS


def posterior_noise(ws: Workspace) -> np.ndarray | None:
    """The eight ε ~ N(0, I) of the draws z = μ + σ·ε, the same for every image so draws compare."""
    return None if ws.vae is None else prior_samples(POSTERIOR_DRAWS, ws.latent_dim("vae"), seed=0)


# --- the map -----------------------------------------------------------------------------------------------

def map_points(ws: Workspace, kind: str, view: str, every_image: bool, slot,
               projection: LinearProjection | None = None) -> tuple[np.ndarray, contract.PackArray | None]:
    """The map's coordinates and, for t-SNE, the pack that carries them to the browser."""
    if view != "tsne":
        if projection is not None:
            return projection(ws.codes(kind, every_image=every_image).mu), None
        return (ws.projections[kind](ws.codes(kind, every_image=True).mu) if every_image else ws.map_points[kind],
                None)
    with st.spinner(f"Computing the t-SNE of {len(ws):,} codes (once per model; it can take a minute)…"):
        coordinates = ws.tsne(kind).astype(np.float32)
    pack = encode_pack({"type": "points"}, {"tsne": coordinates})
    with slot:
        components.send_pack(pack)
    return coordinates, contract.PackArray(pack.id, "tsne")


def codes_pack(ws: Workspace, every_image: bool, slot) -> str:
    """The id of the pack the map and the card read codes from; the every-image pack is sent when needed."""
    if not every_image:
        return workspace_pack(ws).id
    pack = every_image_pack(ws)
    with slot:
        components.send_pack(pack)
    return pack.id


def map_data(ws: Workspace, kind: str, view: str, points: np.ndarray, points_ref: contract.PackArray | None,
             pack_id: str,
             show_posterior: bool, show_background: bool, eps: np.ndarray | None,
             inside: np.ndarray | None, projection: LinearProjection | None = None,
             layers: contract.MapLayers | None = None,
             colour_by: contract.ColourBy | None = None) -> contract.MapData:
    extent = map_extent(points)
    extent_data = [list(map(float, extent[0])), list(map(float, extent[1]))]
    region = st.session_state.get(REGION)
    lens_url = server_background = None
    if view == "z" and not browser_decodes(ws, kind):
        lens_url = decode_route.decode_url(ws, kind)
        if show_background:
            picture = ws.manifold(*extent, n=contract.BACKGROUND_TILES, kind=kind)
            server_background = contract.PictureOnMap(components.png_data_uri(png_bytes(1.0 - picture)), extent_data)
    projection = projection or ws.projections[kind]
    location = decoded_location(ws, kind, view)
    axes = None if projection.name != "axes" else np.flatnonzero(projection.components.any(0)).tolist()
    return contract.MapData(
        pack=pack_id, kind=kind, view=view, decodes=view in DECODING_VIEWS, points=points_ref,
        axis_titles=["t-SNE 1", "t-SNE 2"] if view == "tsne" else list(projection.axis_titles),
        extent=extent_data, equal_axes=view != "tsne", view_key=f"{pack_id}/{kind}/{view}/{axes}", height=MAP_HEIGHT,
        colours=list(class_colours()), highlight=HIGHLIGHT_COLOUR, selected=session.selected_index(),
        location=None if location is None else projection(np.array(location))[0].tolist(),
        region=region.to_data() if region is not None else None, posterior=show_posterior and kind == "vae",
        background=show_background, eps=None if eps is None else eps.tolist(), ack=ack(MAP_KEY),
        probe=probe.map_data(ws), decode_url=lens_url, server_background=server_background,
        marks="reconstructions" if st.session_state.get(MARKS) == "reconstructions" and browser_decodes(
            ws, ws.main_kind) else "originals",
        webgl=not st.session_state.get(NO_WEBGL, False), layers=layers,
        projection=None if axes is None else contract.AxesProjection(
            projection.mean.tolist(), projection.components.tolist(),
            [dimension_name(projection.components[k].argmax()) for k in range(2)]),
        region_members=None if inside is None else components.member_bits(inside, len(points)),
        colour_by=colour_by)


def decoded_location(ws: Workspace, kind: str, view: str) -> tuple[float, ...] | None:
    """The code decoded by a click on empty space, where the view decodes and it is a code of this model."""
    location = st.session_state.get(DECODED_AT)
    return location if view in DECODING_VIEWS and location is not None and len(location) == ws.latent_dim(kind) \
        else None


def location_label(projection: LinearProjection, location) -> str | None:
    """How the card names a decoded spot when the map's axes are two of many dimensions (else its own z = (…))."""
    if projection.name != "axes":
        return None
    x, y = projection(np.array(location))[0]
    first, second = (dimension_name(projection.components[k].argmax()) for k in range(2))
    return f"{first} = {x:+.2f}, {second} = {y:+.2f}, the rest at their held-out mean"


def region_indices(points: np.ndarray) -> np.ndarray | None:
    """The points inside the box or lasso: the one place the app decides (the map's dimming included)."""
    region = st.session_state.get(REGION)
    return None if region is None else points_in_region(points, region.shape, region.vertices)


def region_panel(ws: Workspace, indices: np.ndarray | None, kind: str) -> None:
    """Class counts and the mean image of the images inside the box or lasso, and its downloads."""
    if indices is None:
        return
    st.subheader(f"Selection: {len(indices):,} images")
    if not len(indices):
        st.caption("The box or lasso caught no data points.")
        return
    takeaway = st.container(horizontal=True, gap="small")
    takeaway.download_button("Codes (CSV)", lambda: selection.selection_csv(ws, indices, kind, colour_quantities(ws)),
                             file_name="selection.csv", mime="text/csv", icon=":material/download:",
                             key="selection_csv", on_click="ignore",
                             help="Index, class, split, μ, σ and KL of each selected image, the quantity the "
                                  "map is coloured by, and log p(x) once computed.")
    takeaway.download_button("Images (zip)", lambda: selection.selection_zip(ws, indices),
                             file_name="selection.zip", mime="application/zip", icon=":material/download:",
                             key="selection_zip", on_click="ignore", help="The selected images as PNG files.")
    counts, mean_image = ws.selection_summary(indices)
    c1, c2 = st.columns([1, 2])
    with c1:
        widgets.image(mean_image, caption="mean image of the selection", size_px=140,
                      alt=f"The mean of the {len(indices):,} selected images")
    with c2:
        # Each class's bar in the colour of its dots on the map.
        palette = class_colours()
        colours = [palette[c % len(palette)] for c in range(len(ws.class_names))]
        st.plotly_chart(bar_chart(counts, "", "images", labels=list(ws.class_names), colour=colours, height=220),
                        key="selection_counts")


def send_thumbnails(ws: Workspace, pack_id: str, every_image: bool, slot) -> None:
    """The original images the map asked for (on_thumbnails), in one binary message, once."""
    wanted = st.session_state.pop(THUMBNAILS_WANTED, None)
    if wanted is None:
        return
    # Indices past the held-out split are training images, drawn only on the map of every image.
    wanted = wanted if every_image else wanted[wanted < len(ws)]
    if len(wanted):
        with slot:
            components.send_thumbnails(thumbnails.thumbnails_message(ws, pack_id, wanted))


def neighbour_downloads(ws: Workspace, neighbours: Callable[[], np.ndarray], kind: str, stem: str) -> None:
    """The card's nearest neighbours taken away, with the columns and files of a selection's downloads;
    found again only when a button is pressed."""
    takeaway = st.container(horizontal=True, gap="small", key="neighbour_downloads")
    takeaway.download_button("Neighbours (CSV)", lambda: selection.selection_csv(
                                 ws, neighbours(), kind, colour_quantities(ws)),
                             file_name=f"{stem}.csv", mime="text/csv", icon=":material/download:",
                             key="neighbours_csv", on_click="ignore",
                             help=f"Index, class, split, μ, σ and KL of the {NEIGHBOURS} nearest neighbours, and the "
                                  "quantity the map is coloured by.")
    takeaway.download_button("Neighbours (zip)", lambda: selection.selection_zip(ws, neighbours()),
                             file_name=f"{stem}.zip", mime="application/zip", icon=":material/download:",
                             key="neighbours_zip", on_click="ignore",
                             help=f"The {NEIGHBOURS} nearest neighbours' images as PNG files.")


def colour_quantities(ws: Workspace) -> dict[str, np.ndarray]:
    """The selection CSV's extra columns for the quantity the map is coloured by now."""
    return colouring.csv_columns(ws, st.session_state.get(session.COLOUR_BY, colouring.CLASS))


# --- the inspect card: what the browser cannot compute, in one payload ----------------------------------------

def image_tiles(ws: Workspace, original: np.ndarray, codes: dict[str, np.ndarray], sigma: np.ndarray | None,
                neighbours: tuple[np.ndarray, np.ndarray], eps: np.ndarray | None,
                **subject) -> contract.CardServer:
    """The original, the neighbours and whatever the browser cannot decode, as tiles of one payload about
    ``subject`` (CardServer's index or probe)."""
    pictures = [original]
    listed = []
    for j, distance in zip(*neighbours):
        listed.append([int(j), float(distance), len(pictures)])
        pictures.append(ws.image(j))
    decodes = {}
    for kind in ws.kinds:
        if not browser_decodes(ws, kind):
            decodes[kind] = len(pictures)
            pictures.append(ws.decode(codes[kind], kind)[0])
    draws = None
    if sigma is not None and not browser_decodes(ws, "vae"):
        decoded = ws.decode(reparameterized_draws(codes["vae"], sigma, eps), "vae")
        draws = list(range(len(pictures), len(pictures) + len(decoded)))
        pictures += list(decoded)
    return contract.CardServer(components.grey_pixels(np.stack(pictures)),
                               contract.CardTiles(original=0, neighbours=listed, draws=draws, **decodes), **subject)


def point_tiles(ws: Workspace, index: int, eps: np.ndarray | None, every_image: bool) -> contract.CardServer:
    codes = {kind: ws.code(index, kind) for kind in ws.kinds}
    sigma = ws.sigma(index) if ws.vae is not None else None
    return image_tiles(ws, ws.image(index), codes, sigma, ws.neighbours(index, k=NEIGHBOURS, every_image=every_image),
                       eps, index=index)


def probe_tiles(ws: Workspace, picture: probe.Probe, eps: np.ndarray | None,
                every_image: bool) -> contract.CardServer:
    codes = {kind: picture.code(kind) for kind in ws.kinds}
    sigma = picture.codes["vae"].sigma[0] if ws.vae is not None else None
    neighbours = ws.neighbours_of_code(picture.code(ws.main_kind), k=NEIGHBOURS, every_image=every_image)
    return image_tiles(ws, picture.image.mean(0), codes, sigma, neighbours, eps, probe=picture.id)


def location_tiles(ws: Workspace, z: tuple[float, float], kind: str) -> contract.CardServer | None:
    if browser_decodes(ws, kind):
        return None
    return contract.CardServer(components.grey_pixels(ws.decode(np.array(z), kind)), contract.CardTiles(location=0),
                               location=list(z))


def inspect_card(ws: Workspace, index: int | None, location, kind: str, eps: np.ndarray | None,
                 pack_id: str, every_image: bool, location_label: str | None = None,
                 colour_by: contract.ColourBy | None = None) -> None:
    shown = probe.showing(ws)
    if index is not None:
        # The same for every visitor of this pair (eps too): computed once per server.
        server = shared.per_workspace(ws, "card_tiles", (index, every_image),
                                      lambda: point_tiles(ws, index, eps, every_image))
    elif location is not None:
        server = location_tiles(ws, location, kind)
    else:
        server = probe_tiles(ws, shown, eps, every_image) if shown is not None else None
    components.inspect_card(contract.CardData(
        pack=pack_id, kinds=ws.kinds, titles=KIND_TITLES, selected=index,
        location=list(location) if location is not None else None, location_kind=kind,
        eps=None if eps is None else eps.tolist(), neighbours=NEIGHBOURS, server=server,
        hint=HINT, ack=ack(CARD_KEY), probe=probe.map_data(ws), location_label=location_label,
        colour=colour_by,
    ), key=CARD_KEY, on_point_change=lambda: on_point(CARD_KEY))


# --- numbers under the card, cheapest first ------------------------------------------------------------------

def image_details(ws: Workspace, code: np.ndarray, analysis: Callable[[], PointAnalysis],
            log_px: Callable[[], float]) -> None:
    """The numbers of one image, cheapest first: its editor button, its ELBO's terms, then log p(x)."""
    if st.button("Open in editor", icon=":material/tune:", key="open_in_editor", type="primary",
                 help="Start the latent sliders from this image's code."):
        session.set_latent_vector(code)
        pages.switch_to(pages.EDIT)
    if ws.vae is None:
        st.info("This pair has no VAE, so there is no posterior to show.")
        return
    terms = analysis()
    # Signed as in ELBO = E[log p(x|z)] − KL, so the three numbers add up as shown. A row that wraps: each
    # number keeps its full width in a narrow column.
    numbers = st.container(horizontal=True, gap="medium", key="point_numbers")
    numbers.metric("E[log p(x|z)] (nats)", f"{-terms.reconstruction_nll:.1f}", width="content",
                   help="The reconstruction term: the log-likelihood of the image under the decoder, averaged "
                        "over posterior samples z ~ q(z|x)")
    numbers.metric("KL (nats)", f"{terms.kl:.2f}", width="content", help="KL(q(z|x) ‖ p(z)), closed form")
    numbers.metric("ELBO (nats)", f"{terms.elbo:.1f}", width="content",
                   help="ELBO = E[log p(x|z)] − KL: a lower bound on log p(x)")
    posterior = pd.DataFrame({"μ": terms.mu, "σ": terms.sigma, "KL (nats)": terms.kl_per_dim},
                             index=[f"z{i + 1}" for i in range(len(terms.mu))])
    # KL per dimension as bars inside the table: a chart of its own cost the browser about 50 ms a click.
    st.dataframe(posterior, width="stretch", height=min(38 + 35 * len(posterior), 250), column_config={
        "μ": st.column_config.NumberColumn(format="%.3f"),
        "σ": st.column_config.NumberColumn(format="%.3f"),
        "KL (nats)": st.column_config.ProgressColumn(
            format="%.3f", min_value=0.0, max_value=max(float(terms.kl_per_dim.max()), 1e-6),
            help="KL per latent dimension: where this image's code spends its nats")})
    math_panel(terms, log_px)


def math_panel(analysis: PointAnalysis, log_px: Callable[[], float]) -> None:
    # Drawn only while open: its importance-weighted log p(x) was most of a crowd's server time when every click
    # computed it for a panel nobody had opened (benchmarks/README.md, "Crowd"). Opening it reruns the fragment.
    panel = st.expander("The mathematics of this point", expanded=False, key=MATH_PANEL_OPEN, on_change="rerun")
    if not panel.open:
        return
    # Formulas broken over short aligned lines: each fits the card's column from 1024 px up, none scrolls.
    with panel, st.container(key="math_panel"):
        st.markdown("The evidence lower bound splits into a reconstruction term and a KL term:")
        st.latex(r"\begin{aligned}\log p(x) &\ge \mathrm{ELBO}(x)\\ &= \mathbb{E}_{q(z|x)}[\log p(x|z)]\\ "
                 r"&\quad - \mathrm{KL}\big(q(z|x)\,\|\,p(z)\big)\end{aligned}")
        st.latex(rf"\begin{{aligned}}\mathrm{{ELBO}} &= {analysis.elbo:.2f}\\ "
                 rf"&= {-analysis.reconstruction_nll:.2f} - {analysis.kl:.2f}\;\text{{nats}}\end{{aligned}}")
        st.markdown("With q(z|x) = N(μ, diag σ²) and p(z) = N(0, I) the KL has a closed form, one term per dimension"
                    + (f" (the first {KL_TERMS_WRITTEN} here, every one in the table):"
                       if len(analysis.mu) > KL_TERMS_WRITTEN else ":"))
        st.latex(kl_latex(analysis))
        # The costliest figure comes last, so everything above is already on the page.
        estimate = log_px()
        st.markdown(f"An importance-weighted estimate with K = {analysis.samples} samples tightens the bound "
                    "towards log p(x); the gap is the KL from q(z|x) to the true posterior p(z|x):")
        st.latex(rf"\begin{{aligned}}\log p(x) &\approx \log \tfrac1K\textstyle\sum_k "
                 rf"\frac{{p(x|z_k)\,p(z_k)}}{{q(z_k|x)}}\\ &= {estimate:.2f}\\ "
                 rf"&\ge \mathrm{{ELBO}} = {analysis.elbo:.2f}\\ "
                 rf"\text{{gap}} &\approx {estimate - analysis.elbo:.2f}\end{{aligned}}")
        st.caption("The reconstruction term and the estimate use Monte Carlo samples of z, "
                   "so their last digits move a little with the seed.")


def kl_latex(analysis: PointAnalysis) -> str:
    """The KL's closed form with the point's own numbers, written with the table's digits (three decimals) and
    negative means in parentheses, so that each written term and the written sum give the KL shown."""
    def number(value: float) -> str:
        return f"({value:.3f})" if f"{value:.3f}".startswith("-") else f"{value:.3f}"

    lines = [r"\mathrm{KL} &= \tfrac12\textstyle\sum_i(\mu_i^2+\sigma_i^2-\ln\sigma_i^2-1)"]
    for i, (m, s, kl) in enumerate(list(zip(analysis.mu, analysis.sigma, analysis.kl_per_dim))[:KL_TERMS_WRITTEN]):
        lines.append(rf"\mathrm{{KL}}_{{z_{{{i + 1}}}}} &= \tfrac12\big({number(m)}^2 + {s:.3f}^2"
                     rf"\\ &\qquad - \ln {s:.3f}^2 - 1\big) = {kl:.3f}")
    # Every dimension's term in the sum, four to a line, so the sum as written gives the total.
    parts = [f"{kl:.3f}" for kl in analysis.kl_per_dim]
    rows = [" + ".join(parts[k:k + 4]) for k in range(0, len(parts), 4)]
    lines.append(r"\mathrm{KL} &= " + r"\\ &\quad + ".join(rows) + rf"\\ &= {analysis.kl:.3f}")
    return r"\begin{aligned}" + r"\\ ".join(lines) + r"\end{aligned}"


def location_details(location) -> None:
    if st.button("Open this z in the editor", icon=":material/tune:", key="open_location"):
        session.set_latent_vector(np.array(location))
        pages.switch_to(pages.EDIT)


@st.fragment
def explorer(ws: Workspace) -> None:
    with serving.run_slot():  # a click reruns only this fragment: it waits for a slot like a whole run
        explorer_view(ws)


def explorer_view(ws: Workspace) -> None:
    kind, view, show_posterior, show_background, every_image, slots = map_controls(ws)
    dims = axis_dimensions(ws) if view == "active" else None
    session.set_map_view(view, dims)
    projection = view_projection(ws, kind, view, dims)
    st.session_state[DRAWN_PROJECTION] = projection if view in DECODING_VIEWS else None
    show_density = bool(st.session_state.get(SHOW_DENSITY)) and view == "z" and kind == "vae"
    replay_open = replay_control(ws, kind, view, every_image, slots)
    quantity = colour_control(ws, slots)
    index = session.selected_index()
    location = decoded_location(ws, kind, view)
    eps = posterior_noise(ws)
    # Packs the view needs go into this hidden slot, so the elements after it keep their place (and the map
    # its state) whether or not a pack is sent.
    slot = components.hidden_slot("packs")
    pack_id = codes_pack(ws, every_image, slot)
    send_thumbnails(ws, pack_id, every_image, slot)
    colour_by = map_colour(ws, quantity, slot)
    # The map's column is the wider one; PAGE_CSS sets the shares by the window's width and puts the card under
    # the map below 900 px (the card's numbers and formulas keep at least 300 px from 1024 px up).
    left, right = st.container(key="explore_panes").columns(2, gap="medium")
    # The card first: it carries the images only the server has, and nothing else holds it up.
    with right:
        # A box or lasso's summary goes beside the map, above the card, where it is seen at once.
        selection_slot = st.container()
        inspect_card(ws, index, location, kind, eps, pack_id, every_image,
                     location_label(projection, location) if location is not None else None, colour_by)
        details = st.container()
    with left:
        points, points_ref = map_points(ws, kind, view, every_image, slot, projection)
        inside = region_indices(points)
        layers = None
        if show_density:
            with st.spinner("Computing q(z) and the prior's holes (once per model)…"):
                layers = map_layers.density_layer(ws, map_extent(points))
        data = map_data(ws, kind, view, points, points_ref, pack_id, show_posterior, show_background, eps,
                        inside, projection, layers, colour_by)
        components.latent_map(
            with_replay(data, ws, kind, slot) if replay_open else data,
            key=MAP_KEY, on_point_change=lambda: on_point(MAP_KEY), on_location_change=on_location,
            on_region_change=on_region, on_probe_change=on_probe,
            on_thumbnails_change=on_thumbnails, on_webgl_change=on_webgl)
        if view == "tsne" and show_posterior:
            st.caption("t-SNE is non-linear, so posteriors cannot be drawn in it; switch to PCA to see them.")
        if layers is not None:
            st.caption(map_layers.density_caption(layers.hole_fraction))
        probe.section(ws)
    with selection_slot:
        region_panel(ws, inside, kind)
    with details:
        shown = probe.showing(ws)
        if index is not None:
            neighbour_downloads(ws, lambda: ws.neighbours(index, k=NEIGHBOURS, every_image=every_image)[0], kind,
                                f"neighbours_of_{index}")
            image_details(ws, ws.code(index), lambda: ws.analyse(index), lambda: ws.log_px(index))
        elif location is not None:
            location_details(location)
        elif shown is not None:
            neighbour_downloads(ws, lambda: ws.neighbours_of_code(shown.code(ws.main_kind), k=NEIGHBOURS,
                                                                 every_image=every_image)[0],
                                kind, "neighbours_of_your_image")
            image_details(ws, shown.code(ws.main_kind), lambda: shown.analysis(ws), lambda: shown.log_px(ws))
    session.sync_url()


def main() -> None:
    ws = session.active_workspace()
    # The title and one line about it: the map comes on the first screen.
    heading = st.container(horizontal=True, vertical_alignment="bottom", gap="medium", key="explore_heading")
    heading.title("Explore the latent space", width="content")
    heading.caption(f"{ws.label}: each dot is a held-out image at its encoder mean μ(x); **hover the map to decode** "
                    "any spot, **click a dot to inspect** it.")
    components.send_pack(workspace_pack(ws))
    explorer(ws)


main()
