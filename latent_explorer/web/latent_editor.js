// The latent editor: one slider per latent dimension and a 2-d pad over two of them, decoded in the
// browser on every animation frame while they move. The server hears the vector when a slider or the
// pad is let go (for the link and the other panels). A decoder the browser cannot run decodes on the
// server, fetched from its route one request at a time (LxServerDecodes).

import {LxComponent, LxServerDecodes, lxDecoder, lxElement, lxGeneral, lxMark, lxPaintBytes, lxPaintGray,
        lxSigned, lxWhenPack} from './runtime.js';

const LE_PAD_SIZE = 220;

export default class LatentEditor extends LxComponent {
  constructor(root, host) {
    super(root, host);
    this.z = null;
    this.version = null;
    this.padDims = [0, 1];
    this.unsent = null;  // a z let go that the server has not heard yet
    this.frame = lxElement('div', 'le');
    this.root.appendChild(this.frame);
  }

  /** @param {import('./contract.js').EditorData} data */
  async setData(data) {
    this.data = data;
    const pack = await lxWhenPack(data.pack);
    if (this.data !== data) return;
    const rebuild = this.pack !== pack || this.kind !== data.kind;
    this.pack = pack;
    this.kind = data.kind;
    this.decoder = lxDecoder(pack, data.kind);
    if (!data.decode_url) {
      this.serverDecodes = null;
    } else if (!this.serverDecodes || this.serverDecodes.url !== data.decode_url) {
      this.serverDecodes = new LxServerDecodes(data.decode_url,
        (z, bytes, traversal) => this.showServerDecode(z, bytes, traversal),
        (z, message) => {
          this.caption.textContent = message;
          this.sendUnsent();
        });
    }
    this.d = pack.meta.models[data.kind].latent_dim;
    if (rebuild) this.build();
    if (this.version !== data.z_version || !this.z) {
      this.version = data.z_version;
      this.z = data.z.map((v) => this.snap(v));
      this.syncSliders();
      this.refresh(true);
    }
  }

  snap(value) {
    const {limit, step} = this.data;
    return Math.min(limit, Math.max(-limit, Math.round(value / step) * step));
  }

  // --- DOM -------------------------------------------------------------------------------------------

  build() {
    this.frame.replaceChildren();
    const {limit, step} = this.data;
    const top = lxElement('div', 'le-top');
    const controls = lxElement('div', 'le-controls');
    const sliders = lxElement('div', 'le-sliders');
    this.sliders = [];
    for (let i = 0; i < this.d; i++) {
      const row = lxElement('label', 'le-slider');
      const name = lxElement('span', 'le-name', `z${i + 1}`);
      const input = lxElement('input');
      Object.assign(input, {type: 'range', min: -limit, max: limit, step});
      input.setAttribute('aria-label', `z${i + 1}`);
      input.title = 'Most of N(0, 1) lies within ±2; beyond that the decoder extrapolates.';
      const value = lxElement('span', 'le-value');
      input.addEventListener('input', () => { this.z[i] = Number(input.value); this.refresh(false); });
      input.addEventListener('change', () => this.commit());
      row.append(name, input, value);
      sliders.appendChild(row);
      this.sliders.push({input, value});
    }
    controls.appendChild(sliders);
    controls.appendChild(this.buildPad());

    const output = lxElement('div', 'le-output');
    this.canvas = lxElement('canvas', 'le-image');
    this.canvas.setAttribute('role', 'img');
    this.canvas.setAttribute('aria-label', 'The decoded image');
    this.caption = lxElement('div', 'le-caption');
    this.prior = lxElement('div', 'le-prior');
    output.append(this.canvas, this.caption, this.prior);
    top.append(controls, output);

    this.traversalTitle = lxElement('div', 'le-section',
      'Traversals: each row sweeps one dimension from −3 to +3 while the others stay at z.');
    this.traversal = lxElement('canvas', 'le-traversal');
    this.traversal.setAttribute('role', 'img');
    this.traversal.setAttribute('aria-label', 'Traversals of each latent dimension from −3 to +3');
    this.traversalCaption = lxElement('div', 'le-caption');
    this.frame.append(top, this.traversalTitle, this.traversal, this.traversalCaption);
  }

