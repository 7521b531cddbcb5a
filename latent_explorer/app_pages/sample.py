"""Sample: decodes of draws from the prior N(0, I), and paths between two codes."""

import numpy as np
import pandas as pd
import streamlit as st

from latent_explorer import components, page_maps, session, widgets
from latent_explorer.figures import HIGHLIGHT_COLOUR, map_extent
from latent_explorer.pack import workspace_pack
from vae_core.comparison import interpolation_partner
from vae_core.diagnostics import HOLE_RATIO
from vae_core.images import display_scale, framed_mosaic_png, png_bytes, tile
from vae_core.latent import MAX_SEED, lerp, prior_samples, slerp
from vae_core.models import KIND_TITLES

SEED_INPUT = "sample_seed_input"
ENDPOINTS_FOR = "sample_endpoints_for"  # (pair, selected point) the endpoint inputs were last defaulted from
HELD_OUT, PRIOR = "Held-out images", "Random prior draws"
MOSAIC_CELL_PX = 72


def copy_seed_to_session() -> None:
    st.session_state[session.SEED] = int(st.session_state[SEED_INPUT])


def reroll() -> None:
    st.session_state[session.SEED] = int(np.random.default_rng().integers(1, MAX_SEED))


def prior_grid(ws, kind: str) -> np.ndarray:
    """Controls, the mosaic of decodes and its download; returns the codes drawn (for the interpolation)."""
    # The seed is part of the view that links carry, so it lives under session.SEED. The input has its own key
    # because Streamlit drops a widget's state on pages that do not show it, and the seed must survive those.
    st.session_state[SEED_INPUT] = session.sample_seed()
    # Re-roll's column wide enough for its whole label from 1024 px up.
    count_col, seed_col, temperature_col, reroll_col = st.columns([3, 2, 3, 1.5], vertical_alignment="bottom")
    count = count_col.slider("Samples", 4, 100, 36, key="sample_count", persist_state="session")
    seed = seed_col.number_input("Seed", 0, MAX_SEED, step=1, key=SEED_INPUT, on_change=copy_seed_to_session,
                                 help="The same seed, count and temperature always give the same grid.")
    temperature = temperature_col.slider(
        "Temperature", 0.1, 2.0, 1.0, step=0.1, key="sample_temperature", persist_state="session",
        help="Multiplies the prior's standard deviation: z ~ N(0, T² I). Below 1 the draws crowd around the "
             "origin, which is not where the images are: a trained VAE's codes often thin out at the centre (the "
             "shipped Fashion-MNIST pair has about a third as many per unit area there as within radius 1), so expect "
             "faint, blurred blends of a few classes, with less variety. Above 1 the draws reach the edges, where "
             "the decoder has seen little and the images turn odd.")
    reroll_col.button("Re-roll", key="sample_reroll", on_click=reroll, help="A new random seed.")

    z = prior_samples(count, ws.latent_dim(kind), int(seed), temperature)
    images = ws.decode(z, kind)
    columns = int(np.ceil(np.sqrt(count)))
    scale = display_scale(ws.image_side, MOSAIC_CELL_PX)
    picture = png_bytes(tile(images, columns=columns), scale)
    caption = f"{count} decodes of z ~ N(0, {temperature:.1f}² I) by the {KIND_TITLES[kind]}, seed {seed}"
    in_hole = ws.in_prior_hole(z) if kind == "vae" else np.zeros(count, dtype=bool)
    shown = framed_mosaic_png(images, columns, scale, in_hole) if in_hole.any() else picture
    if in_hole.any():
        caption += f"; red frame: in a hole ({int(in_hole.sum())} of {count})"
    # PNG keeps the upscaled pixels exact; Streamlit would otherwise re-encode a grey image as JPEG.
    st.image(shown, output_format="PNG", caption=caption,
             alt=f"A grid of {count} images the {KIND_TITLES[kind]} decoded from prior draws z, seed {seed}"
                 + (f", {int(in_hole.sum())} of them framed in red: in a hole of the prior" if in_hole.any() else ""))
    if kind == "vae":
        holes_caption(ws, in_hole)
    st.download_button("Download PNG", picture, file_name=f"prior-samples-{kind}-seed{seed}-T{temperature:.1f}.png",
                       mime="image/png", key="sample_download", on_click="ignore", icon=":material/download:")
    with st.expander("Latent values z of these samples"):
        table = pd.DataFrame(z, columns=[f"z{i + 1}" for i in range(z.shape[1])])
        table.index.name = "sample"
        st.dataframe(table, key="sample_z_table", width="stretch",
                     column_config={c: st.column_config.NumberColumn(format="%.3f") for c in table.columns})
        st.caption("Samples are numbered row by row through the grid, starting at 0.")
    return z


def holes_caption(ws, in_hole: np.ndarray) -> None:
    marked = ", ".join(str(i) for i in np.flatnonzero(in_hole)) or "none"
    st.caption(
        f"Samples in a hole of the prior (red frame): {marked}. A hole is a place the prior N(0, I) draws from but "
        f"hardly any image encodes to: there the held-out images' codes have less than 1/{HOLE_RATIO:g} of the "
        f"prior's density (q(z) < p(z)/{HOLE_RATIO:g}). The decoder learned from codes of real images only, so "
        f"what it draws there is a guess: often a faint, blurred blend of the classes around the hole, sometimes "
        f"an exaggerated copy of the nearest class at the prior's edge. For this VAE "
        f"{ws.prior_hole_fraction():.0%} of all prior draws land in a hole.")


