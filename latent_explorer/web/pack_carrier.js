// A hidden element that hands its pack (latent_explorer/pack.py) to the runtime, which keeps it by id. The data is
// {id, file}: the pack's file, fetched once and kept by the browser (web/cached_files.js); or, where the server
// could not write that file, the pack's bytes themselves.

import {cachedFile, openCache} from './cached_files.js';

async function packBytes(data) {
  if (!data.file) return data;
  const known = window.__latentExplorer && window.__latentExplorer.packs;
  if (known && known.has(data.id)) return null;  // this page has it already
  const url = new URL(data.file, import.meta.url).href;
  const response = await cachedFile(await openCache(), url);
  return new Uint8Array(await response.arrayBuffer());
}

function whenRuntime() {
  const LX = window.__latentExplorer;
  if (LX && LX.lib) return Promise.resolve(LX.lib);
  return new Promise((resolve) => window.addEventListener(
    'lx-runtime', () => resolve(window.__latentExplorer.lib), {once: true}));
}

export default function ({data}) {
  if (!data) return;
  // The file is fetched while the runtime's scripts load, not after them.
  Promise.all([packBytes(data), whenRuntime()]).then(([bytes, lib]) => {
    if (bytes) lib.registerPack(bytes);
  }).catch((error) => console.error('Latent Explorer: a pack could not be loaded', error));
}
