"""latent_explorer.decode_route: the HTTP route a page's components fetch a server decoder's images from."""

from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from latent_explorer import decode_route
from vae_core import load_dataset
from vae_core.images import to_uint8
from vae_core.latent import traversal_grid
from vae_core.models import ModelConfig, ModelPair
from vae_core.training import new_model
from vae_core.workspace import Workspace

REPO_ROOT = Path(__file__).resolve().parents[2]


def small_workspace(latent_dim: int = 3) -> Workspace:
    models = {kind: new_model(ModelConfig(kind=kind, input_shape=(1, 8, 8), hidden_dim=16, latent_dim=latent_dim),
                              seed=0) for kind in ("ae", "vae")}
    return Workspace(ModelPair(ae=models["ae"], vae=models["vae"], dataset="digits"), load_dataset("digits"),
                     label="route test")


@pytest.fixture(scope="module")
def client():
    return TestClient(Starlette(routes=decode_route.routes()))


def test_the_route_answers_the_workspaces_decode_and_strips(client):
    ws = small_workspace()
    url = decode_route.decode_url(ws, "vae")
    z = np.array([0.5, -1.25, 2.0])
    response = client.get(url, params={"z": "0.5,-1.25,2"})
    assert response.status_code == 200 and response.headers["content-type"] == "application/octet-stream"
    assert "max-age" in response.headers["cache-control"]
    assert response.content == to_uint8(ws.decode(z, "vae")).tobytes()
    with_strips = client.get(url, params={"z": "0.5,-1.25,2", "traversal": "1"}).content
    strips = traversal_grid(z, np.array(decode_route.SWEEP), 3)
    assert with_strips == to_uint8(ws.decode(np.concatenate([z[None], strips]), "vae")).tobytes()
    # One token per workspace, whatever the kind.
    assert decode_route.decode_url(ws, "ae").rsplit("/", 2)[1] == url.rsplit("/", 2)[1]
    assert client.get(decode_route.decode_url(ws, "ae"), params={"z": "0,0,0"}).content == \
        to_uint8(ws.decode(np.zeros(3), "ae")).tobytes()


@pytest.mark.parametrize("z, says", [
    ("0.5,1", "needs 3"), ("", "needs 3"), ("0.5,1,2,3", "needs 3"), ("0.5,one,2", "not a number"),
    ("0.5,nan,2", "finite"), ("0.5,inf,2", "finite"), ("0.5,1e9,2", "within"),
])
def test_a_malformed_z_is_refused_with_a_reason(client, z, says):
    ws = small_workspace()
    response = client.get(decode_route.decode_url(ws, "vae"), params={"z": z})
    assert response.status_code == 400 and says in response.text


def test_only_a_model_a_page_has_shown_is_reached(client):
    ws = small_workspace()
    url = decode_route.decode_url(ws, "vae")
    unknown = client.get(url.rsplit("/", 2)[0] + "/not-a-token/vae", params={"z": "0,0,0"})
    assert unknown.status_code == 404 and "reload the page" in unknown.text
    assert client.get(url.rsplit("/", 1)[0] + "/gan", params={"z": "0,0,0"}).status_code == 404
    # The route holds no model alive: once the workspace is gone, so is its token.
    del ws
    gc.collect()
    assert client.get(url, params={"z": "0,0,0"}).status_code == 404


def test_the_apps_servers_mount_the_route():
    """app.py (a checkout) and server_app.py (the package's command) are st.Apps that `streamlit run` finds."""
    from streamlit.web.server.app_discovery import discover_asgi_app

    for script in (REPO_ROOT / "app.py", REPO_ROOT / "latent_explorer" / "server_app.py"):
        assert discover_asgi_app(script).is_asgi_app, script
    # Built in a process of its own: an App pins Streamlit's script settings for the process it is made in.
    listing = subprocess.run(
        [sys.executable, "-c", "import app; print([r.path for r in app.app._user_routes])"], cwd=REPO_ROOT,
        capture_output=True, text=True, check=True).stdout
    assert f"/{decode_route.PATH}/{{token}}/{{kind}}" in listing
