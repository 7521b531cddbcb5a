// Files of the packaged component that the browser keeps in its Cache Storage, by URL: the runtime's modules and
// Plotly.js (web/runtime_loader.js) and the packs (web/pack_carrier.js). Every such URL names its content (a hash),
// so a kept file never goes stale.
//
// Streamlit serves these files with "Cache-Control: public" and no validator or lifetime, which makes a browser
// download them again on every page load; kept here, a reload or tomorrow's visit reads them from disk. Where Cache
// Storage is missing (plain http off localhost) or fails, they are simply fetched.

const CACHE = 'latent-explorer';
const PACK_FILE = /\/packs\/[0-9a-f]+\.lxp\.gz$/;
const MAX_KEPT_PACKS = 12;  // a few MB each: the packs of the last few models this browser looked at

export function isPackFile(url) {
  return PACK_FILE.test(new URL(url).pathname);
}

export async function openCache() {
  return window.caches ? caches.open(CACHE).catch(() => null) : null;
}

async function fetchFile(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`could not load ${url}: ${response.status}`);
  return response;
}

// A file's body; one the server keeps gzip-compressed (a name ending in .gz, sent as application/gzip so that no
// server compresses it again for every visitor) is decompressed here.
function bodyOf(url, response) {
  if (!new URL(url).pathname.endsWith('.gz')) return response;
  return new Response(response.body.pipeThrough(new DecompressionStream('gzip')));
}

// The file's Response, from the cache or the network; kept in the cache once fetched.
export async function cachedFile(cache, url) {
  const kept = cache && await cache.match(url);
  if (kept) return bodyOf(url, kept);
  const response = await fetchFile(url);
  // Written while the page goes on: a failure costs a fetch next time.
  if (cache) cache.put(url, response.clone()).then(() => isPackFile(url) && forgetOldPacks(cache)).catch(() => {});
  return bodyOf(url, response);
}

// Cache Storage lists entries in the order they were written: the oldest packs go first.
async function forgetOldPacks(cache) {
  const packs = (await cache.keys()).filter((request) => isPackFile(request.url));
  for (const request of packs.slice(0, Math.max(0, packs.length - MAX_KEPT_PACKS))) await cache.delete(request);
}
