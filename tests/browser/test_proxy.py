"""Two app processes behind nginx with sticky sessions (devtools/proxy.py, as deploy/ runs it), in Chromium.

A browser stays on the process that served its first page (its scripts and its websocket too), and a reload that
the route cookie sends to the other process shows the same model, point and latent vector: the model was uploaded
on the first process and comes back from the store both share.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from urllib.parse import parse_qs, urlsplit

import pytest

from devtools.browser import (
    ARTIFACTS,
    LANDING_ON_DIGITS,
    REPO_ROOT,
    VIEWPORT,
    StreamlitServer,
    active_models_label,
    alert,
    click_at,
    editor_slider,
    editor_z,
    exception_texts,
    free_port,
    isolated_data_points,
    map_state,
    screenshot,
    server_tracebacks,
    wait_for_app,
    wait_for_card,
    wait_for_map,
)
from devtools.proxy import ROUTE_COOKIE, NginxProxy, nginx_binary
from vae_core.store import ID_PATTERN, STORE_ENV

pytestmark = pytest.mark.browser

if nginx_binary() is None:
    _NO_NGINX = "nginx is missing: install Debian's nginx (scripts/test.sh does) to run the test through the proxy"
    if os.environ.get("CI") == "true":
        # A green CI must mean this test ran, as for Chromium (tests/browser/conftest.py).
        pytest.fail(f"CI=true but the proxy test cannot run: {_NO_NGINX}", pytrace=False)
    pytest.skip(_NO_NGINX, allow_module_level=True)

UPLOADED = "proxied-digits.pt"
WEBSOCKET_LOG_S = 30  # nginx logs a websocket when it closes, just after the browser context does


@pytest.fixture(scope="module")
def app_processes(tmp_path_factory):
    """Two `streamlit run app.py` processes sharing one model store, started at once."""
    store = tmp_path_factory.mktemp("proxy-model-store")
    servers = [StreamlitServer("app.py", log_path=ARTIFACTS / f"streamlit-proxy-{name}.log",
                               env={**LANDING_ON_DIGITS, STORE_ENV: str(store)}) for name in ("first", "second")]
    try:
        for server in servers:
            server.start()
        for server in servers:
            server.wait_healthy()
        yield servers
    finally:
        for server in servers:
            server.stop()
    for server in servers:
        found = server_tracebacks(server.log_path.read_text(encoding="utf-8"))
        assert not found, f"{server.log_path.name} holds a traceback:\n" + "\n---\n".join(found)


@pytest.fixture(scope="module")
def proxy(app_processes):
    proxy = NginxProxy([f"127.0.0.1:{server.port}" for server in app_processes], free_port(),
                       report_upstream=True).start()
    try:
        yield proxy
    finally:
        for log in (proxy.access_log_path, proxy.error_log_path):
            if log.exists():
                shutil.copy(log, ARTIFACTS / f"nginx-proxy-{log.name}")
        proxy.stop()


def query(page) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(page.url).query).items()}


def route_cookies(context) -> list[str]:
    return [cookie["value"] for cookie in context.cookies() if cookie["name"] == ROUTE_COOKIE]


def upstreams_of_route(proxy: NginxProxy, route: str) -> set[str]:
    """Every process nginx sent a request with this route key to, from its access log."""
    return set(re.findall(rf"upstream=(\S+) route={re.escape(route)} ", proxy.access_log()))


def nav_to(page, name: str) -> None:
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=re.compile(rf"{name}$")).click()


def test_a_reload_on_the_other_process_shows_the_same_model_point_and_z(browser, app_processes, proxy):
    addresses = [f"127.0.0.1:{server.port}" for server in app_processes]
    log_offsets = [server.log_size() for server in app_processes]
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(90_000)
    page = context.new_page()
    try:
        # The first response sets the route cookie, whose value chose the process that served it.
        response = page.goto(proxy.url + "/train", wait_until="domcontentloaded")
        first = response.headers["x-upstream"]
        assert first in addresses
        [first_route] = route_cookies(context)
        assert proxy.upstream_of(first_route) == first

        # A model that lives in the store: a checkpoint uploaded on the first process.
        wait_for_app(page, page.get_by_role("button", name="Train", exact=True))
        page.locator('[data-testid="stFileUploader"]').filter(has_text="Upload checkpoint") \
            .locator('input[type="file"]').set_input_files(
                files=[{"name": UPLOADED, "mimeType": "application/octet-stream",
                        "buffer": (REPO_ROOT / "latent_explorer" / "assets" / "digits-latent2.pt").read_bytes()}])
        wait_for_app(page, alert(page, f"Loaded {UPLOADED}"))
        wait_for_app(page, lambda: ID_PATTERN.fullmatch(query(page).get("model", "")) is not None)
        model_id = query(page)["model"]
        label = active_models_label(page)
        assert f"uploaded {UPLOADED}" in label, label

        # A point on its map, then into the editor and a step of z2: the link names model, point and z.
        nav_to(page, "Explore")
        wait_for_app(page, page.get_by_role("heading", name="Explore the latent space"))
        wait_for_map(page)
        point = isolated_data_points(page, 1)[0]
        index = point["custom"]
        click_at(page, point["px"], point["py"])
        wait_for_card(page, index)
        wait_for_app(page, lambda: query(page).get("point") == str(index))
        page.get_by_role("button", name="Open in editor").click()
        wait_for_app(page, page.get_by_role("heading", name="Edit latent features"))
        wait_for_app(page, lambda: "z" in query(page) and editor_z(page) != "")
        z_from_point = query(page)["z"]
        editor_slider(page, "z2").focus()
        page.keyboard.press("ArrowRight")
        wait_for_app(page, lambda: query(page).get("z") not in (None, z_from_point))
        view = query(page)
        assert (view["model"], view["point"]) == (model_id, str(index)), view
        z_shown = editor_z(page)
        screenshot(page, "proxy-before-switch")

        # The route cookie now names the other process: the reload and its websocket go there.
        other = next(address for address in addresses if address != first)
        second_route = proxy.route_to(other)
        context.add_cookies([{"name": ROUTE_COOKIE, "value": second_route, "url": proxy.url}])
        assert route_cookies(context) == [second_route]
        response = page.reload(wait_until="domcontentloaded")
        assert response.headers["x-upstream"] == other

        wait_for_app(page, page.get_by_role("heading", name="Edit latent features"))
        wait_for_app(page, lambda: editor_z(page) == z_shown)
        assert query(page) == view
        assert active_models_label(page) == label
        nav_to(page, "Explore")
        wait_for_app(page, page.get_by_role("heading", name="Explore the latent space"))
        wait_for_map(page)
        wait_for_card(page, index)
        assert map_state(page)["selected"] == index
        assert query(page) == view
        screenshot(page, "proxy-after-switch")
        shown = exception_texts(page)
        assert not shown, "the page shows a Streamlit exception:\n" + "\n---\n".join(shown)
        assert route_cookies(context) == [second_route]  # nginx sets it only for a browser without one
    finally:
        context.close()

    # Sticky: every request of each route, websockets included, went to one process.
    deadline = time.monotonic() + WEBSOCKET_LOG_S
    websocket = re.compile(rf'"GET /_stcore/stream HTTP/1.1" 101 \d+ upstream={re.escape(other)} route={second_route} ')
    while not websocket.search(proxy.access_log()):
        assert time.monotonic() < deadline, "nginx logged no websocket of the reload on the other process"
        time.sleep(0.2)
    assert upstreams_of_route(proxy, first_route) == {first}
    assert upstreams_of_route(proxy, second_route) == {other}
    for server, offset in zip(app_processes, log_offsets):
        found = server_tracebacks(server.log_since(offset))
        assert not found, f"{server.log_path.name} gained a traceback:\n" + "\n---\n".join(found)
