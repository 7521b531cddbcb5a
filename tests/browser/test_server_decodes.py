"""A decoder the browser cannot run, in Chromium: the editor's slider steps and the map's lens fetch their
decodes from the app's route (latent_explorer/decode_route.py), and what they paint is the model's decode.

The server runs with the browser's decoder off (LATENT_EXPLORER_BROWSER_DECODER=off), so the shipped digits
pair decodes on the server as an imported model with an operation the browser lacks would.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from devtools.browser import (
    LANDING_ON_DIGITS,
    MAP_JS,
    REPO_ROOT,
    StreamlitServer,
    component_host_js,
    editor_slider,
    server_tracebacks,
    wait_for_app,
    wait_for_map,
)
from vae_core import load_checkpoint
from vae_core.images import to_uint8
from vae_core.latent import decode_latents, traversal_grid

EDITOR_JS = component_host_js("latent_editor")
# The grey level of every pixel of a canvas (its red channel), row by row.
CANVAS_GREYS = "(canvas) => Array.from(canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data)" \
               ".filter((_, i) => i % 4 === 0)"


@pytest.fixture(scope="module")
def server():
    server = StreamlitServer("app.py", log_path=REPO_ROOT / "test-artifacts" / "streamlit-server-decodes.log",
                             env={**LANDING_ON_DIGITS, "LATENT_EXPLORER_BROWSER_DECODER": "off"}).start()
    try:
        server.wait_healthy()
        yield server
    finally:
        server.stop()
    assert not server_tracebacks(server.log_path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def vae():
    return load_checkpoint(REPO_ROOT / "latent_explorer" / "assets" / "digits-latent2.pt").vae


def decoded(vae, z) -> np.ndarray:
    return to_uint8(decode_latents(vae, np.atleast_2d(np.asarray(z, dtype=float))))


def route_responses(page) -> list:
    responses = []
    page.on("response", lambda r: responses.append(r) if "/lx/decode/" in r.url else None)
    return responses


def test_the_editor_steps_with_the_servers_decodes(server, page, vae):
    responses = route_responses(page)
    page.goto(f"{server.url}/edit?model=digits&z=0,0", wait_until="domcontentloaded")
    wait_for_app(page, page.get_by_role("heading", name="Edit latent features"))
    page.wait_for_function(f"() => {EDITOR_JS}.dataset.z === '0.00,0.00'", timeout=60_000)
    editor_slider(page, "z1").focus()
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    page.wait_for_function(f"() => {EDITOR_JS}.dataset.z === '0.15,0.00'", timeout=30_000)
    caption = page.locator(".st-key-latent_editor .le-caption").first
    assert "decoded on the server" in caption.text_content()
    image = page.locator(".st-key-latent_editor canvas.le-image")
    np.testing.assert_allclose(image.evaluate(CANVAS_GREYS), decoded(vae, [0.15, 0.0]).ravel(), atol=1)
    # Let go, the strips follow: row r sweeps z_r through -3…3, each tile behind a 1-pixel gutter.
    strips = page.locator(".st-key-latent_editor canvas.le-traversal")
    page.wait_for_function("(c) => c.width === 9 * 9 + 1 && c.height === 2 * 9 + 1", arg=strips.element_handle(),
                           timeout=30_000)
    page.wait_for_function(f"(c) => ({CANVAS_GREYS})(c).some((v) => v < 255)", arg=strips.element_handle(),
                           timeout=30_000)
    greys = np.array(strips.evaluate(CANVAS_GREYS)).reshape(19, 82)
    tiles = decoded(vae, traversal_grid(np.array([0.15, 0.0]), np.linspace(-3, 3, 9), 2)).reshape(2, 9, 8, 8)
    for row in range(2):
        for column in range(9):
            top, left = 1 + row * 9, 1 + column * 9
            np.testing.assert_allclose(greys[top:top + 8, left:left + 8], tiles[row, column], atol=1)
    assert responses and all(r.status == 200 for r in responses), [(r.url, r.status) for r in responses]
    # The z reached the server too: the link carries it.
    page.wait_for_function("() => new URL(window.location.href).searchParams.get('z') === '0.150,0.000'",
                           timeout=30_000)


def test_the_lens_decodes_on_the_server_under_the_cursor(server, page, vae):
    responses = route_responses(page)
    page.goto(f"{server.url}/?model=digits", wait_until="domcontentloaded")
    wait_for_app(page, page.get_by_role("heading", name="Explore the latent space"))
    wait_for_map(page)
    box = page.evaluate(f"() => {{ const b = {MAP_JS}.overlay.getBoundingClientRect(); "
                        "return [b.left, b.top, b.width, b.height]; }")
    page.mouse.move(box[0] + box[2] * 0.4, box[1] + box[3] * 0.45)
    page.mouse.move(box[0] + box[2] * 0.6, box[1] + box[3] * 0.55, steps=5)
    page.wait_for_function(f"() => /decoded on the server/.test({MAP_JS}.lensCaption.textContent)", timeout=30_000)
    # The hand has stopped: the last answer is for the spot under it, and its picture is the decode there.
    page.wait_for_timeout(500)
    spot = page.evaluate(f"() => {MAP_JS}.toData({box[2] * 0.6}, {box[3] * 0.55})")
    answered = page.evaluate(f"() => {MAP_JS}.lensView.serverDecodes.delivered.z")
    np.testing.assert_allclose(answered, spot, atol=0.02)
    caption = page.evaluate(f"() => {MAP_JS}.lensCaption.textContent")
    shown = [float(v) for v in re.search(r"z = \(([-+\d.]+), ([-+\d.]+)\)", caption).groups()]
    np.testing.assert_allclose(shown, answered, atol=0.005 + 1e-9)
    assert page.evaluate(f"() => {MAP_JS}.lens.width") == 8
    greys = page.evaluate(f"() => ({CANVAS_GREYS})({MAP_JS}.lens)")
    np.testing.assert_allclose(greys, decoded(vae, answered).ravel(), atol=1)  # one thread there, several here
    assert responses and all(r.status == 200 for r in responses)


def test_the_lens_ends_on_the_spot_the_hand_ends_on(server, page):
    """Back to a spot already shown while the answer for another is on its way: that answer must not stay."""
    page.goto(f"{server.url}/?model=digits", wait_until="domcontentloaded")
    wait_for_app(page, page.get_by_role("heading", name="Explore the latent space"))
    wait_for_map(page)
    box = page.evaluate(f"() => {{ const b = {MAP_JS}.overlay.getBoundingClientRect(); "
                        "return [b.left, b.top, b.width, b.height]; }")
    here, there = (box[0] + box[2] * 0.4, box[1] + box[3] * 0.4), (box[0] + box[2] * 0.6, box[1] + box[3] * 0.6)
    delivered = f"() => {{ const d = {MAP_JS}.lensView.serverDecodes?.delivered; return d ? d.key : null; }}"
    page.mouse.move(*here)
    page.wait_for_function(f"() => /decoded on the server/.test({MAP_JS}.lensCaption.textContent)", timeout=30_000)
    page.wait_for_timeout(300)
    here_key = page.evaluate(delivered)
    # The server answers slowly from now on: the request for `there` is still out when the hand comes back.
    page.evaluate("""() => { const fetchNow = window.fetch;
        window.fetch = (...args) => new Promise((r) => setTimeout(r, 400)).then(() => fetchNow(...args)); }""")
    page.mouse.move(*there)
    page.wait_for_function(f"() => {MAP_JS}.lensView.serverDecodes.asked !== null", timeout=10_000)
    page.mouse.move(*here)
    page.wait_for_function(f"() => {{ const s = {MAP_JS}.lensView.serverDecodes; "
                           "return s.asked === null && s.wanted === null; }", timeout=10_000)
    assert page.evaluate(delivered) == here_key
