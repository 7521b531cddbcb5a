"""The packaged component (latent_explorer/pyproject.toml and components.py): its modules, styles and Plotly.js are
files fetched from /_stcore/bidi-components/, not text inside the page's messages; a second page load of the
same browser takes the runtime's modules and Plotly.js from its cache instead of the network, and a module that
changed since is fetched again, alone (web/runtime_loader.js, web/cached_files.js)."""

from __future__ import annotations

from devtools.browser import click_at, isolated_data_points, open_explore, wait_for_card
from latent_explorer.components import PLOTLY_JS, PROJECT, RUNTIME_MODULES

ASSET_ROUTE = "/_stcore/bidi-components/"
# What the page fetched from the network (transferSize 0 is the browser's own cache), per file name.
FETCHED_JS = f"""() => Object.fromEntries(performance.getEntriesByType('resource')
  .filter((e) => e.name.includes('{ASSET_ROUTE}') && e.transferSize > 0)
  .map((e) => [new URL(e.name).pathname.split('/').pop(), e.transferSize]))"""


RUNTIME_FILES = {f"{PROJECT}.runtime/{name}" for name in (PLOTLY_JS, *RUNTIME_MODULES)}

# How many files the browser's cache holds whole (a body still being written reads short, or not at all).
CACHED_COUNT_JS = """async () => {
  const cache = await caches.open('latent-explorer');
  let whole = 0;
  for (const request of await cache.keys()) {
    const kept = await cache.match(request);
    if (!kept) continue;
    const expected = Number(kept.headers.get('content-length'));
    if ((await kept.blob()).size === expected) whole += 1;
  }
  return whole;
}"""


# The browser's cache as it is when the server's copy of a module changed after this browser's last visit: that
# module kept under the version it had then, with other text (which would break the page if it ran), and not under
# the version the server lists now. Returns the stale URL.
STALE_JS = """async (name) => {
  const cache = await caches.open('latent-explorer');
  const current = (await cache.keys()).find((r) => new URL(r.url).pathname.endsWith('/' + name));
  const stale = current.url.replace(/([?&]v=)[0-9a-f]+/, '$10123456789abcdef');
  await cache.delete(current);
  await cache.put(stale, new Response('throw new Error("the old version of ' + name + ' ran");',
                                      {headers: {'content-type': 'text/javascript'}}));
  return stale;
}"""
# The URLs the cache holds for one file name.
KEPT_JS = """async (name) => (await (await caches.open('latent-explorer')).keys())
  .map((r) => r.url).filter((url) => new URL(url).pathname.endsWith('/' + name))"""


def asset_name(url: str) -> str:
    return url.split(ASSET_ROUTE, 1)[1].split("?", 1)[0]


def record_responses(page) -> list[tuple[str, int]]:
    responses = []
    page.on("response", lambda r: responses.append((asset_name(r.url), r.status)) if ASSET_ROUTE in r.url else None)
    return responses


def test_scripts_and_plotly_are_files_that_a_second_page_load_takes_from_the_cache(visitor):
    responses = record_responses(visitor.page)
    page = open_explore(visitor)
    first = dict(responses)
    assert RUNTIME_FILES <= set(first), f"not fetched as files: {sorted(RUNTIME_FILES - set(first))}"
    for name in ("map/mount.js", "map/latent_map.css", "card/mount.js", "pack/pack_carrier.js"):
        assert f"{PROJECT}.{name}" in first
    assert {name: status for name, status in first.items() if status != 200} == {}
    # Plotly.js is no longer part of a page's messages: its 4.8 MB went over HTTP.
    assert page.evaluate(FETCHED_JS)[PLOTLY_JS] > 1_000_000

    # The browser writes them into its cache while the page goes on (web/runtime_loader.js).
    page.wait_for_function(f"async () => ({CACHED_COUNT_JS})() >= {len(RUNTIME_FILES)}")
    responses.clear()
    page = open_explore(visitor)  # a new page load, same browser
    # Every one of them, Plotly.js too, comes from the cache: no request for it, no byte of it on the network.
    refetched = {name for name, _ in responses} & RUNTIME_FILES
    assert refetched == set(), f"fetched again on the second load: {sorted(refetched)}"
    assert PLOTLY_JS not in page.evaluate(FETCHED_JS)


def test_a_module_changed_since_the_last_visit_is_fetched_again_alone(visitor):
    changed = "map_hits.js"  # imported by latent_map.js, which must now link to the new version
    page = open_explore(visitor)
    page.wait_for_function(f"async () => ({CACHED_COUNT_JS})() >= {len(RUNTIME_FILES)}")
    stale = page.evaluate(STALE_JS, changed)
    responses = record_responses(page)
    page = open_explore(visitor)  # the map is drawn: the stale text did not run
    assert {name for name, _ in responses} & RUNTIME_FILES == {f"{PROJECT}.runtime/{changed}"}
    # The cache keeps the version the server lists now, and forgets the old one.
    page.wait_for_function("async ([name, stale]) => { const kept = await (" + KEPT_JS + ")(name); "
                           "return kept.length === 1 && kept[0] !== stale; }", arg=[changed, stale])
    # The new version is the one in use: the map finds the point under a click.
    point = isolated_data_points(page, 1)[0]
    click_at(page, point["px"], point["py"])
    wait_for_card(page, point["custom"])