  buildPad() {
    const wrap = lxElement('div', 'le-pad-wrap');
    const head = lxElement('div', 'le-pad-head');
    head.appendChild(lxElement('span', 'le-pad-title', '2-d pad'));
    this.padSelects = [];
    if (this.d > 2) {
      for (const axis of [0, 1]) {
        const select = lxElement('select', 'le-pad-select');
        select.setAttribute('aria-label', axis ? 'Pad vertical dimension' : 'Pad horizontal dimension');
        for (let i = 0; i < this.d; i++) select.appendChild(new Option(`z${i + 1}`, String(i)));
        select.value = String(this.padDims[axis]);
        select.addEventListener('change', () => {
          this.padDims[axis] = Number(select.value);
          this.drawPadBackground();
          this.drawPad();
        });
        head.append(select);
        this.padSelects.push(select);
      }
    }
    this.pad = lxElement('canvas', 'le-pad');
    this.pad.setAttribute('aria-label', 'Latent pad: drag, or use the arrow keys (Shift for big steps), '
      + 'to move two dimensions at once');
    // The keyboard moves the pad's point too: a step a key, the decode follows, the release commits.
    this.pad.tabIndex = 0;
    this.pad.setAttribute('role', 'application');
    this.pad.addEventListener('keydown', (e) => this.padKey(e));
    this.pad.addEventListener('keyup', (e) => { if (e.key.startsWith('Arrow')) this.commit(); });
    this.pad.width = this.pad.height = LE_PAD_SIZE * (window.devicePixelRatio || 1);
    this.pad.style.width = this.pad.style.height = LE_PAD_SIZE + 'px';
    this.pad.addEventListener('pointerdown', (e) => {
      this.pad.setPointerCapture(e.pointerId);
      this.dragging = true;
      this.padMove(e);
    });
    this.pad.addEventListener('pointermove', (e) => { if (this.dragging) this.padMove(e); });
    this.pad.addEventListener('pointerup', () => { if (this.dragging) { this.dragging = false; this.commit(); } });
    wrap.append(head, this.pad);
    this.drawPadBackground();
    return wrap;
  }

  // The held-out codes in the pad's two dimensions, faint, with the prior's 1σ and 2σ circles.
  drawPadBackground() {
    const size = LE_PAD_SIZE, background = document.createElement('canvas');
    background.width = background.height = size;
    const context = background.getContext('2d');
    context.fillStyle = '#ffffff';
    context.fillRect(0, 0, size, size);
    const [a, b] = this.padDims, scale = size / (2 * this.data.limit);
    const mu = this.pack.arrays[this.kind + '.mu'], labels = this.pack.arrays.labels;
    const colours = this.data.colours, n = this.pack.meta.count, every = Math.max(1, Math.floor(n / 4000));
    context.globalAlpha = 0.35;
    for (let i = 0; i < n; i += every) {
      context.fillStyle = colours[labels[i] % colours.length];
      context.fillRect(size / 2 + mu[i * this.d + a] * scale - 1, size / 2 - mu[i * this.d + b] * scale - 1, 2, 2);
    }
    context.globalAlpha = 1;
    context.strokeStyle = '#999999';
    context.setLineDash([4, 3]);
    for (const n of [1, 2]) {
      context.beginPath();
      context.arc(size / 2, size / 2, n * scale, 0, 2 * Math.PI);
      context.stroke();
    }
    context.setLineDash([]);
    context.strokeStyle = '#dddddd';
    context.beginPath();
    context.moveTo(size / 2, 0); context.lineTo(size / 2, size);
    context.moveTo(0, size / 2); context.lineTo(size, size / 2);
    context.stroke();
    this.padBackground = background;
  }

  drawPad() {
    const dpr = window.devicePixelRatio || 1, size = LE_PAD_SIZE, context = this.pad.getContext('2d');
    context.setTransform(dpr, 0, 0, dpr, 0, 0);
    context.drawImage(this.padBackground, 0, 0);
    const [a, b] = this.padDims, scale = size / (2 * this.data.limit);
    const x = size / 2 + this.z[a] * scale, y = size / 2 - this.z[b] * scale;
    context.fillStyle = '#C8374B';
    context.strokeStyle = '#ffffff';
    context.lineWidth = 2;
    context.beginPath();
    context.arc(x, y, 7, 0, 2 * Math.PI);
    context.fill();
    context.stroke();
    context.fillStyle = '#31333F';
    context.font = '11px sans-serif';
    context.fillText(`z${a + 1} →`, size - 34, size / 2 - 4);
    context.fillText(`↑ z${b + 1}`, size / 2 + 4, 12);
  }

  padMove(event) {
    const rect = this.pad.getBoundingClientRect(), scale = LE_PAD_SIZE / (2 * this.data.limit);
    const [a, b] = this.padDims;
    this.z[a] = this.snap((event.clientX - rect.left - LE_PAD_SIZE / 2) / scale);
    this.z[b] = this.snap(-(event.clientY - rect.top - LE_PAD_SIZE / 2) / scale);
    this.syncSliders();
    this.refresh(false);
  }

