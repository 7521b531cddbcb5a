// The posterior, magnified: where the selected image's q(z|x) spans a few pixels on the map, its outlines would
// be one red blob. Beside the map, a square around its centre shows the images whose codes fall in it, the 1σ
// and 2σ outlines and the draws, at whatever zoom makes the 2σ outline fill most of the square.

import {lxElement} from './runtime.js';
import {lxShownPosterior} from './map_overlays.js';

const LM_INSET = 150;           // the magnified posterior, CSS pixels per side
const LM_INSET_BELOW = 40;      // below this 2σ width on the map (CSS pixels), the posterior gets the inset

export class PosteriorInset {
  constructor(map) {
    this.map = map;
    this.card = lxElement('div', 'lm-card lm-inset-card');
    this.canvas = lxElement('canvas', 'lm-inset');
    this.canvas.setAttribute('role', 'img');
    this.canvas.setAttribute('aria-label', 'The selected image\'s posterior, magnified');
    this.caption = lxElement('div', 'lm-card-caption');
    this.card.append(lxElement('div', 'lm-card-title', 'Posterior, magnified'), this.canvas, this.caption);
    this.card.style.display = 'none';
  }

  // The posterior shown now, where the map shows it too small to read; else the card steps aside.
  draw() {
    const map = this.map;
    if (!map.figure.plotted) return;
    const geometry = lxShownPosterior(map);
    const outline = geometry && geometry.outlines[2];
    let outlineHalf = 0, halfWidth = 0;
    if (outline) {
      const [cx, cy] = geometry.centre, reach = ([x, y]) => Math.max(Math.abs(x - cx), Math.abs(y - cy));
      for (const point of outline) outlineHalf = Math.max(outlineHalf, reach(point));
      halfWidth = outlineHalf;
      for (const point of geometry.draws) halfWidth = Math.max(halfWidth, reach(point));
    }
    // Drawn only when the 2σ outline is too small to read on the map at its present zoom.
    if (!outline || !(outlineHalf > 0) || 2 * outlineHalf * map.figure.scale() >= LM_INSET_BELOW) {
      this.card.style.display = 'none';
      map.host.dataset.inset = '';
      return;
    }
    this.card.style.display = '';
    const canvas = this.canvas, size = LM_INSET, dpr = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(size * dpr)) {
      canvas.width = canvas.height = Math.round(size * dpr);
      canvas.style.width = canvas.style.height = size + 'px';
    }
    const [cx, cy] = geometry.centre, half = halfWidth * 1.25, scale = size / (2 * half);
    const toInset = (x, y) => [size / 2 + (x - cx) * scale, size / 2 - (y - cy) * scale];
    const context = canvas.getContext('2d');
    context.setTransform(dpr, 0, 0, dpr, 0, 0);
    context.fillStyle = '#ffffff';
    context.fillRect(0, 0, size, size);
    // The images whose codes fall inside the magnified square, as on the map.
    for (let i = 0; i < map.x.length; i++) {
      if (Math.abs(map.x[i] - cx) > half || Math.abs(map.y[i] - cy) > half || !map.shown(i)) continue;
      const [px, py] = toInset(map.x[i], map.y[i]);
      context.fillStyle = map.colour(map.labels[i]);
      context.globalAlpha = 0.6;
      context.beginPath();
      context.arc(px, py, 3, 0, 2 * Math.PI);
      context.fill();
    }
    context.globalAlpha = 1;
    context.strokeStyle = map.data.highlight;
    context.lineWidth = 2;
    for (const [n, dash] of [[1, []], [2, [6, 4]]]) {
      context.setLineDash(dash);
      context.beginPath();
      geometry.outlines[n].forEach(([x, y], k) => {
        const [px, py] = toInset(x, y);
        if (k === 0) context.moveTo(px, py); else context.lineTo(px, py);
      });
      context.stroke();
    }
    context.setLineDash([]);
    context.fillStyle = map.data.highlight;
    for (const [x, y] of geometry.draws) {
      const [px, py] = toInset(x, y);
      context.beginPath();
      context.arc(px, py, 3, 0, 2 * Math.PI);
      context.fill();
    }
    context.strokeStyle = '#111111';
    context.lineWidth = 2;
    context.beginPath();
    context.arc(size / 2, size / 2, 5, 0, 2 * Math.PI);
    context.stroke();
    context.strokeStyle = '#999999';
    context.lineWidth = 1;
    context.strokeRect(0.5, 0.5, size - 1, size - 1);
    const zoom = scale / map.figure.scale();
    const caption = `×${zoom >= 10 ? Math.round(zoom) : zoom.toFixed(1)}: 1σ and 2σ of q(z|x), `
      + `${geometry.draws.length} draws z = μ + σ·ε`;
    this.caption.textContent = caption;
    canvas.setAttribute('aria-label', `The posterior q(z|x) magnified ${caption}`);
    map.host.dataset.inset = String(zoom);
  }
}
