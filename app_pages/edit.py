"""Edit: one slider per latent dimension, the decoded image live, traversals and attribute directions."""

from __future__ import annotations

import numpy as np
import streamlit as st

from explorer import session, widgets
from explorer.figures import MapSpec, Overlay, latent_map, map_extent
from vae_core.images import tile
from vae_core.latent import attribute_direction, lerp, prior_samples
from vae_core.models import KIND_TITLES
from vae_core.workspace import Workspace

TRAVERSAL_STEPS = 9
SLIDER_STEP = 0.05
LIMIT = session.LATENT_LIMIT


def slider_key(i: int) -> str:
    return f"latent_slider_{i}"


def load_sliders(z: np.ndarray) -> None:
    """Write z into the sliders' state (before they are drawn) and remember it as the view's vector."""
    z = np.clip(np.round(np.asarray(z, dtype=float) / SLIDER_STEP) * SLIDER_STEP, -LIMIT, LIMIT)
    for i, value in enumerate(z):
        st.session_state[slider_key(i)] = float(value)
    session.set_latent_vector(z)


def slider_values(latent_dim: int) -> np.ndarray:
    return np.array([st.session_state[slider_key(i)] for i in range(latent_dim)])


def start_point(ws: Workspace) -> np.ndarray:
    index = session.selected_index()
    return ws.encodings[ws.main_kind].mu[index] if index is not None else np.zeros(ws.latent_dim())


def sync_sliders_with_view(ws: Workspace) -> None:
    """Sliders follow the view's vector when it was set elsewhere (the map, a link, a new model)."""
    z = session.latent_vector()
    if any(slider_key(i) not in st.session_state for i in range(len(z))) \
            or not np.allclose(slider_values(len(z)), np.clip(z, -LIMIT, LIMIT), atol=SLIDER_STEP / 2 + 1e-9):
        load_sliders(z)


def on_slider_change(latent_dim: int) -> None:
    session.set_latent_vector(slider_values(latent_dim))


def reset(ws: Workspace) -> None:
    load_sliders(start_point(ws))


def random_draw(ws: Workspace) -> None:
    seed = int(np.random.default_rng().integers(2**31))
    load_sliders(prior_samples(1, ws.latent_dim(), seed)[0])


@st.fragment
def slider_editor(ws: Workspace) -> None:
    """Only this fragment reruns when a slider moves: sliders, decoded image and traversals."""
    d = ws.latent_dim()
    kind = ws.main_kind
    left, right = st.columns([1, 1], gap="large")
    with left:
        b1, b2, b3 = st.columns([1, 1.4, 1.2])
        b1.button("Reset", icon=":material/restart_alt:", key="editor_reset", on_click=reset, args=(ws,),
                  help="Back to the selected image's μ (or the prior mean 0 when none is selected).")
        b2.button("Random draw", icon=":material/casino:", key="editor_random", on_click=random_draw, args=(ws,),
                  help="A fresh z ~ N(0, I).")
        with b3:
            widgets.share_link()
        slider_area = st.container(height=min(80 + 62 * d, 520), border=False)
        for i in range(d):
            slider_area.slider(f"z{i + 1}", -LIMIT, LIMIT, step=SLIDER_STEP, key=slider_key(i),
                               on_change=on_slider_change, args=(d,),
                               help="Most of N(0, 1) lies within ±2; beyond that the decoder extrapolates.")
    z = slider_values(d)
    with right:
        widgets.image(ws.decode(z, kind)[0], caption=f"{KIND_TITLES[kind]} decoder at z = ("
                      + ", ".join(f"{v:+.2f}" for v in z[:6]) + (", …" if d > 6 else "") + ")", size_px=300)
        prior_density = float(np.exp(-0.5 * np.dot(z, z)))
        st.caption(f"‖z‖ = {np.linalg.norm(z):.2f}; the prior density here is {prior_density:.3g} × its peak.")
    st.markdown("**Traversals**: each row sweeps one dimension from −3 to +3 while the others stay at z.")
    sweep = np.linspace(-3.0, 3.0, TRAVERSAL_STEPS)
    shown = min(d, 16)
    grid = np.repeat(z[None, :], shown * TRAVERSAL_STEPS, axis=0)
    for i in range(shown):
        grid[i * TRAVERSAL_STEPS:(i + 1) * TRAVERSAL_STEPS, i] = sweep
    mosaic = tile(ws.decode(grid, kind), columns=TRAVERSAL_STEPS, padding=1)
    widgets.image(mosaic, caption=f"rows z1…z{shown}, columns " + ", ".join(f"{s:+.1f}" for s in sweep),
                  size_px=720)
    session.sync_url()


@st.fragment
def attribute_editor(ws: Workspace) -> None:
    st.subheader("Attribute direction")
    st.caption("The difference of two class means of μ is a direction in latent space. Moving the editor's z along "
               "it turns one class into the other; going past 1 extrapolates beyond the average change.")
    names = list(ws.class_names)
    c1, c2, c3 = st.columns([1, 1, 2])
    class_a = c1.selectbox("From class", range(len(names)), format_func=names.__getitem__, key="attr_from")
    class_b = c2.selectbox("To class", range(len(names)), index=min(1, len(names) - 1),
                           format_func=names.__getitem__, key="attr_to")
    amount = c3.slider("Amount along the direction", -1.0, 2.5, 1.0, step=0.1, key="attr_amount")
    if class_a == class_b:
        st.info("Choose two different classes.")
        return
    kind = ws.main_kind
    direction = attribute_direction(ws.encodings[kind].mu, ws.labels, class_a, class_b)
    base = session.latent_vector()
    amounts = np.linspace(-1.0, 2.5, 8)
    strip = ws.decode(base + amounts[:, None] * direction, kind)
    widgets.image_row(strip, [f"{a:+.1f}" for a in amounts], size_px=72)
    moved = base + amount * direction
    left, right = st.columns([1, 2])
    with left:
        widgets.image(ws.decode(moved, kind)[0], caption=f"z + {amount:+.1f} · (μ̄_{names[class_b]} − "
                      f"μ̄_{names[class_a]})", size_px=200)
        if st.button("Use as the editor's z", key="attr_apply"):
            session.set_latent_vector(moved)
            st.rerun()
    with right:
        projection = ws.projections[kind]
        path = projection(lerp(base - direction, base + 2.5 * direction, 2))
        here = projection(moved)
        spec = MapSpec(points=ws.map_points[kind], labels=ws.labels, class_names=ws.class_names,
                       axis_titles=projection.axis_titles, height=340, overlays=[
                           Overlay(path[:, 0], path[:, 1], "direction", colour="#111111", dash="dot"),
                           Overlay(here[:, 0], here[:, 1], "moved z", colour="#D62728", mode="markers", size=14,
                                   symbol="star")])
        fig = latent_map(spec)
        extent = map_extent(np.vstack([ws.map_points[kind], path]))
        fig.update_xaxes(range=extent[0])
        fig.update_yaxes(range=extent[1])
        st.plotly_chart(fig, key="attr_map")


workspace = session.active_workspace()
st.title("Edit latent features")
index = session.selected_index()
st.caption(f"{workspace.label}. Starting from "
           + (f"image #{index} ({workspace.class_names[workspace.labels[index]]})" if index is not None
              else "the prior mean z = 0 (select a point on the Explore page to start from its code)") + ".")
sync_sliders_with_view(workspace)
slider_editor(workspace)
st.divider()
attribute_editor(workspace)
