"""Decodes for a decoder the browser cannot run, answered over plain HTTP beside Streamlit's websocket.

A slider step or a resting cursor over such a model needs one image decoded on the server. Asked through
Streamlit, the answer waited for a script run to start, for its deltas and for the page's next render: 72 ms
median for a step that decodes in about 1 ms (benchmarks/README.md, "A decoder the browser cannot run"). Here
the browser fetches the raw grey bytes itself and paints them when they come.

A page that shows such a model asks for its URL (`decode_url`), which names the model by a random token held
only as long as the model is: the route reaches no model a page has not shown, and a token of a model that
is gone, or of another server process, answers 404. The app's server (app.py, latent_explorer/server_app.py)
mounts `routes()`.
"""

from __future__ import annotations

import math
import secrets
import threading
import weakref
from typing import TYPE_CHECKING

import numpy as np
import streamlit as st
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from latent_explorer import serving

if TYPE_CHECKING:
    from vae_core.workspace import Workspace

PATH = "lx/decode"
# The editor's traversal strips: each row sweeps one dimension through these values while the others stay at z.
SWEEP = tuple(float(v) for v in np.linspace(-3.0, 3.0, 9))
TRAVERSAL_ROWS = 16
MAX_ABS_Z = 100.0  # far beyond any map or slider; a larger value is a malformed request, not a place to decode

_lock = threading.Lock()
_token_of: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_workspace_of: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


class DecodeRequestError(ValueError):
    """A request the route refuses: its message says why, its status is the HTTP one."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def token_for(ws: Workspace) -> str:
    """The workspace's token, made on first use and forgotten with the workspace."""
    with _lock:
        token = _token_of.get(ws)
        if token is None:
            token = secrets.token_urlsafe(18)
            _token_of[ws] = token
            _workspace_of[token] = ws
        return token


def _served_path(path: str) -> str:
    """The path under the app's base (Streamlit's server.baseUrlPath, as its own routes are)."""
    base = "/".join(part for part in st.get_option("server.baseUrlPath").split("/") if part)
    return f"/{base}/{path}" if base else f"/{path}"


def decode_url(ws: Workspace, kind: str) -> str:
    """Where the browser fetches this model's decodes: ``?z=v1,v2,…`` for the image at z, ``&traversal=1`` for
    the traversal strips after it."""
    return _served_path(f"{PATH}/{token_for(ws)}/{kind}")


def parsed_z(text: str, dim: int) -> np.ndarray:
    values = text.split(",") if text else []
    if len(values) != dim:
        raise DecodeRequestError(f"z needs {dim} comma-separated numbers; this one has {len(values)}")
    try:
        z = np.array([float(v) for v in values])
    except ValueError as err:
        raise DecodeRequestError(f"z holds something that is not a number: {text[:80]!r}") from err
    if not all(math.isfinite(v) and abs(v) <= MAX_ABS_Z for v in z):
        raise DecodeRequestError(f"every value of z must be a finite number within ±{MAX_ABS_Z:g}")
    return z


def decoded_bytes(token: str, kind: str, z_text: str, traversal: bool) -> bytes:
    """The grey bytes (tiles, H, W) of the decode at z, followed by the traversal strips when asked for."""
    with _lock:
        ws = _workspace_of.get(token)
    if ws is None:
        raise DecodeRequestError("this model is no longer open on this server: reload the page", status=404)
    if kind not in ws.pair.models():
        raise DecodeRequestError(f"this pair has no {kind!r} model", status=404)
    z = parsed_z(z_text, ws.latent_dim(kind))
    # Imported here: the server imports this module as it starts, before torch is wanted (vae_core.latent).
    from vae_core.images import to_uint8
    from vae_core.latent import traversal_grid

    codes = z[None, :]
    if traversal:
        codes = np.concatenate([codes, traversal_grid(z, np.array(SWEEP), min(len(z), TRAVERSAL_ROWS))])
    with serving.run_slot():  # a crowd's decodes take their turns with its runs, as a step through Streamlit did
        return to_uint8(ws.decode(codes, kind)).tobytes()


def answer(request: Request) -> Response:
    try:
        body = decoded_bytes(request.path_params["token"], request.path_params["kind"],
                             request.query_params.get("z", ""), request.query_params.get("traversal") == "1")
    except DecodeRequestError as err:
        return PlainTextResponse(str(err), status_code=err.status)
    # The same token and z decode to the same bytes for as long as the token lives: a slider moved back is
    # answered by the browser's cache.
    return Response(body, media_type="application/octet-stream", headers={"Cache-Control": "private, max-age=3600"})


def routes() -> list[Route]:
    """The route, for the app's st.App (built once Streamlit has read its settings)."""
    return [Route(_served_path(PATH + "/{token}/{kind}"), answer, methods=["GET"])]
