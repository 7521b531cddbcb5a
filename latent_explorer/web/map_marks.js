// Images as marks on the latent map: zoomed in until at most MapData.image_marks points are visible (and not on
// the whole map, where a small dataset would be a heap of images), each visible point shows its image as a layout
// image centred on it. That image is its original, from the server (MapData.marks 'originals': the map asks for
// the ones it lacks in a thumbnails event, and they arrive in a message of latent_explorer/thumbnails.py, kept
// here by pack), or its reconstruction by the main model, decoded here, a few per frame, each once.

import {LX, lxMark, lxPaintBytes, lxPaintGray, lxRow} from './runtime.js';

const LM_MARK_SIZE = 26;        // an image mark's side, CSS pixels
const LM_THUMBNAIL_WAIT = 150;  // ms after the last zoom or pan step before the originals are asked for
const LM_THUMBNAIL_PATIENCE = 5000; // ms before images asked for and not received are asked for again
const LM_THUMBNAIL_CACHE = 20000; // original images kept per pack (a 28x28 one is about 1 kB as a data URI)

// Original images by pack id, then by index, as data URIs (the oldest forgotten first past LM_THUMBNAIL_CACHE per
// pack): kept on the page, for every map of it.
function lxThumbnailCache(packId) {
  if (!LX.thumbnails) LX.thumbnails = new Map();
  if (!LX.thumbnails.has(packId)) LX.thumbnails.set(packId, new Map());
  return LX.thumbnails.get(packId);
}

// One message of latent_explorer/thumbnails.py (web/thumbnails_carrier.js hands it here): "LXT1", uint32 count,
// uint16 height, uint16 width, the pack id (20 ASCII bytes), count uint32 indices, then the images' grey bytes.
export function lxReceiveThumbnails(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (String.fromCharCode(bytes[0], bytes[1], bytes[2], bytes[3]) !== 'LXT1') return;
  const count = view.getUint32(4, true), h = view.getUint16(8, true), w = view.getUint16(10, true);
  const pack = String.fromCharCode(...bytes.subarray(12, 32));
  const cache = lxThumbnailCache(pack), pixels = 32 + 4 * count, canvas = document.createElement('canvas');
  for (let k = 0; k < count; k++) {
    lxPaintBytes(canvas, bytes, pixels + k * w * h, w, h);
    const index = view.getUint32(32 + 4 * k, true);
    cache.delete(index);
    cache.set(index, canvas.toDataURL());
  }
  while (cache.size > LM_THUMBNAIL_CACHE) cache.delete(cache.keys().next().value);
  LX.lastThumbnailBytes = bytes.byteLength;
  lxMark('map-thumbnails', {count, bytes: bytes.byteLength});
  LX.bus.dispatchEvent(new CustomEvent('lx-thumbnails', {detail: {pack}}));
}

export class ImageMarks {
  constructor(map) {
    this.map = map;
    this.indices = null;           // the points shown as images now
    this.sources = null;           // index -> data URI of the images shown
    this.showing = undefined;      // MapData.marks of the last render
    this.job = null;               // reconstructions being decoded
    this.reconstructions = null;   // index -> data URI, for one pack
    this.asked = null;             // index -> when its original was asked for, for one pack
    this.requests = 0;
    this.timer = null;
  }

  // New points: nothing is shown until the next view asks.
  reset() {
    this.indices = null;
  }

  // Whether the render switched between originals and reconstructions.
  follow(marks) {
    const changed = this.showing !== undefined && this.showing !== marks;
    this.showing = marks;
    return changed;
  }

  // The marks for the view just drawn: the visible points' images, or none.
  update() {
    const map = this.map, data = map.data, visible = [];
    for (let i = 0; i < map.x.length && visible.length <= data.image_marks; i++) {
      if (map.hits.visible(i)) visible.push(i);
    }
    const [[x0, x1]] = map.visibleExtent(), [[e0, e1]] = data.extent;
    const zoomedIn = x1 - x0 < 0.9 * (e1 - e0);
    const wanted = zoomedIn && visible.length <= data.image_marks ? visible : [];
    if (data.marks === 'originals') {
      this.showOriginals(wanted);
      return;
    }
    clearTimeout(this.timer);
    const pack = map.pack, indices = map.mainDecoder ? wanted : [];
    const job = this.job = {indices, next: 0};
    if (!this.reconstructions || this.reconstructions.pack !== pack.id) {
      this.reconstructions = new Map();
      this.reconstructions.pack = pack.id;
    }
    const uris = this.reconstructions;
    const step = () => {
      if (this.job !== job) return;
      const deadline = performance.now() + 12;
      while (job.next < job.indices.length && performance.now() < deadline) {
        const i = job.indices[job.next++];
        if (!uris.has(i)) uris.set(i, this.reconstructionUri(i));
      }
      if (job.next < job.indices.length) {
        requestAnimationFrame(step);
        return;
      }
      this.show(job.indices, uris, 'reconstructions');
    };
    if (indices.length || (this.indices && this.indices.length)) requestAnimationFrame(step);
  }

  // The originals the browser already holds are drawn at once; the rest are asked for in one event once the
  // view has rested LM_THUMBNAIL_WAIT ms (no server run per zoom step), and drawn when their message arrives
  // (lxReceiveThumbnails, then the map's 'lx-thumbnails' listener). Panning back to images already seen costs
  // nothing.
  showOriginals(wanted) {
    const map = this.map, packId = map.pack.id;
    this.job = null;
    clearTimeout(this.timer);
    const cache = lxThumbnailCache(packId);
    const missing = wanted.filter((i) => !cache.has(i));
    if (!missing.length) {
      if (wanted.length || (this.indices && this.indices.length)) this.show(wanted, cache, 'originals');
      return;
    }
    // Images already asked for and still on their way are not asked for again (unless lost for a while).
    if (!this.asked || this.asked.pack !== packId) {
      this.asked = new Map();
      this.asked.pack = packId;
    }
    const now = performance.now();
    const ask = missing.filter((i) => !(this.asked.get(i) > now - LM_THUMBNAIL_PATIENCE));
    if (!ask.length) return;
    this.timer = setTimeout(() => {
      this.requests += 1;
      for (const i of ask) this.asked.set(i, performance.now());
      lxMark('map-thumbnails-asked', {count: ask.length});
      map.trigger('thumbnails', {indices: ask, request: this.requests});
    }, LM_THUMBNAIL_WAIT);
  }

  show(indices, uris, source) {
    const host = this.map.host;
    this.indices = indices;
    this.sources = uris;
    this.map.relayoutImages();
    host.dataset.imageMarks = String(indices.length);
    host.dataset.imageMarksShow = source;
    lxMark('map-image-marks', {count: indices.length, source});
  }

  reconstructionUri(index) {
    const map = this.map, main = map.pack.meta.main_kind, [, h, w] = map.pack.meta.image_shape;
    const canvas = document.createElement('canvas');
    lxPaintGray(canvas, map.mainDecoder.gray(lxRow(map.pack, main + '.mu', index)), w, h);
    return canvas.toDataURL();
  }

  // Layout images, above the points.
  images() {
    if (!this.indices || !this.indices.length) return [];
    const map = this.map, size = LM_MARK_SIZE / map.figure.scale();
    return this.indices.map((i) => ({
      source: this.sources.get(i), xref: 'x', yref: 'y', x: map.x[i], y: map.y[i], sizex: size,
      sizey: size, xanchor: 'center', yanchor: 'middle', sizing: 'contain', layer: 'above', opacity: 0.95,
    }));
  }
}
