// The runtime element's module (latent_explorer/components.py, load_runtime): loads the components' scripts
// in the order the server lists them, once per page, as classic scripts sharing one scope, then publishes the
// mount functions on window.__latentExplorer.lib and announces 'lx-runtime'; Plotly.js likewise, beside them.
//
// Streamlit serves these files with "Cache-Control: public" and no validator or lifetime, which makes a browser
// download them again on every page load. So they are kept in the page's Cache Storage under their content's
// version (the server hashes each file): a reload, or tomorrow's visit, reads them from disk. Where Cache
// Storage is missing (plain http off localhost) or fails, they are simply fetched.

const CACHE = 'latent-explorer';
let loading = null;

async function fetchText(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`could not load ${url}: ${response.status}`);
  return response;
}

// Each script's text as a promise, from the cache or the network; older versions of these files are dropped.
async function scriptTexts(urls) {
  const cache = window.caches ? await caches.open(CACHE).catch(() => null) : null;
  if (!cache) return urls.map(async (url) => (await fetchText(url)).text());
  const texts = urls.map(async (url) => {
    const kept = await cache.match(url);
    if (kept) return kept.text();
    const response = await fetchText(url);
    cache.put(url, response.clone()).catch(() => {});  // written while the page goes on: a failure costs a fetch
    return response.text();
  });
  Promise.all(texts).then(async () => {
    for (const request of await cache.keys()) if (!urls.includes(request.url)) await cache.delete(request);
  }).catch(() => {});
  return texts;
}

function run(url, text) {
  const script = document.createElement('script');
  script.text = `${text}\n//# sourceURL=${url}`;  // an inline script runs as it is inserted
  document.head.appendChild(script);
}

// Our scripts run, in order, as soon as they are here, and the components mount; Plotly.js, the largest by
// far, runs when it arrives and announces 'lx-plotly' (the map waits for it, the packs and the card do not).
async function load({plotly, scripts, mounts}) {
  const urlOf = ({name, version}) => new URL(`${name}?v=${version}`, import.meta.url).href;
  const [plotlyText, ...texts] = await scriptTexts([plotly, ...scripts].map(urlOf));
  plotlyText.then((text) => {
    run(urlOf(plotly), text);
    window.dispatchEvent(new Event('lx-plotly'));
  });
  const ours = await Promise.all(texts);
  ours.forEach((text, k) => run(urlOf(scripts[k]), text));
  const LX = window.__latentExplorer;
  if (LX.lib) return;
  const lib = {registerPack: window.lxRegisterPack};
  for (const [name, mount] of Object.entries(mounts)) lib[name] = window[mount];
  LX.lib = lib;
  window.dispatchEvent(new Event('lx-runtime'));
}

export default function ({data}) {
  if (loading || !data) return;
  loading = load(data);
}
