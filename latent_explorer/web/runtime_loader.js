// The runtime element's module (latent_explorer/components.py, load_runtime): loads the components' modules once
// per page, publishes what their entry module exports (web/lib.js) as window.__latentExplorer.lib and announces
// 'lx-runtime'; Plotly.js, a classic script that defines window.Plotly, runs beside them and announces 'lx-plotly'.
//
// Every file is kept in the browser's Cache Storage under its content's version (web/cached_files.js), so a page of
// a browser that has them makes no request for them. That is why the modules are linked here, not by the browser,
// which would fetch each import over the network (Streamlit's files carry no cache lifetime): each module becomes a
// blob: URL, its imports of our modules (named './x.js') rewritten to the blob: URLs of those modules, made first. A
// changed file has a new version: it alone is fetched again, and the modules importing it are linked to it anew.

import {cachedFile, isPackFile, openCache} from './cached_files.js';

// The name of one of our modules (./x.js) in a static import or re-export; import() of a relative name would not
// resolve from a blob: URL, and the modules use none.
const RELATIVE_IMPORT = /(\bfrom\s*)(['"])\.\/([\w.-]+\.js)\2/g;

let loading = null;

// Each file's text as a promise, from the cache or the network; older versions of these files are dropped
// (packs, kept in the same cache, have their own rule: web/cached_files.js).
async function fileTexts(urls) {
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

function runScript(url, text) {
  const script = document.createElement('script');
  script.text = `${text}\n//# sourceURL=${url}`;  // an inline script runs as it is inserted
  document.head.appendChild(script);
}

// The blob: URL of module `name` and, first, of every module it imports. A stack trace names the file as served
// (its sourceURL), not the blob.
function linker(sources) {
  const linked = new Map(), linking = new Set();
  const link = (name) => {
    if (linked.has(name)) return linked.get(name);
    const source = sources.get(name);
    if (!source) throw new Error(`${name} is imported but is not one of components.py RUNTIME_MODULES`);
    if (linking.has(name)) throw new Error(`the runtime's modules import each other in a cycle through ${name}`);
    linking.add(name);
    const text = source.text.replace(RELATIVE_IMPORT, (_, from, quote, imported) => from + quote + link(imported) + quote);
    const url = URL.createObjectURL(new Blob([`${text}\n//# sourceURL=${source.url}`], {type: 'text/javascript'}));
    linked.set(name, url);
    return url;
  };
  return {link, release: () => linked.forEach((url) => URL.revokeObjectURL(url))};
}

// Our modules run as soon as they are all here, and the components mount; Plotly.js, the largest file by far,
// runs when it arrives (the map waits for it, the packs and the card do not).
async function load({plotly, modules, entry}) {
  const urlOf = ({name, version}) => new URL(`${name}?v=${version}`, import.meta.url).href;
  const [plotlyText, ...texts] = await fileTexts([plotly, ...modules].map(urlOf));
  plotlyText.then((text) => {
    runScript(urlOf(plotly), text);
    window.dispatchEvent(new Event('lx-plotly'));
  });
  const sources = new Map();
  (await Promise.all(texts)).forEach((text, k) => sources.set(modules[k].name, {text, url: urlOf(modules[k])}));
  const {link, release} = linker(sources);
  const {default: lib} = await import(link(entry));
  release(); // the modules have run: the browser keeps them, not their blobs
  const LX = window.__latentExplorer;
  if (LX.lib) return;
  LX.lib = lib;
  window.dispatchEvent(new Event('lx-runtime'));
}

export default function ({data}) {
  if (loading || !data) return;
  loading = load(data).catch((error) => console.error('Latent Explorer: the runtime could not be loaded', error));
}
