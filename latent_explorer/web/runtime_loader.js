// The runtime element's module (latent_explorer/components.py, load_runtime): loads the components' scripts
// in the order the server lists them, once per page, as classic scripts sharing one scope, then publishes the
// mount functions on window.__latentExplorer.lib and announces 'lx-runtime'; Plotly.js likewise, beside them.
// The scripts are kept in the browser's Cache Storage under their content's version (web/cached_files.js).

import {cachedFile, isPackFile, openCache} from './cached_files.js';

let loading = null;

// Each script's text as a promise, from the cache or the network; older versions of these scripts are dropped
// (packs, kept in the same cache, have their own rule: web/cached_files.js).
async function scriptTexts(urls) {
  const cache = await openCache();
  const texts = urls.map(async (url) => (await cachedFile(cache, url)).text());
  if (cache) {
    Promise.all(texts).then(async () => {
      for (const request of await cache.keys()) {
        if (!urls.includes(request.url) && !isPackFile(request.url)) await cache.delete(request);
      }
    }).catch(() => {});
  }
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
