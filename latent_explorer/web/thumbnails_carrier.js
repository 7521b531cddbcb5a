// A hidden element that hands one message of original images (latent_explorer/thumbnails.py) to the map's
// cache of image marks (web/map_marks.js lxReceiveThumbnails, published by the runtime as lib.receiveThumbnails).

export default function ({data}) {
  if (!data) return;
  const receive = () => window.__latentExplorer.lib.receiveThumbnails(data);
  if (window.__latentExplorer && window.__latentExplorer.lib) receive();
  else window.addEventListener('lx-runtime', receive, {once: true});
}