  padKey(event) {
    const moves = {ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, 1], ArrowDown: [0, -1]};
    if (!moves[event.key]) return;
    event.preventDefault();
    const [a, b] = this.padDims, [dx, dy] = moves[event.key], step = this.data.limit / (event.shiftKey ? 4 : 20);
    this.z[a] = this.snap(this.z[a] + dx * step);
    this.z[b] = this.snap(this.z[b] + dy * step);
    this.syncSliders();
    this.refresh(false);
  }

  syncSliders() {
    this.sliders.forEach(({input, value}, i) => {
      input.value = String(this.z[i]);
      value.textContent = this.z[i].toFixed(2);
    });
  }

  // --- decoding ----------------------------------------------------------------------------------------

  // Coalesces input to one decode per animation frame; `now` draws at once (a new vector from the server).
  refresh(now) {
    this.sliders.forEach(({value}, i) => { value.textContent = this.z[i].toFixed(2); });
    if (now) { this.paint(true); return; }
    if (this.frameRequest) return;
    this.frameRequest = requestAnimationFrame(() => {
      this.frameRequest = null;
      this.paint(false);
    });
  }

  paint(everything) {
    const z = this.z.slice(), text = this.zText(z);
    this.drawPad();
    const norm = Math.sqrt(z.reduce((s, v) => s + v * v, 0));
    this.prior.textContent = `‖z‖ = ${norm.toFixed(2)}; the prior density here is `
      + `${lxGeneral(Math.exp(-0.5 * norm * norm))} × its peak.`;
    if (!this.decoder) {
      if (this.serverDecodes && this.serverDecodes.want(z, everything)) {
        this.caption.textContent = `${this.data.title} at z = (${text}) · decoding on the server…`;
      }
      return;
    }
    const [, h, w] = this.pack.meta.image_shape;
    lxPaintGray(this.canvas, this.decoder.gray(z), w, h);
    this.caption.textContent = `${this.data.title} at z = (${text})`;
    this.canvas.setAttribute('aria-label', this.caption.textContent);
    this.host.dataset.z = z.map((v) => v.toFixed(2)).join(',');
    lxMark('editor-decode', {z: this.host.dataset.z});
    // A sweep costs 9 decodes per dimension: every frame for small latents, else when let go.
    if (everything || this.d * this.data.sweep.length <= 40) this.paintTraversal(z);
  }

  zText(z) {
    return z.slice(0, 6).map((v) => lxSigned(v, 2)).join(', ') + (z.length > 6 ? ', …' : '');
  }

  paintTraversal(z) {
    const [, h, w] = this.pack.meta.image_shape, rows = Math.min(this.d, this.data.traversal_rows);
    const {sweep} = this.data, columns = sweep.length;
    const width = columns * (w + 1) + 1, height = rows * (h + 1) + 1;
    this.traversal.width = width;
    this.traversal.height = height;
    const context = this.traversal.getContext('2d');
    const image = context.createImageData(width, height);
    image.data.fill(255);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < columns; c++) {
        const code = z.slice();
        code[r] = sweep[c];
        const gray = this.decoder.gray(code);
        for (let y = 0; y < h; y++) {
          for (let x = 0; x < w; x++) {
            const v = Math.round(Math.min(1, Math.max(0, gray[y * w + x])) * 255);
            const o = 4 * ((1 + r * (h + 1) + y) * width + 1 + c * (w + 1) + x);
            image.data[o] = image.data[o + 1] = image.data[o + 2] = v;
          }
        }
      }
    }
    context.putImageData(image, 0, 0);
    this.traversalCaption.textContent = `rows z1…z${rows}, columns `
      + sweep.map((v) => lxSigned(v, 2)).join(', ');
  }

  // The server hears z when it is let go. Where the server decodes, after the decode it asked for has come: the
  // run the event starts would otherwise compete with that decode for the server's interpreter.
  commit() {
    this.paint(true);
    this.unsent = this.z.slice();
    if (!this.serverDecodes || !this.serverDecodes.pending()) this.sendUnsent();
  }

  sendUnsent() {
    if (!this.unsent) return;
    this.send('z', {z: this.unsent});
    this.unsent = null;
  }

  showServerDecode(z, bytes, traversal) {
    const [, h, w] = this.pack.meta.image_shape;
    lxPaintBytes(this.canvas, bytes, 0, w, h);
    this.caption.textContent = `${this.data.title} at z = (${this.zText(z)}) · decoded on the server`;
    this.canvas.setAttribute('aria-label', this.caption.textContent);
    this.host.dataset.z = z.map((v) => v.toFixed(2)).join(',');
    lxMark('editor-decode', {z: this.host.dataset.z});
    if (traversal) this.paintServerTraversal(bytes, h, w);
    this.sendUnsent();
  }

  // The traversal strips follow the committed z: rows of tiles after the picture, with 1-pixel gutters.
  paintServerTraversal(bytes, h, w) {
    const rows = Math.min(this.d, this.data.traversal_rows), columns = this.data.sweep.length;
    const width = columns * (w + 1) + 1, height = rows * (h + 1) + 1;
    this.traversal.width = width;
    this.traversal.height = height;
    const context = this.traversal.getContext('2d');
    context.fillStyle = '#ffffff';
    context.fillRect(0, 0, width, height);
    const tile = document.createElement('canvas');
    for (let k = 0; k < rows * columns; k++) {
      lxPaintBytes(tile, bytes, (1 + k) * h * w, w, h);
      context.drawImage(tile, 1 + (k % columns) * (w + 1), 1 + Math.floor(k / columns) * (h + 1));
    }
    this.traversalCaption.textContent = `rows z1…z${rows}, columns ` + this.data.sweep.map((v) => lxSigned(v, 2)).join(', ');
  }
}
