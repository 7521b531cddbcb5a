"""Your own picture on the Explore page: uploaded or drawn, encoded by both models, placed on the map.

The picture and its codes live in this browser session's state only. The map shows it as a star, the
inspect card shows it like a held-out image (its reconstructions, draws and neighbours), and the
numbers under the card are computed for it on demand.
"""

from __future__ import annotations

import base64
import hashlib
import weakref
from dataclasses import dataclass, field

import numpy as np
import streamlit as st

from vae_core.image_sources import ImageSourceError, like_the_dataset, read_image
from vae_core.latent import Encoding, PointAnalysis, analyse_point, point_log_px
from vae_core.workspace import Workspace

from . import components, events, session
from .contract import PadData, ProbeData

PROBE = "explore_probe"
ACTIVE = "explore_probe_active"  # the card shows the picture (else a point or a location)
UPLOAD_KEY = "probe_upload"
UPLOAD_ERROR = "probe_upload_error"
BACKGROUND_KEY = "probe_background"
PAD_KEY = "probe_pad"
BACKGROUNDS = {"auto": "Auto", "light": "Light: invert", "dark": "Dark: as is"}
MAX_UPLOAD_MB = 32  # a phone or camera photo: a 50-megapixel JPEG is 10 to 25 MB


@dataclass
class Probe:
    """A picture from elsewhere, as the models see it: (C, H, W) in [0, 1], and each model's code of it."""

    id: str
    name: str
    image: np.ndarray
    codes: dict[str, Encoding]
    # The workspace whose models encoded it; weak, so a pair the session lets go is not kept alive by it, and
    # a later workspace can never pass for it (as one at the same id() could).
    workspace: weakref.ref
    costly: dict = field(default_factory=dict)  # the analysis and log p(x), computed when first shown

    def to_data(self) -> ProbeData:
        sigma = self.codes["vae"].sigma[0].tolist() if "vae" in self.codes else None
        return ProbeData(id=self.id, name=self.name, active=bool(st.session_state.get(ACTIVE)),
                         mu={kind: encoding.mu[0].tolist() for kind, encoding in self.codes.items()}, sigma=sigma)

    def code(self, kind: str) -> np.ndarray:
        return self.codes[kind].mu[0]

    def analysis(self, ws: Workspace) -> PointAnalysis:
        if "analysis" not in self.costly:
            self.costly["analysis"] = analyse_point(ws.vae, self._tensor(), ws.loss("vae"))
        return self.costly["analysis"]

    def log_px(self, ws: Workspace) -> float:
        if "log_px" not in self.costly:
            self.costly["log_px"] = point_log_px(ws.vae, self._tensor(), ws.loss("vae"))
        return self.costly["log_px"]

    def _tensor(self):
        import torch

        return torch.as_tensor(self.image, dtype=torch.float32)


def current(ws: Workspace) -> Probe | None:
    """This session's picture, if the active models encoded it (another pair means another encoding)."""
    probe = st.session_state.get(PROBE)
    return probe if probe is not None and probe.workspace() is ws else None


def map_data(ws: Workspace) -> ProbeData | None:
    """What the map and the card draw of this session's picture, if the active models encoded it."""
    probe = current(ws)
    return None if probe is None else probe.to_data()


def showing(ws: Workspace) -> Probe | None:
    """The picture when the inspect card shows it."""
    probe = current(ws)
    return probe if probe is not None and st.session_state.get(ACTIVE) else None


def adopt(ws: Workspace, image: np.ndarray, name: str) -> None:
    """Encode the picture with both models and show it."""
    digest = hashlib.sha256(image.tobytes()).hexdigest()[:16]
    st.session_state[PROBE] = Probe(id=digest, name=name, image=image, codes=ws.encode(image),
                                     workspace=weakref.ref(ws))
    show()


def show() -> None:
    st.session_state[ACTIVE] = True
    session.select(None)


def hide() -> None:
    st.session_state[ACTIVE] = False


def forget() -> None:
    st.session_state.pop(PROBE, None)
    hide()


def on_drawing(ws: Workspace) -> None:
    """A stroke finished on the pad: its pixels at the model's size, white on black like the datasets."""
    channels, height, width = ws.dataset.image_shape
    event = events.drawing(st.session_state[PAD_KEY]["drawing"], height * width)
    if event is None:
        return
    grey = np.frombuffer(base64.b64decode(event.pixels), np.uint8).reshape(1, height, width).astype(np.float32) / 255.0
    adopt(ws, np.repeat(grey, channels, axis=0), "Your drawing")


def section(ws: Workspace) -> None:
    """Upload or draw a picture; it is encoded as soon as it is here (in callbacks, before the map is drawn)."""
    with st.expander("Encode your own image", icon=":material/add_photo_alternate:",
                     expanded=current(ws) is not None or UPLOAD_ERROR in st.session_state):
        upload_tab, draw_tab = st.tabs(["Upload a picture", "Draw"])
        with upload_tab:
            st.file_uploader("A PNG or JPEG", type=["png", "jpg", "jpeg"], key=UPLOAD_KEY,
                             max_upload_size=MAX_UPLOAD_MB, on_change=encode_upload, args=(ws,),
                             help="Cropped to a square, resized to the models' image size, in grey.")
            st.segmented_control(
                "Its background", list(BACKGROUNDS), default="auto", format_func=BACKGROUNDS.get,
                key=BACKGROUND_KEY, on_change=encode_upload, args=(ws,),
                help="The images here are light shapes on a dark background; a picture on a light background is "
                     "inverted to match. Auto decides from the picture's border.")
            if UPLOAD_ERROR in st.session_state:
                st.error(f"That picture cannot be used: {st.session_state[UPLOAD_ERROR]}. Nothing changed.")
        with draw_tab:
            components.drawing_pad(PadData(size=list(ws.dataset.image_shape[1:])), key=PAD_KEY,
                                   on_drawing_change=lambda: on_drawing(ws))
        if current(ws) is not None:
            st.button("Forget my image", key="probe_forget", on_click=forget, icon=":material/delete:")


def encode_upload(ws: Workspace) -> None:
    """The uploaded picture, or its background choice, changed: encode it (a bad file gets a message)."""
    st.session_state.pop(UPLOAD_ERROR, None)
    upload = st.session_state.get(UPLOAD_KEY)
    if upload is None:
        return
    try:
        image = read_image(upload.getvalue(), upload.name[:60], ws.dataset.image_shape)
    except ImageSourceError as err:
        st.session_state[UPLOAD_ERROR] = str(err)
        return
    adopt(ws, like_the_dataset(image, st.session_state.get(BACKGROUND_KEY) or "auto"), upload.name[:60])
