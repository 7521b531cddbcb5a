"""Explore: the VAE's latent map. Click a point to inspect it, empty space to decode it, box or lasso to summarise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from explorer import session, widgets
from explorer.figures import MapSpec, Overlay, bar_chart, latent_map, map_extent, parse_map_selection
from vae_core.latent import posterior_ellipse, reparameterized_draws
from vae_core.models import KIND_TITLES
from vae_core.workspace import Workspace

MAP_KEY = "latent_map"
LAST_EVENT = "latent_map_last_event"
DECODED_AT = "decoded_location"
SELECTION = "map_selection"
POSTERIOR_DRAWS = 8


def read_map_event() -> None:
    """Apply a new click, box or lasso from the map's widget state (each event once)."""
    event = st.session_state.get(MAP_KEY)
    selection = event.get("selection") if event else None
    if not selection:
        return
    signature = repr((selection.get("point_indices"), selection.get("box"), selection.get("lasso")))
    if signature == st.session_state.get(LAST_EVENT):
        return
    st.session_state[LAST_EVENT] = signature
    parsed = parse_map_selection(selection)
    if parsed.kind == "region":
        st.session_state[SELECTION] = np.array(parsed.indices, dtype=int)
    elif parsed.kind == "point":
        session.select(parsed.index)
        st.session_state[SELECTION] = st.session_state[DECODED_AT] = None
    elif parsed.kind == "location":
        st.session_state[SELECTION] = None
        st.session_state[DECODED_AT] = parsed.location


def map_controls(ws: Workspace) -> tuple[str, str, bool, bool]:
    kinds = ws.kinds
    cols = st.columns([1.2, 1.2, 1, 1, 0.6], vertical_alignment="bottom")
    kind = cols[0].segmented_control("Codes of", kinds, default=ws.main_kind, format_func=KIND_TITLES.get,
                                     key="map_kind", help="Whose encoder places the images on the map.") \
        or ws.main_kind
    if ws.latent_dim(kind) > 2:
        view = cols[1].segmented_control("Projection", ["PCA", "t-SNE"], default="PCA", key="map_projection",
                                         help="PCA is linear, so posteriors and paths can be drawn in it; "
                                              "t-SNE keeps neighbourhoods but not distances.") or "PCA"
    else:
        view = "z"
        cols[1].caption(f"Latent size {ws.latent_dim(kind)}: the axes are the latent coordinates themselves.")
    show_posterior = cols[2].toggle("Posterior", value=True, key="show_posterior",
                                    help="The selected image's q(z|x) as 1σ and 2σ ellipses, "
                                         "with a few reparameterised draws z = μ + σ·ε.")
    with cols[4]:
        widgets.share_link()
    can_tile = ws.latent_dim(kind) == 2
    show_manifold = cols[3].toggle("Decoder background", value=False, key="show_manifold", disabled=not can_tile,
                                   help="Tile the decoder's output over the map (latent size 2 only).")
    return kind, view, show_posterior, show_manifold and can_tile


def posterior_overlays(ws: Workspace, index: int, linear: bool) -> tuple[list[Overlay], np.ndarray, np.ndarray]:
    """Ellipses of q(z|x) and reparameterised draws, in the map's coordinates."""
    encoding = ws.encodings["vae"]
    mu, sigma = encoding.mu[index], encoding.sigma[index]
    eps, z = reparameterized_draws(mu, sigma, POSTERIOR_DRAWS, seed=index)
    if not linear:
        return [], eps, z
    projection = ws.projections["vae"]
    overlays = []
    for n, dash in ((1, "solid"), (2, "dash")):
        outline = posterior_ellipse(mu, sigma, projection, n)
        overlays.append(Overlay(outline[:, 0], outline[:, 1], f"q(z|x) {n}σ", colour="#D62728", dash=dash))
    drawn = projection(z)
    hover = [f"ε = ({', '.join(f'{e:+.2f}' for e in row[:4])}{', …' if len(row) > 4 else ''})" for row in eps]
    overlays.append(Overlay(drawn[:, 0], drawn[:, 1], "z = μ + σ·ε", colour="#D62728", mode="markers",
                            size=9, symbol="diamond", hover=hover))
    return overlays, eps, z