def default_endpoints(ws) -> None:
    """Start the endpoint inputs at the selected point and a point of another class, whenever either changes."""
    selected = session.selected_held_out()
    origin = (session.active_key(), selected)
    if st.session_state.get(ENDPOINTS_FOR) == origin and "sample_from" in st.session_state:
        return
    start = selected if selected is not None else 0
    st.session_state[ENDPOINTS_FOR] = origin
    st.session_state["sample_from"] = start
    st.session_state["sample_to"] = interpolation_partner(ws.labels, start)


def held_out_endpoint(ws, kind: str, column, label: str, key: str) -> np.ndarray:
    with column:
        index = st.number_input(label, 0, len(ws) - 1, step=1, key=key)
        name = ws.class_names[ws.labels[index]]
        widgets.image(ws.image(index), caption=f"#{index} · {name}", size_px=72, alt=f"Image #{index}, {name}")
    return ws.encodings[kind].mu[index]


def strip(ws, kind: str, title: str, path: np.ndarray) -> None:
    st.markdown(f"**{title}**")
    norms = np.linalg.norm(path, axis=1)
    widgets.image_row(ws.decode(path, kind), captions=[f"‖z‖ {n:.2f}" for n in norms], size_px=72,
                      alts=[f"{title}, step {k + 1} of {len(path)}: decoded at a z of length {n:.2f}"
                            for k, n in enumerate(norms)])


def paths_on_map(ws, kind: str, linear: np.ndarray, spherical: np.ndarray) -> None:
    """Both paths over the held-out codes, in the map's coordinates (PCA above latent size 2)."""
    projection = ws.projections[kind]
    overlays = [page_maps.Overlay(name, projection(path), colour=colour, mode="lines+markers", size=7)
                for path, name, colour in ((linear, "lerp", "#111111"), (spherical, "slerp", HIGHLIGHT_COLOUR))]
    overlays += page_maps.prior_circles(projected=projection.name == "pca")
    extent = map_extent(ws.map_points[kind], must_show=np.vstack([overlay.points for overlay in overlays]))
    page_maps.draw(page_maps.page_map(ws, kind, "interpolation_map", extent, overlays, height=380, point_opacity=0.25),
                   key="interpolation_map")


def interpolation(ws, kind: str, drawn: np.ndarray) -> None:
    st.subheader("Between two codes")
    source = st.radio("Endpoints", [HELD_OUT, PRIOR], horizontal=True, key="sample_endpoints",
                      persist_state="session",
                      help="Held-out images: their encoder means μ(x). Random prior draws: the first two samples "
                           "of the grid above.")
    if source == HELD_OUT:
        default_endpoints(ws)
        from_col, to_col, _ = st.columns([1, 1, 3])
        start = held_out_endpoint(ws, kind, from_col, "From image #", "sample_from")
        end = held_out_endpoint(ws, kind, to_col, "To image #", "sample_to")
        st.caption("The first endpoint starts at the point selected on the Explore page.")
    else:
        start, end = drawn[0], drawn[1]
    steps = st.slider("Steps", 3, 16, 8, key="sample_steps", persist_state="session")
    linear, spherical = lerp(start, end, steps), slerp(start, end, steps)
    strips, path_map = st.columns([3, 2], gap="medium")
    with strips:
        strip(ws, kind, "Linear (lerp): a straight line from one code to the other", linear)
        strip(ws, kind, "Spherical (slerp): along the arc between the two directions", spherical)
    with path_map:
        paths_on_map(ws, kind, linear, spherical)
    st.caption(
        "Why slerp suits a Gaussian prior: in d dimensions, draws from N(0, I) have a norm close to √d, so the "
        "prior's typical codes sit near a sphere rather than at its centre. A straight line between two typical "
        "codes cuts inside that sphere (watch ‖z‖ dip in the middle of the linear strip) into a region no "
        "training code resembled. Slerp turns between the two directions and changes the norm steadily, so "
        "every step stays a plausible code. With 2 latent dimensions the difference is small; it grows with d.")


def main() -> None:
    title, share = st.columns([4, 1], vertical_alignment="bottom")  # Share keeps its whole label at 1024 px
    title.title("Sample — the prior")
    with share:
        widgets.share_link()
    ws = session.active_workspace()
    components.send_pack(workspace_pack(ws))  # the codes the interpolation map draws
    kind = ws.main_kind
    if kind == "vae":
        st.caption("A VAE is trained so that its codes follow the prior N(0, I). Drawing z from the prior and "
                   "decoding it therefore gives new images, without any input image.")
    else:
        st.warning("Sampling needs a VAE, and this pair holds only an AE. An AE's codes are not trained to "
                   "follow N(0, I), so the decodes below are the AE's decoder fed prior draws, shown for "
                   "comparison: they reach only the part of its code space near the origin, so expect a few "
                   "classes over and over, blends, or shapes unlike any image. Train a VAE (or both) on "
                   "the Train page to sample properly.", icon=":material/warning:")
    drawn = prior_grid(ws, kind)
    interpolation(ws, kind, drawn)


main()
