"""Edit: sliders and a 2-d pad over the latent vector, decoded in the browser while they move; traversal
strips; attribute directions from one class to another."""

from __future__ import annotations

import numpy as np
import streamlit as st

from latent_explorer import components, decode_route, events, page_maps, session, widgets
from latent_explorer.contract import EditorData
from latent_explorer.figures import CLASS_COLOURS, HIGHLIGHT_COLOUR, map_extent
from latent_explorer.pack import browser_decodes, workspace_pack
from vae_core.latent import MAX_SEED, attribute_direction, lerp, prior_samples
from vae_core.models import KIND_TITLES
from vae_core.workspace import Workspace

EDITOR_KEY = "latent_editor"
EDITOR_ACK = "latent_editor_ack"
SLIDER_STEP = 0.05
LIMIT = session.LATENT_LIMIT


def snapped(z: np.ndarray) -> np.ndarray:
    """z on the sliders' grid, as the editor shows and decodes it."""
    return np.clip(np.round(np.asarray(z, dtype=float) / SLIDER_STEP) * SLIDER_STEP, -LIMIT, LIMIT)


def on_z(ws: Workspace) -> None:
    payload = st.session_state[EDITOR_KEY]["z"]
    st.session_state[EDITOR_ACK] = events.sequence(payload)
    event = events.editor_z(payload, ws.latent_dim(), LIMIT)
    if event is not None:
        session.set_latent_vector(np.array(event.z), from_editor=True)


def random_draw(ws: Workspace) -> None:
    seed = int(np.random.default_rng().integers(MAX_SEED))
    session.set_latent_vector(snapped(prior_samples(1, ws.latent_dim(), seed)[0]))


@st.fragment
def slider_editor(ws: Workspace) -> None:
    """The editor decodes in the browser; this fragment reruns only when a slider or the pad is let go."""
    kind = ws.main_kind
    # A row that wraps rather than columns that cut: each button keeps its whole label at 1024 px.
    buttons = st.container(horizontal=True)
    buttons.button("Reset", icon=":material/restart_alt:", key="editor_reset", on_click=session.set_latent_vector,
                   args=(None,), help="Back to the selected image's μ (or the prior mean 0 when none is selected).")
    buttons.button("Random draw", icon=":material/casino:", key="editor_random", on_click=random_draw, args=(ws,),
                   help="A fresh z ~ N(0, I).")
    with buttons:
        widgets.share_link()
    z = snapped(session.latent_vector())
    data = EditorData(
        pack=workspace_pack(ws).id, kind=kind, z=z.tolist(), z_version=session.latent_version(), limit=LIMIT,
        step=SLIDER_STEP, sweep=list(decode_route.SWEEP),
        traversal_rows=decode_route.TRAVERSAL_ROWS, title=f"{KIND_TITLES[kind]} decoder",
        colours=list(CLASS_COLOURS), ack=st.session_state.get(EDITOR_ACK, 0),
        decode_url=None if browser_decodes(ws, kind) else decode_route.decode_url(ws, kind))
    components.latent_editor(data, key=EDITOR_KEY, on_z_change=lambda: on_z(ws))
    session.sync_url()


def use_as_editor_z(moved: np.ndarray) -> None:
    """The moved z becomes the editor's; the amount goes back to 0, since this section starts from the editor's z
    and would otherwise add the direction to it once more."""
    session.set_latent_vector(moved)
    st.session_state["attr_amount"] = 0.0


def along(amount: float, direction: str) -> str:
    """The editor's z moved by ``amount`` along ``direction``, as the captions write it: "z − 0.5 · d"."""
    if round(amount, 1) == 0:
        return "z"
    return f"z {'+' if amount > 0 else '−'} {abs(amount):.1f} · {direction}"


@st.fragment
def attribute_editor(ws: Workspace) -> None:
    st.subheader("Attribute direction")
    st.caption("The difference of two class means of μ, d = μ̄(To) − μ̄(From), is a direction in latent space. The "
               "strip and the image below start from the editor's z (above) and move it along d: at 1 it has gained "
               "the average change from one class to the other, past 1 it extrapolates beyond it.")
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
    widgets.image_row(strip, [along(a, "d") for a in amounts], size_px=72,
                      alts=[f"Decoded at the editor's {along(a, 'd')}, d from {names[class_a]} to {names[class_b]}"
                            for a in amounts])
    moved = base + amount * direction
    left, right = st.columns([1, 2])
    with left:
        widgets.image(ws.decode(moved, kind)[0],
                      caption=along(amount, f"(μ̄_{names[class_b]} − μ̄_{names[class_a]})"), size_px=200)
        if st.button("Use as the editor's z", key="attr_apply", on_click=use_as_editor_z, args=(moved,)):
            st.rerun()  # the whole page: the editor above shows the new z
    with right:
        projection = ws.projections[kind]
        path = projection(lerp(base - direction, base + 2.5 * direction, 2))
        here = projection(moved)
        page_maps.draw(page_maps.page_map(
            ws, kind, "attr_map", map_extent(ws.map_points[kind], must_show=np.vstack([path, here])), height=340,
            overlays=[page_maps.Overlay("direction", path, colour="#111111", dash="dot"),
                      page_maps.Overlay("moved z", here, colour=HIGHLIGHT_COLOUR, mode="markers", size=14,
                                        symbol="star")]),
            key="attr_map")


def main() -> None:
    ws = session.active_workspace()
    st.title("Edit latent features")
    index = session.selected_index()
    st.caption(f"{ws.label}. Starting from "
               + (f"{'image' if ws.is_held_out(index) else 'training image'} #{index} "
                  f"({ws.class_names[ws.class_of(index)]})" if index is not None
                  else "the prior mean z = 0 (select a point on the Explore page to start from its code)") + ".")
    components.send_pack(workspace_pack(ws))
    slider_editor(ws)
    st.divider()
    attribute_editor(ws)


main()