def draw_map(ws: Workspace, kind: str, view: str, show_posterior: bool, show_manifold: bool) -> np.ndarray | None:
    index = session.selected_index()
    linear = view != "t-SNE"
    if linear:
        points = ws.map_points[kind]
    else:
        with st.spinner(f"Computing the t-SNE of {len(ws):,} codes (once per model; it can take a minute)…"):
            points = ws.tsne(kind)
    extent = map_extent(points) if linear else map_extent(points, min_half_width=0)
    overlays: list[Overlay] = []
    draws = None
    if index is not None and show_posterior and kind == "vae":
        overlays, eps, z = posterior_overlays(ws, index, linear)
        draws = (eps, z)
    decoded_at = st.session_state.get(DECODED_AT)
    if decoded_at is not None and view == "z":
        overlays.append(Overlay(np.array([decoded_at[0]]), np.array([decoded_at[1]]), "decoded location",
                                colour="#2CA02C", mode="markers", size=13, symbol="x"))
    spec = MapSpec(
        points=points, labels=ws.labels, class_names=ws.class_names,
        axis_titles=("t-SNE 1", "t-SNE 2") if not linear else ws.projections[kind].axis_titles,
        selected=index, overlays=overlays, equal_axes=linear,
        clickable_grid=extent if view == "z" else None,
        background=(ws.manifold(*extent, n=24, kind=kind), *extent) if show_manifold else None)
    fig = latent_map(spec)
    fig.update_xaxes(range=extent[0])
    fig.update_yaxes(range=extent[1])
    st.plotly_chart(fig, key=MAP_KEY, on_select="rerun", selection_mode=("points", "box", "lasso"),
                    config={"scrollZoom": True, "displaylogo": False})
    if view == "t-SNE" and show_posterior:
        st.caption("t-SNE is non-linear, so posteriors cannot be drawn in it; switch to PCA to see them.")
    return draws


def inspect_header(ws: Workspace, index: int) -> None:
    """The quick part of the inspect panel, sent before the map (whose redraw blocks the browser a while)."""
    label = ws.class_names[ws.labels[index]]
    st.subheader(f"Image #{index} · {label}")
    pictures = [ws.image(index)] + [ws.reconstruction(k, index) for k in ws.kinds]
    captions = ["original"] + [f"{KIND_TITLES[k]} reconstruction" for k in ws.kinds]
    widgets.image_row(pictures, captions, size_px=112)
    if st.button("Open in editor", icon=":material/tune:", key="open_in_editor", type="primary",
                 help="Start the latent sliders from this image's code."):
        session.set_latent_vector(ws.encodings[ws.main_kind].mu[index])
        st.switch_page("app_pages/edit.py")


def inspect_details(ws: Workspace, index: int, draws) -> None:
    if ws.vae is None:
        st.info("This pair has no VAE, so there is no posterior to show.")
        return
    analysis = ws.analyse(index)
    c1, c2, c3 = st.columns(3)
    c1.metric("KL (nats)", f"{analysis.kl:.2f}", help="KL(q(z|x) ‖ p(z)), closed form")
    c2.metric("Recon. (nats)", f"{analysis.reconstruction_nll:.1f}",
              help="−E_q[log p(x|z)], averaged over posterior samples")
    c3.metric("ELBO (nats)", f"{analysis.elbo:.1f}", help="reconstruction term minus KL; a lower bound on log p(x)")
    posterior = pd.DataFrame({"μ": analysis.mu, "σ": analysis.sigma, "KL (nats)": analysis.kl_per_dim},
                             index=[f"z{i + 1}" for i in range(len(analysis.mu))])
    st.dataframe(posterior.style.format("{:.3f}"), width="stretch", height=min(38 + 35 * len(posterior), 250))
    if draws is not None:
        eps, z = draws
        st.markdown("**The reparameterisation trick, made visible:** z = μ + σ·ε with ε ~ N(0, I), decoded")
        widgets.image_row(ws.decode(z), ["ε=(" + ",".join(f"{v:+.1f}" for v in e[:2])
                                         + (",…" if len(e) > 2 else "") + ")" for e in eps], size_px=64, per_row=4)
    neighbours, distances = ws.neighbours(index, k=8)
    st.markdown("**Nearest neighbours in latent space** (distance between μ's)")
    widgets.image_row([ws.image(i) for i in neighbours],
                      [f"#{i} · {d:.2f}" for i, d in zip(neighbours, distances)],
                      size_px=64, per_row=4)
    neighbour_choice = st.selectbox("Inspect a neighbour", [None, *neighbours.tolist()], key="neighbour_pick",
                                    format_func=lambda i: "—" if i is None else f"#{i}")
    if neighbour_choice is not None:
        session.select(int(neighbour_choice))
        st.session_state.pop("neighbour_pick")
        st.rerun(scope="fragment")
    math_panel(analysis)


