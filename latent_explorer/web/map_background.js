// The decoder background of the latent map (MapData.background): the decoder's output tiled over the visible
// region as a layout image under the points, decoded here a few tiles per frame so the page never stalls, and
// again once the view has settled on a new region. For a decoder only the server can run, the server's picture
// of the initial region (MapData.server_background) takes its place.

import {lxMark} from './runtime.js';

const LM_BACKGROUND_SETTLE = 200; // ms the view rests before the new region is decoded
const LM_BACKGROUND_SLICE = 8;    // ms of decoding per frame

export class DecoderBackground {
  constructor(map) {
    this.map = map;
    this.tiles = null;             // {key, extent, uri} of the last region decoded here
    this.job = null;               // {key, extent, next}: the region being decoded
    this.timer = null;
  }

  // New points (another pack or view): what was decoded is another decoder's.
  reset() {
    this.tiles = this.job = null;
  }

  wanted() {
    const map = this.map;
    return map.data.background && map.decodesHere();
  }

  // Layout images, under everything else.
  images() {
    const map = this.map;
    if (!this.wanted()) return [];
    let source, extent;
    if (map.decoder) {
      if (!this.tiles) return [];
      ({uri: source, extent} = this.tiles);
    } else if (map.data.server_background) {
      ({uri: source, extent} = map.data.server_background);
    } else {
      return [];
    }
    const [[x0, x1], [y0, y1]] = extent;
    return [{source, xref: 'x', yref: 'y', x: x0, y: y1, sizex: x1 - x0, sizey: y1 - y0, sizing: 'stretch',
             layer: 'below', opacity: 0.55, xanchor: 'left', yanchor: 'top'}];
  }

  // Decodes the visible region unless it is decoded, or being decoded, already.
  ensure() {
    const map = this.map;
    if (!this.wanted() || !map.decoder || !map.figure.plotted) return;
    const extent = map.visibleExtent();
    const key = extent.flat().map((v) => v.toFixed(4)).join(',');
    if ((this.tiles && this.tiles.key === key) || (this.job && this.job.key === key)) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.decode(extent, key), this.tiles ? LM_BACKGROUND_SETTLE : 0);
  }

  decode(extent, key) {
    const map = this.map, decoder = map.decoder, n = map.data.background_tiles, [, h, w] = decoder.outputShape;
    const canvas = document.createElement('canvas');
    canvas.width = n * w;
    canvas.height = n * h;
    const context = canvas.getContext('2d');
    const tile = context.createImageData(w, h);
    const job = this.job = {key, extent, next: 0};
    const [[x0, x1], [y0, y1]] = extent;
    const step = () => {
      if (this.job !== job) return;
      const deadline = performance.now() + LM_BACKGROUND_SLICE;
      while (job.next < n * n && performance.now() < deadline) {
        const row = Math.floor(job.next / n), column = job.next % n;
        const gray = decoder.gray([x0 + (column + 0.5) * (x1 - x0) / n, y1 - (row + 0.5) * (y1 - y0) / n]);
        for (let i = 0; i < w * h; i++) {
          const v = 255 - Math.round(Math.min(1, Math.max(0, gray[i])) * 255);
          tile.data[4 * i] = tile.data[4 * i + 1] = tile.data[4 * i + 2] = v;
          tile.data[4 * i + 3] = 255;
        }
        context.putImageData(tile, column * w, row * h);
        job.next++;
      }
      if (job.next < n * n) {
        requestAnimationFrame(step);
        return;
      }
      this.job = null;
      this.tiles = {key, extent, uri: canvas.toDataURL()};
      map.relayoutImages();
      lxMark('map-background', {key});
    };
    requestAnimationFrame(step);
  }
}
