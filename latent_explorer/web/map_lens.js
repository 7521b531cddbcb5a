// The latent map's lens: what the decoder makes of the spot under the pointer, the keyboard's cursor or a held
// finger, painted beside the map (or, while nothing is selected, large in the inspect card: web/inspect_card.js),
// with the tooltip that names the point there. Where the browser cannot run the decoder, the server decodes the
// spot under the cursor, fetched from its route one request at a time (MapData.decode_url, LxServerDecodes).

import {LX, LxServerDecodes, lxElement, lxMark, lxPaintBytes, lxPaintGray, lxRow, lxSigned} from './runtime.js';

export class MapLens {
  constructor(map) {
    this.map = map;
    this.card = lxElement('div', 'lm-card lm-lens-card');
    this.title = lxElement('div', 'lm-card-title');
    this.canvas = lxElement('canvas', 'lm-lens');
    this.canvas.setAttribute('role', 'img');
    this.canvas.setAttribute('aria-label', 'Decoded image under the cursor');
    this.caption = lxElement('div', 'lm-card-caption');
    this.card.append(this.title, this.canvas, this.caption);
    this.serverDecodes = null;
  }

  retitle() {
    this.title.textContent = this.map.decodesHere() ? 'Decoder at the cursor' : 'Under the cursor';
  }

  // The tooltip and the lens for the spot (px, py) of the figure.
  hover(px, py) {
    const map = this.map;
    if (map.replay && map.replay.showingPast()) return; // the points are not where the hit test looks
    const inside = map.insidePlot(px, py), index = inside ? map.hits.pointAt(px, py) : null;
    if (index !== null) {
      map.tooltip.textContent = map.describe(index);
      map.tooltip.style.left = (px + 12) + 'px';
      map.tooltip.style.top = (py - 26) + 'px';
      map.tooltip.style.display = 'block';
    } else {
      map.hideTooltip();
    }
    if (!inside || !map.interactive()) return;
    if (map.decodesHere()) {
      const z = map.toData(px, py);
      if (map.decoder) {
        this.paint(map.decoder.gray(map.latentAt(z)), map.spotLabel(z));
      } else {
        this.fromServer()?.want(z);
      }
    } else if (index !== null && map.mainDecoder) {
      const main = map.pack.meta.main_kind, name = map.pack.meta.class_names[map.labels[index]];
      this.paint(map.mainDecoder.gray(lxRow(map.pack, main + '.mu', index)),
                 `#${index} · ${name}: ${main.toUpperCase()} reconstruction`);
    }
  }

  // Before any hover: the decode at the centre of the map (or a hint where there is nothing to decode).
  showAtRest() {
    const map = this.map;
    const [[x0, x1], [y0, y1]] = map.data.extent, z = [(x0 + x1) / 2, (y0 + y1) / 2];
    if (map.decodesHere() && map.decoder) {
      this.paint(map.decoder.gray(map.latentAt(z)), `${map.spotLabel(z)}; move over the map`);
    } else {
      this.caption.textContent = map.decodesHere() ? 'Rest the cursor on the map' : 'Hover a point';
      this.share();
      if (map.decodesHere()) this.fromServer()?.want(z);
    }
  }

  paint(gray, caption) {
    const map = this.map, [, h, w] = map.pack.meta.image_shape;
    lxPaintGray(this.canvas, gray, w, h);
    this.setCaption(caption);
    lxMark('lens', {caption});
  }

  setCaption(caption) {
    this.caption.textContent = caption;
    this.canvas.setAttribute('aria-label', `Decoded image: ${caption}`);
    this.map.host.dataset.lens = caption;
    this.share();
  }

  // The inspect card shows the lens large beside the map while nothing is selected (web/inspect_card.js).
  share() {
    LX.lens = {pack: this.map.pack.id, canvas: this.canvas, title: this.title.textContent,
               caption: this.caption.textContent};
    LX.bus.dispatchEvent(new CustomEvent('lx-lens', {detail: LX.lens}));
  }

  // While the card beside the map shows the lens, the small one under the map steps aside (latent_map.css).
  syncPlace() {
    const map = this.map;
    const nothingSelected = (map.selected === null || map.selected === undefined) && !map.location
      && !map.probeActive;
    map.frame.classList.toggle('lm-lens-beside', nothingSelected && map.interactive());
  }

  // No decoder in the browser: the server's, for the map's model (null where the page sent no route).
  fromServer() {
    const url = this.map.data.decode_url;
    if (!url) return null;
    if (!this.serverDecodes || this.serverDecodes.url !== url) {
      this.serverDecodes = new LxServerDecodes(url, (z, bytes) => this.showServer(z, bytes),
        (z, message) => this.setCaption(message));
    }
    return this.serverDecodes;
  }

  showServer(z, bytes) {
    const [, h, w] = this.map.pack.meta.image_shape;
    lxPaintBytes(this.canvas, bytes, 0, w, h);
    this.setCaption(`z = (${lxSigned(z[0], 2)}, ${lxSigned(z[1], 2)}) · decoded on the server`);
    lxMark('lens', {caption: this.caption.textContent});
  }
}