def math_panel(analysis) -> None:
    with st.expander("The mathematics of this point", expanded=False):
        st.markdown("The evidence lower bound splits into a reconstruction term and a KL term:")
        st.latex(r"\log p(x) \;\ge\; \mathrm{ELBO}(x) = \mathbb{E}_{q(z|x)}[\log p(x|z)] - "
                 r"\mathrm{KL}\big(q(z|x)\,\|\,p(z)\big)")
        st.latex(rf"{analysis.elbo:.2f} = {-analysis.reconstruction_nll:.2f} - {analysis.kl:.2f}"
                 r"\quad\text{nats}")
        st.markdown("With q(z|x) = N(μ, diag σ²) and p(z) = N(0, I) the KL has a closed form, one term per dimension:")
        terms = " + ".join(
            rf"\tfrac12({m:.2f}^2 + {s:.2f}^2 - \ln {s:.2f}^2 - 1)"
            for m, s in list(zip(analysis.mu, analysis.sigma))[:3])
        more = r" + \dots" if len(analysis.mu) > 3 else ""
        st.latex(r"\mathrm{KL} = \tfrac12\sum_i(\mu_i^2+\sigma_i^2-\ln\sigma_i^2-1) = " + terms + more
                 + rf" = {analysis.kl:.3f}")
        st.plotly_chart(bar_chart(analysis.kl_per_dim, "KL per latent dimension", "nats"), key="kl_bars")
        st.markdown(f"An importance-weighted estimate with K = {analysis.samples} samples tightens the bound "
                    "towards log p(x); the gap is the KL from q(z|x) to the true posterior p(z|x):")
        st.latex(rf"\log p(x) \approx \log \tfrac1K\sum_k \frac{{p(x|z_k)\,p(z_k)}}{{q(z_k|x)}} = "
                 rf"{analysis.log_px:.2f} \;\ge\; \mathrm{{ELBO}} = {analysis.elbo:.2f}"
                 rf"\quad(\text{{gap}} \approx {analysis.log_px - analysis.elbo:.2f})")
        st.caption("The reconstruction term and the estimate use Monte Carlo samples of z, "
                   "so their last digits move a little with the seed.")


def decoded_location_panel(ws: Workspace, kind: str) -> None:
    x, y = st.session_state[DECODED_AT]
    st.subheader(f"Decoded at z = ({x:.2f}, {y:.2f})")
    widgets.image(ws.decode(np.array([x, y]), kind)[0], caption=f"{KIND_TITLES[kind]} decoder", size_px=200)
    if st.button("Open this z in the editor", icon=":material/tune:", key="open_location"):
        session.set_latent_vector(np.array([x, y]))
        st.switch_page("app_pages/edit.py")


def selection_panel(ws: Workspace, indices: np.ndarray) -> None:
    st.subheader(f"Selection: {len(indices)} images")
    if not len(indices):
        st.caption("The box or lasso caught no data points.")
        return
    counts, mean_image = ws.selection_summary(indices)
    c1, c2 = st.columns([1, 2])
    with c1:
        widgets.image(mean_image, caption="mean image of the selection", size_px=140)
    with c2:
        st.plotly_chart(bar_chart(counts, "", "images", labels=list(ws.class_names), height=220),
                        key="selection_counts")


@st.fragment
def explorer(ws: Workspace) -> None:
    read_map_event()
    kind, view, show_posterior, show_manifold = map_controls(ws)
    left, right = st.columns([3, 2], gap="medium")
    index = session.selected_index()
    # Emission order matters for latency: the panel's heading and images first, then the map (the
    # browser's redraw of 10k WebGL points holds up whatever comes after it), then the slower details.
    with right:
        if st.session_state.get(DECODED_AT) is not None and view == "z":
            decoded_location_panel(ws, kind)
        if index is not None:
            inspect_header(ws, index)
        details = st.container()
    with left:
        draws = draw_map(ws, kind, view, show_posterior, show_manifold)
        selection = st.session_state.get(SELECTION)
        if selection is not None:
            selection_panel(ws, selection)
    with details:
        if index is not None:
            inspect_details(ws, index, draws)
        elif st.session_state.get(DECODED_AT) is None:
            st.info("Click a point to inspect it"
                    + (", or empty space to decode that location" if view == "z" else "")
                    + ". Drag a box or lasso (toolbar) to summarise a region.", icon=":material/touch_app:")
    session.sync_url()


workspace = session.active_workspace()
st.title("Explore the latent space")
st.caption(f"{workspace.label}: each dot is a held-out image at its encoder mean μ(x), coloured by class.")
explorer(workspace)
