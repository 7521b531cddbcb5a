"""The packaged component (latent_explorer/pyproject.toml and components.py): its scripts, styles and Plotly.js are
files fetched from /_stcore/bidi-components/, not text inside the page's messages, and a second page load of the
same browser takes the big ones from its cache instead of the network."""

from __future__ import annotations

from devtools.browser import open_explore
from latent_explorer.components import PLOTLY_JS, PROJECT, RUNTIME_SCRIPTS

ASSET_ROUTE = "/_stcore/bidi-components/"
# What the page fetched from the network (transferSize 0 is the browser's own cache), per file name.
FETCHED_JS = f"""() => Object.fromEntries(performance.getEntriesByType('resource')
  .filter((e) => e.name.includes('{ASSET_ROUTE}') && e.transferSize > 0)
  .map((e) => [new URL(e.name).pathname.split('/').pop(), e.transferSize]))"""


# How many scripts the browser's cache holds whole (a body still being written reads short, or not at all).
CACHED_COUNT_JS = """async () => {
  const cache = await caches.open('latent-explorer');
  let whole = 0;
  for (const request of await cache.keys()) {
    const kept = await cache.match(request);
    const expected = Number(kept.headers.get('content-length'));
    if ((await kept.blob()).size === expected) whole += 1;
  }
  return whole;
}"""


def asset_name(url: str) -> str:
    return url.split(ASSET_ROUTE, 1)[1].split("?", 1)[0]


def test_scripts_and_plotly_are_files_that_a_second_page_load_takes_from_the_cache(visitor):
    responses = []
    visitor.page.on("response", lambda r: responses.append((asset_name(r.url), r.status))
                    if ASSET_ROUTE in r.url else None)
    page = open_explore(visitor)
    first = dict(responses)
    runtime_files = {f"{PROJECT}.runtime/{name}" for name in (PLOTLY_JS, *RUNTIME_SCRIPTS)}
    assert runtime_files <= set(first), f"not fetched as files: {sorted(runtime_files - set(first))}"
    for name in ("map/mount.js", "map/latent_map.css", "card/mount.js", "pack/pack_carrier.js"):
        assert f"{PROJECT}.{name}" in first
    assert {name: status for name, status in first.items() if status != 200} == {}
    # Plotly.js is no longer part of a page's messages: its 4.8 MB went over HTTP.
    assert page.evaluate(FETCHED_JS)[PLOTLY_JS] > 1_000_000

    # The browser writes them into its cache while the page goes on (web/runtime_loader.js).
    page.wait_for_function(f"async () => ({CACHED_COUNT_JS})() >= {len(runtime_files)}")
    responses.clear()
    page = open_explore(visitor)  # a new page load, same browser
    # Every one of them, Plotly.js too, comes from the cache: no request for it, no byte of it on the network.
    refetched = {name for name, _ in responses} & runtime_files
    assert refetched == set(), f"fetched again on the second load: {sorted(refetched)}"
    assert PLOTLY_JS not in page.evaluate(FETCHED_JS)
