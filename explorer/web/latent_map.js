// The latent map: every held-out image at its code, drawn by this script on a canvas, with hover
// decoding, clicks, box and lasso selection, zoom and pan, all answered in the browser; a keyboard
// cursor (arrows, Enter, + and -) does what the pointer does. The server
// hears only what it must act on (a clicked point or location, a selected region), through
// trigger values that rerun the page's fragment.

const LM_MARGIN = {left: 54, right: 10, top: 10, bottom: 42};
const LM_POINT_RADIUS = 3;      // CSS pixels, like Plotly's marker size 6
const LM_TRAINING_RADIUS = 2;   // the training split's points, when shown
const LM_HIT_RADIUS = 7;        // how close (CSS pixels) a click or hover must be to take a point
const LM_CELL = 16;             // hit-test grid cell, CSS pixels
const LM_CLICK_SLOP = 4;        // a press that moves more than this is a drag, not a click
const LM_BACKGROUND_TILES = 22; // decoder background: tiles per side of the visible region
const LM_POSTERIOR = '#D62728';
const LM_INSET = 150;           // the magnified posterior, CSS pixels per side
const LM_INSET_BELOW = 40;      // below this 2σ width on the map (CSS pixels), the posterior gets the inset
const LM_KEY_STEPS = 40;        // an arrow key moves the keyboard cursor 1/40 of the visible width (Shift: 1/8)

class LatentMap {
  constructor(root, host) {
    this.root = root;
    this.host = host;
    this.mode = 'pan';
    this.hidden = new Set();       // classes switched off in the legend
    this.hiddenSplits = new Set(); // 'held-out' or 'training', switched off in the legend
    this.selected = null;          // index of the inspected image
    this.location = null;          // [x, y] decoded by a click on empty space
    this.probeActive = false;      // the card shows the person's own image (data.probe)
    this.region = null;            // {shape, vertices} of a box or lasso
    this.members = null;           // Uint8Array: 1 for points inside the region
    this.seq = 0;                  // sequence number of the last event sent to the server
    this.viewKey = null;
    this.background = null;        // {canvas, extent, done} of browser-decoded tiles
    this.build();
  }

  // --- DOM -------------------------------------------------------------------------------------

  build() {
    const el = (tag, cls, text) => lxElement(tag, cls, text);
    this.frame = el('div', 'lm');
    const bar = el('div', 'lm-bar');
    this.hint = el('span', 'lm-hint');
    const tools = el('div', 'lm-tools');
    this.toolButtons = {};
    for (const [mode, label, title] of [['pan', 'Pan', 'Drag to pan, scroll to zoom'],
                                        ['box', 'Box', 'Drag a box to select the images inside it'],
                                        ['lasso', 'Lasso', 'Draw round the images to select']]) {
      const button = el('button', 'lm-tool', label);
      button.title = title;
      button.dataset.mode = mode;
      button.addEventListener('click', () => this.setMode(mode));
      tools.appendChild(button);
      this.toolButtons[mode] = button;
    }
    this.clearButton = el('button', 'lm-tool lm-clear', 'Clear selection');
    this.clearButton.addEventListener('click', () => this.setRegion(null, true));
    const reset = el('button', 'lm-tool', 'Reset view');
    reset.title = 'Back to the whole map (or double-click the map)';
    reset.addEventListener('click', () => { this.resetView(); this.draw(); });
    tools.append(this.clearButton, reset);
    bar.append(this.hint, tools);

    this.plot = el('div', 'lm-plot');
    this.scene = el('canvas', 'lm-scene');
    this.overlay = el('canvas', 'lm-overlay');
    this.tooltip = el('div', 'lm-tooltip');
    this.message = el('div', 'lm-message', 'Loading the map…');
    // Only the overlay is seen by assistive technology: it takes the focus and the keys, and says what it is.
    this.scene.setAttribute('aria-hidden', 'true');
    this.overlay.tabIndex = 0;
    this.overlay.setAttribute('role', 'application');
    this.overlay.setAttribute('aria-roledescription', 'latent map');
    this.status = el('div', 'lm-status');
    this.status.setAttribute('role', 'status');
    this.status.setAttribute('aria-live', 'polite');
    this.status.id = 'lm-status';
    this.overlay.setAttribute('aria-describedby', this.status.id);
    this.plot.append(this.scene, this.overlay, this.tooltip, this.message);
    // Beside the plot, never over it: the lens (the decode under the cursor) and the selected image's
    // posterior magnified, for posteriors too small to see on the map.
    const aside = el('div', 'lm-aside');
    this.lensCard = el('div', 'lm-card lm-lens-card');
    this.lensTitle = el('div', 'lm-card-title');
    this.lens = el('canvas', 'lm-lens');
    this.lens.setAttribute('role', 'img');
    this.lens.setAttribute('aria-label', 'Decoded image under the cursor');
    this.lensCaption = el('div', 'lm-card-caption');
    this.lensCard.append(this.lensTitle, this.lens, this.lensCaption);
    this.insetCard = el('div', 'lm-card lm-inset-card');
    this.inset = el('canvas', 'lm-inset');
    this.inset.setAttribute('role', 'img');
    this.inset.setAttribute('aria-label', 'The selected image\'s posterior, magnified');
    this.insetCaption = el('div', 'lm-card-caption');
    this.insetCard.append(el('div', 'lm-card-title', 'Posterior, magnified'), this.inset, this.insetCaption);
    this.insetCard.style.display = 'none';
    aside.append(this.lensCard, this.insetCard);
    this.legend = el('div', 'lm-legend');
    this.frame.append(bar, this.plot, this.status, aside, this.legend);
    this.root.appendChild(this.frame);
    this.setMode('pan');

    this.overlay.addEventListener('pointerdown', (e) => this.onPointerDown(e));
    this.overlay.addEventListener('pointermove', (e) => this.onPointerMove(e));
    this.overlay.addEventListener('pointerup', (e) => this.onPointerUp(e));
    this.overlay.addEventListener('pointerleave', () => this.onPointerLeave());
    this.overlay.addEventListener('wheel', (e) => this.onWheel(e), {passive: false});
    this.overlay.addEventListener('dblclick', () => { this.resetView(); this.draw(); });
    this.overlay.addEventListener('keydown', (e) => this.onKey(e));
    this.overlay.addEventListener('blur', () => { this.cursor = null; this.hideTooltip(); this.drawOverlay(); });
    this.resizeObserver = new ResizeObserver(() => this.resize());
    this.resizeObserver.observe(this.frame);
    this.onBusSelect = (event) => {
      if (this.pack && event.detail.pack === this.pack.id && event.detail.source !== this) {
        this.selected = event.detail.index;
        this.location = null;
        this.probeActive = false;
        this.drawOverlay();
      }
    };
    LX.bus.addEventListener('lx-select', this.onBusSelect);
  }

  destroy() {
    this.resizeObserver.disconnect();
    LX.bus.removeEventListener('lx-select', this.onBusSelect);
  }

  setMode(mode) {
    this.mode = mode;
    for (const [name, button] of Object.entries(this.toolButtons)) button.classList.toggle('lm-active', name === mode);
    this.overlay.style.cursor = mode === 'pan' ? 'grab' : 'crosshair';
  }

  // --- data from the server ------------------------------------------------------------------------

  async setData(data) {
    this.data = data;
    const pack = await lxWhenPack(data.pack);
    const pointsPack = data.points ? await lxWhenPack(data.points.pack) : pack;
    if (this.data !== data) return; // a newer render arrived while waiting
    const fresh = this.pack !== pack || this.pointsKey !== JSON.stringify([data.kind, data.view, data.points]);
    this.pack = pack;
    this.kind = data.kind;
    this.model = pack.meta.models[data.kind];
    this.decoder = lxDecoder(pack, data.kind);
    this.mainDecoder = lxDecoder(pack, pack.meta.main_kind);
    if (fresh) {
      this.pointsKey = JSON.stringify([data.kind, data.view, data.points]);
      this.loadPoints(pointsPack);
      this.buildLegend();
      this.background = this.backgroundJob = null;
      this.members = null;
    }
    // The server's view of the selection holds unless this map has sent an event it has not seen yet.
    if (data.ack >= this.seq) {
      this.selected = data.selected;
      this.location = data.location;
      this.probeActive = !!(data.probe && data.probe.active);
      this.setRegion(data.region, false);
    }
    if (this.viewKey !== data.view_key || !this.view) {
      this.viewKey = data.view_key;
      this.size = null;
      this.resize();
      this.resetView();
    }
    this.message.style.display = 'none';
    this.hint.textContent = (this.decodesHere()
      ? 'Hover to decode · click a point to inspect it, or empty space to decode there · scroll to zoom'
      : 'Hover a point to see its reconstruction · click it to inspect · scroll to zoom')
      + ' · keyboard: arrows move, Enter inspects';
    this.lensTitle.textContent = this.decodesHere() ? 'Decoder at the cursor' : 'Under the cursor';
    this.overlay.setAttribute('aria-label', `Latent map of ${this.x.length.toLocaleString()} images, `
      + `${this.data.axis_titles[0]} across, ${this.data.axis_titles[1]} up. Arrow keys move a cursor `
      + `that decodes where it stands${this.decodesHere() ? '' : ' (or shows the point under it)'}; `
      + 'Enter inspects the nearest image; plus and minus zoom; Escape leaves the cursor.');
    if (data.lens) this.showServerLens(data.lens);
    else if (fresh) this.showLensAtRest();
    this.host.dataset.ready = '1';
    // A new selection from the server only moves marks: the points are drawn again only when what
    // they look like changed.
    const sceneKey = JSON.stringify([this.pointsKey, data.background, data.server_background, this.region,
                                     this.viewKey, data.colours]);
    if (sceneKey !== this.sceneKey || !this.screenX) {
      this.sceneKey = sceneKey;
      this.draw();
    } else {
      this.drawOverlay();
    }
  }

  decodesHere() {
    return this.data.view === 'z';
  }

  loadPoints(pointsPack) {
    const n = this.pack.meta.count;
    this.labels = this.pack.arrays.labels;
    this.x = new Float32Array(n);
    this.y = new Float32Array(n);
    if (this.data.points) {
      const xy = pointsPack.arrays[this.data.points.array];
      for (let i = 0; i < n; i++) { this.x[i] = xy[2 * i]; this.y[i] = xy[2 * i + 1]; }
    } else {
      const mu = this.pack.arrays[this.kind + '.mu'];
      const d = this.model.latent_dim;
      for (let i = 0; i < n; i++) {
        const [px, py] = this.project(mu.subarray(i * d, (i + 1) * d));
        this.x[i] = px;
        this.y[i] = py;
      }
    }
  }

  project(z) {
    return lxProject(z, this.model.projection);
  }

  linearView() {
    return this.data.view !== 'tsne';
  }

  buildLegend() {
    this.legend.replaceChildren();
    const names = this.pack.meta.class_names;
    const counts = new Array(names.length).fill(0);
    for (let i = 0; i < this.labels.length; i++) counts[this.labels[i]]++;
    names.forEach((name, c) => {
      if (!counts[c]) return;
      const chip = lxElement('button', 'lm-chip');
      const swatch = lxElement('span', 'lm-swatch');
      swatch.style.background = this.colour(c);
      chip.append(swatch, lxElement('span', '', name));
      chip.title = `${counts[c].toLocaleString()} images; click to hide or show`;
      chip.classList.toggle('lm-off', this.hidden.has(c));
      chip.addEventListener('click', () => {
        if (this.hidden.has(c)) this.hidden.delete(c); else this.hidden.add(c);
        chip.classList.toggle('lm-off', this.hidden.has(c));
        this.draw();
      });
      this.legend.appendChild(chip);
    });
    const heldOut = this.heldOut(), n = this.labels.length;
    if (heldOut < n) {
      for (const [split, count] of [['held-out', heldOut], ['training', n - heldOut]]) {
        const chip = lxElement('button', 'lm-chip lm-split');
        const swatch = lxElement('span', split === 'held-out' ? 'lm-swatch lm-swatch-held-out' : 'lm-swatch lm-swatch-training');
        chip.append(swatch, lxElement('span', '', `${split} ${count.toLocaleString()}`));
        chip.title = `The ${split} split; click to hide or show`;
        chip.classList.toggle('lm-off', this.hiddenSplits.has(split));
        chip.addEventListener('click', () => {
          if (this.hiddenSplits.has(split)) this.hiddenSplits.delete(split); else this.hiddenSplits.add(split);
          chip.classList.toggle('lm-off', this.hiddenSplits.has(split));
          this.draw();
        });
        this.legend.appendChild(chip);
      }
    }
  }

  // Indices below this are held-out images; the training split, when the pack has it, follows.
  heldOut() {
    return this.pack.meta.held_out === undefined ? this.x.length : this.pack.meta.held_out;
  }

  shown(i) {
    return !this.hidden.has(this.labels[i]) && !this.hiddenSplits.has(i < this.heldOut() ? 'held-out' : 'training');
  }

  colour(c) {
    const colours = this.data.colours;
    return colours[c % colours.length];
  }

  // --- the view: data ranges to pixels -------------------------------------------------------------

  // The plot takes the component's width; with equal axes its height follows the extent's shape
  // (within 360 px and the page's maximum), so no band of the plot is left empty.
  resize() {
    const width = this.frame.clientWidth;
    if (!width || !this.data) return;
    let height = this.data.height;
    if (this.data.equal_axes) {
      const [[x0, x1], [y0, y1]] = this.data.extent;
      const plotWidth = width - LM_MARGIN.left - LM_MARGIN.right;
      height = Math.round(Math.min(this.data.height, Math.max(360,
        plotWidth * (y1 - y0) / (x1 - x0) + LM_MARGIN.top + LM_MARGIN.bottom)));
    }
    if (this.size && this.size.width === width && this.size.height === height) return;
    this.plot.style.height = height + 'px';
    const dpr = window.devicePixelRatio || 1;
    for (const canvas of [this.scene, this.overlay]) {
      canvas.width = Math.round(width * dpr);
      canvas.height = Math.round(height * dpr);
      canvas.style.width = width + 'px';
      canvas.style.height = height + 'px';
    }
    this.size = {width, height, dpr, pw: width - LM_MARGIN.left - LM_MARGIN.right,
                 ph: height - LM_MARGIN.top - LM_MARGIN.bottom};
    if (this.data && this.pack) {
      if (!this.view) this.resetView();
      this.fitAspect();
      this.draw();
    }
  }

  resetView() {
    if (!this.size || !this.data) return;
    const [[x0, x1], [y0, y1]] = this.data.extent;
    this.view = {cx: (x0 + x1) / 2, cy: (y0 + y1) / 2, sx: this.size.pw / (x1 - x0), sy: this.size.ph / (y1 - y0)};
    this.fitAspect();
  }

  // Equal axes: one unit is as long across as up, so circles stay circles.
  fitAspect() {
    if (this.view && this.data.equal_axes) this.view.sx = this.view.sy = Math.min(this.view.sx, this.view.sy);
  }

  toPx(x, y) {
    const {cx, cy, sx, sy} = this.view, {pw, ph} = this.size;
    return [LM_MARGIN.left + pw / 2 + (x - cx) * sx, LM_MARGIN.top + ph / 2 - (y - cy) * sy];
  }

  toData(px, py) {
    const {cx, cy, sx, sy} = this.view, {pw, ph} = this.size;
    return [cx + (px - LM_MARGIN.left - pw / 2) / sx, cy - (py - LM_MARGIN.top - ph / 2) / sy];
  }

  visibleExtent() {
    const [x0, y1] = this.toData(LM_MARGIN.left, LM_MARGIN.top);
    const [x1, y0] = this.toData(LM_MARGIN.left + this.size.pw, LM_MARGIN.top + this.size.ph);
    return [[x0, x1], [y0, y1]];
  }

  insidePlot(px, py) {
    return px >= LM_MARGIN.left && px <= LM_MARGIN.left + this.size.pw
        && py >= LM_MARGIN.top && py <= LM_MARGIN.top + this.size.ph;
  }

  // --- drawing ---------------------------------------------------------------------------------------

  draw() {
    if (!this.view || !this.size || !this.pack) return;
    if (this.pendingFrame) return;
    this.pendingFrame = requestAnimationFrame(() => {
      this.pendingFrame = null;
      this.drawScene();
      this.drawOverlay();
      this.ensureBackground();
    });
  }

  drawScene() {
    const {width, height, dpr, pw, ph} = this.size;
    const context = this.scene.getContext('2d', {willReadFrequently: true});
    context.setTransform(dpr, 0, 0, dpr, 0, 0);
    context.fillStyle = '#ffffff';
    context.fillRect(0, 0, width, height);
    this.drawGrid(context);
    this.drawBackgroundImage(context);
    // Points: stamped straight into the pixels, which is many times faster than one path per point
    // when the browser has no GPU, and keeps 70,000 points interactive. The training split (when shown) goes
    // first, smaller and lighter, under the held-out points.
    const image = context.getImageData(0, 0, this.scene.width, this.scene.height);
    const pixels = image.data, stride = this.scene.width;
    const left = LM_MARGIN.left * dpr, top = LM_MARGIN.top * dpr;
    const right = left + pw * dpr, bottom = top + ph * dpr;
    const rgb = this.data.colours.map((hex) => [1, 3, 5].map((k) => parseInt(hex.slice(k, k + 2), 16)));
    const n = this.x.length, heldOut = this.heldOut(), screenX = new Float32Array(n), screenY = new Float32Array(n);
    const {cx, cy, sx, sy} = this.view;
    const ox = LM_MARGIN.left + pw / 2, oy = LM_MARGIN.top + ph / 2;
    const splits = [[heldOut, n, 'training', LM_TRAINING_RADIUS, 0.3], [0, heldOut, 'held-out', LM_POINT_RADIUS, 0.78]];
    for (const pass of this.members ? [0, 1] : [1]) {
      for (const [from, to, split, radius, opacity] of splits) {
        if (this.hiddenSplits.has(split)) continue;
        const stamp = lxStamp(radius * dpr), alpha = pass ? opacity : opacity * 0.15;
        for (let i = from; i < to; i++) {
          const c = this.labels[i];
          if (this.hidden.has(c) || (this.members && this.members[i] !== pass)) continue;
          const px = (ox + (this.x[i] - cx) * sx) * dpr, py = (oy - (this.y[i] - cy) * sy) * dpr;
          screenX[i] = px / dpr;
          screenY[i] = py / dpr;
          if (px < left || px > right || py < top || py > bottom) continue;
          const [r, g, b] = rgb[c % rgb.length];
          const ix = Math.round(px), iy = Math.round(py);
          for (let s = 0; s < stamp.length; s += 3) {
            const qx = ix + stamp[s], qy = iy + stamp[s + 1];
            if (qx < left || qx >= right || qy < top || qy >= bottom) continue;
            const a = alpha * stamp[s + 2], o = 4 * (qy * stride + qx);
            pixels[o] += (r - pixels[o]) * a;
            pixels[o + 1] += (g - pixels[o + 1]) * a;
            pixels[o + 2] += (b - pixels[o + 2]) * a;
          }
        }
      }
    }
    context.putImageData(image, 0, 0);
    this.screenX = screenX;
    this.screenY = screenY;
    this.buildHitGrid();
    this.host.dataset.drawn = String(Number(this.host.dataset.drawn || 0) + 1);
  }

  drawGrid(context) {
    const [[x0, x1], [y0, y1]] = this.visibleExtent();
    this.ticks = {x: lxTicks(x0, x1), y: lxTicks(y0, y1)};
    context.lineWidth = 1;
    for (const axis of ['x', 'y']) {
      for (const value of this.ticks[axis].values) {
        context.strokeStyle = Math.abs(value) < 1e-12 ? '#c8c8c8' : '#eeeeee';
        context.beginPath();
        if (axis === 'x') {
          const [px] = this.toPx(value, 0);
          context.moveTo(px, LM_MARGIN.top);
          context.lineTo(px, LM_MARGIN.top + this.size.ph);
        } else {
          const [, py] = this.toPx(0, value);
          context.moveTo(LM_MARGIN.left, py);
          context.lineTo(LM_MARGIN.left + this.size.pw, py);
        }
        context.stroke();
      }
    }
  }

  // Where the decoder background comes from: tiles decoded here (the finished set, else the set being
  // decoded), or, for a decoder only the server can run, the server's picture of the initial region.
  backgroundSource() {
    if (!this.data.background || !this.decodesHere()) return null;
    if (this.decoder) {
      const tiles = this.background || this.backgroundJob;
      return tiles ? {source: tiles.canvas, extent: tiles.extent} : null;
    }
    const server = this.data.server_background;
    if (!server) return null;
    if (!this.serverBackground || this.serverBackground.uri !== server.uri) {
      this.serverBackground = {uri: server.uri, image: null};
      lxLoadImage(server.uri).then((image) => {
        if (this.serverBackground.uri === server.uri) { this.serverBackground.image = image; this.draw(); }
      });
    }
    return this.serverBackground.image ? {source: this.serverBackground.image, extent: server.extent} : null;
  }

  drawBackgroundImage(context) {
    const background = this.backgroundSource();
    if (!background) return;
    const [[x0, x1], [y0, y1]] = background.extent;
    const [px0, py0] = this.toPx(x0, y1), [px1, py1] = this.toPx(x1, y0);
    context.save();
    context.beginPath();
    context.rect(LM_MARGIN.left, LM_MARGIN.top, this.size.pw, this.size.ph);
    context.clip();
    context.globalAlpha = 0.55;
    context.imageSmoothingEnabled = false;
    context.drawImage(background.source, px0, py0, px1 - px0, py1 - py0);
    context.restore();
  }

  // The decoder's output tiled over the visible region, a few tiles per frame so the page never
  // stalls; decoded again once the view has settled on a new region.
  ensureBackground() {
    if (!this.data.background || !this.decodesHere() || !this.decoder) return;
    const extent = this.visibleExtent();
    const key = extent.flat().map((v) => v.toFixed(4)).join(',');
    if ((this.background && this.background.key === key) || (this.backgroundJob && this.backgroundJob.key === key)) return;
    clearTimeout(this.backgroundTimer);
    this.backgroundTimer = setTimeout(() => this.decodeBackground(extent, key), this.background ? 200 : 0);
  }

  decodeBackground(extent, key) {
    const n = LM_BACKGROUND_TILES, [, h, w] = this.decoder.outputShape;
    const canvas = document.createElement('canvas');
    canvas.width = n * w;
    canvas.height = n * h;
    const context = canvas.getContext('2d');
    const tile = context.createImageData(w, h);
    const job = {key, extent, canvas, next: 0};
    this.backgroundJob = job;
    const [[x0, x1], [y0, y1]] = extent;
    const step = () => {
      if (this.backgroundJob !== job) return;
      const deadline = performance.now() + 8;
      while (job.next < n * n && performance.now() < deadline) {
        const row = Math.floor(job.next / n), column = job.next % n;
        const gray = this.decoder.gray([x0 + (column + 0.5) * (x1 - x0) / n, y1 - (row + 0.5) * (y1 - y0) / n]);
        for (let i = 0; i < w * h; i++) {
          const v = 255 - Math.round(Math.min(1, Math.max(0, gray[i])) * 255);
          tile.data[4 * i] = tile.data[4 * i + 1] = tile.data[4 * i + 2] = v;
          tile.data[4 * i + 3] = 255;
        }
        context.putImageData(tile, column * w, row * h);
        job.next++;
      }
      const finished = job.next === n * n;
      if (finished) {
        this.background = job;
        this.backgroundJob = null;
      }
      // Partial tiles are shown only while there is no finished background to show instead.
      if (finished || !this.background) {
        this.drawScene();
        this.drawOverlay();
      }
      if (!finished) requestAnimationFrame(step);
    };
    requestAnimationFrame(step);
  }

  buildHitGrid() {
    const {width, height} = this.size;
    const columns = Math.ceil(width / LM_CELL), rows = Math.ceil(height / LM_CELL);
    const count = new Int32Array(columns * rows + 1);
    const n = this.x.length, cellOf = new Int32Array(n).fill(-1);
    for (let i = 0; i < n; i++) {
      if (!this.shown(i)) continue;
      const px = this.screenX[i], py = this.screenY[i];
      if (!this.insidePlot(px, py)) continue;
      const cell = Math.floor(py / LM_CELL) * columns + Math.floor(px / LM_CELL);
      cellOf[i] = cell;
      count[cell + 1]++;
    }
    for (let k = 1; k < count.length; k++) count[k] += count[k - 1];
    const items = new Int32Array(count[count.length - 1]), fill = count.slice(0, -1);
    for (let i = 0; i < n; i++) if (cellOf[i] >= 0) items[fill[cellOf[i]]++] = i;
    this.hit = {columns, rows, start: count, items};
  }

  // The visible point nearest to (px, py) within the hit radius, or null.
  pointAt(px, py) {
    if (!this.hit) return null;
    const {columns, rows, start, items} = this.hit;
    const column = Math.floor(px / LM_CELL), row = Math.floor(py / LM_CELL);
    let best = null, bestDistance = LM_HIT_RADIUS * LM_HIT_RADIUS;
    for (let r = Math.max(0, row - 1); r <= Math.min(rows - 1, row + 1); r++) {
      for (let c = Math.max(0, column - 1); c <= Math.min(columns - 1, column + 1); c++) {
        const cell = r * columns + c;
        for (let k = start[cell]; k < start[cell + 1]; k++) {
          const i = items[k], dx = this.screenX[i] - px, dy = this.screenY[i] - py;
          const distance = dx * dx + dy * dy;
          if (distance <= bestDistance) { best = i; bestDistance = distance; }
        }
      }
    }
    return best;
  }

  drawOverlay() {
    if (!this.view || !this.size || !this.pack) return;
    const {width, height, dpr, pw, ph} = this.size;
    const context = this.overlay.getContext('2d');
    context.setTransform(dpr, 0, 0, dpr, 0, 0);
    context.clearRect(0, 0, width, height);
    this.drawAxes(context);
    context.save();
    context.beginPath();
    context.rect(LM_MARGIN.left, LM_MARGIN.top, pw, ph);
    context.clip();
    if (this.region) this.drawRegion(context, this.region.shape, this.region.vertices, false);
    if (this.dragShape) this.drawRegion(context, this.dragShape.shape, this.dragShape.vertices, true);
    const probe = this.probeCode();
    if (probe) {
      if (this.probeActive && this.data.posterior && probe.sigma && this.model.has_sigma) {
        this.drawPosterior(context, this.posteriorGeometryOf(probe.mu, probe.sigma));
      }
      this.drawProbe(context, probe);
    }
    if (this.selected !== null && this.selected !== undefined && this.selected < this.x.length) {
      if (this.data.posterior) this.drawPosterior(context, this.posteriorGeometry(this.selected));
      const [px, py] = this.toPx(this.x[this.selected], this.y[this.selected]);
      context.lineWidth = 3;
      context.strokeStyle = '#111111';
      context.beginPath();
      context.arc(px, py, 8, 0, 2 * Math.PI);
      context.stroke();
    }
    if (this.location && this.decodesHere()) {
      const [px, py] = this.toPx(this.location[0], this.location[1]);
      context.strokeStyle = '#2CA02C';
      context.lineWidth = 3;
      context.beginPath();
      context.moveTo(px - 6, py - 6); context.lineTo(px + 6, py + 6);
      context.moveTo(px - 6, py + 6); context.lineTo(px + 6, py - 6);
      context.stroke();
    }
    if (this.cursor) this.drawCursor(context);
    context.restore();
    this.drawInset(probe);
    this.host.dataset.selected = this.selected === null || this.selected === undefined ? '' : String(this.selected);
    lxMark('map-overlay', {selected: this.selected});
  }

  drawAxes(context) {
    const {pw, ph} = this.size;
    context.fillStyle = '#555555';
    context.font = '11px sans-serif';
    context.textAlign = 'center';
    context.textBaseline = 'top';
    for (const value of this.ticks ? this.ticks.x.values : []) {
      const [px] = this.toPx(value, 0);
      if (px >= LM_MARGIN.left - 1 && px <= LM_MARGIN.left + pw + 1) {
        context.fillText(lxTickLabel(value, this.ticks.x.step), px, LM_MARGIN.top + ph + 4);
      }
    }
    context.textAlign = 'right';
    context.textBaseline = 'middle';
    for (const value of this.ticks ? this.ticks.y.values : []) {
      const [, py] = this.toPx(0, value);
      if (py >= LM_MARGIN.top - 1 && py <= LM_MARGIN.top + ph + 1) {
        context.fillText(lxTickLabel(value, this.ticks.y.step), LM_MARGIN.left - 6, py);
      }
    }
    context.strokeStyle = '#999999';
    context.lineWidth = 1;
    context.strokeRect(LM_MARGIN.left + 0.5, LM_MARGIN.top + 0.5, pw, ph);
    context.fillStyle = '#31333F';
    context.font = '13px sans-serif';
    context.textAlign = 'center';
    context.textBaseline = 'bottom';
    context.fillText(this.data.axis_titles[0], LM_MARGIN.left + pw / 2, LM_MARGIN.top + ph + LM_MARGIN.bottom - 2);
    context.save();
    context.translate(13, LM_MARGIN.top + ph / 2);
    context.rotate(-Math.PI / 2);
    context.textBaseline = 'middle';
    context.fillText(this.data.axis_titles[1], 0, 0);
    context.restore();
  }

  // q(z|x) seen through the projection, in map coordinates: the 1σ and 2σ outlines and the draws
  // z = μ + σ·ε; null where no posterior can be drawn (an AE's codes, a t-SNE view).
  posteriorGeometry(index) {
    if (!this.linearView() || !this.model.has_sigma) return null;
    return this.posteriorGeometryOf(lxRow(this.pack, this.kind + '.mu', index),
                                    lxRow(this.pack, this.kind + '.sigma', index));
  }

  posteriorGeometryOf(mu, sigma) {
    const projection = this.model.projection;
    return {
      centre: lxProject(mu, projection),
      outlines: {1: lxPosteriorOutline(mu, sigma, projection, 1, 73), 2: lxPosteriorOutline(mu, sigma, projection, 2, 73)},
      draws: (this.data.eps || []).map((eps) => lxProject(mu.map((m, k) => m + sigma[k] * eps[k]), projection)),
    };
  }

  drawPosterior(context, geometry) {
    if (!geometry) return;
    context.strokeStyle = LM_POSTERIOR;
    context.lineWidth = 2;
    for (const [n, dash] of [[1, []], [2, [6, 4]]]) {
      context.setLineDash(dash);
      context.beginPath();
      geometry.outlines[n].forEach(([x, y], k) => {
        const [px, py] = this.toPx(x, y);
        if (k === 0) context.moveTo(px, py); else context.lineTo(px, py);
      });
      context.stroke();
    }
    context.setLineDash([]);
    for (const [x, y] of geometry.draws) {
      const [px, py] = this.toPx(x, y);
      context.fillStyle = LM_POSTERIOR;
      context.strokeStyle = '#ffffff';
      context.lineWidth = 1;
      context.beginPath();
      context.moveTo(px, py - 6); context.lineTo(px + 5, py); context.lineTo(px, py + 6); context.lineTo(px - 5, py);
      context.closePath();
      context.fill();
      context.stroke();
    }
  }

  // --- the posterior, magnified: where σ is a few pixels on the map, q(z|x) would be one red blob ------

  // The geometry of the posterior shown now (the selected image's, else the person's own picture's), or null.
  shownPosterior(probe) {
    if (!this.data.posterior) return null;
    if (this.selected !== null && this.selected !== undefined && this.selected < this.x.length) {
      return this.posteriorGeometry(this.selected);
    }
    if (probe && this.probeActive && probe.sigma && this.model.has_sigma) {
      return this.posteriorGeometryOf(probe.mu, probe.sigma);
    }
    return null;
  }

  drawInset(probe) {
    const geometry = this.shownPosterior(probe);
    const outline = geometry && geometry.outlines[2];
    let outlineHalf = 0, halfWidth = 0;
    if (outline) {
      const [cx, cy] = geometry.centre, reach = ([x, y]) => Math.max(Math.abs(x - cx), Math.abs(y - cy));
      for (const point of outline) outlineHalf = Math.max(outlineHalf, reach(point));
      halfWidth = outlineHalf;
      for (const point of geometry.draws) halfWidth = Math.max(halfWidth, reach(point));
    }
    // Drawn only when the 2σ outline is too small to read on the map at its present zoom.
    if (!outline || !(outlineHalf > 0) || 2 * outlineHalf * this.view.sx >= LM_INSET_BELOW) {
      this.insetCard.style.display = 'none';
      this.host.dataset.inset = '';
      return;
    }
    this.insetCard.style.display = '';
    const size = LM_INSET, dpr = window.devicePixelRatio || 1;
    if (this.inset.width !== Math.round(size * dpr)) {
      this.inset.width = this.inset.height = Math.round(size * dpr);
      this.inset.style.width = this.inset.style.height = size + 'px';
    }
    const [cx, cy] = geometry.centre, half = halfWidth * 1.25, scale = size / (2 * half);
    const toInset = (x, y) => [size / 2 + (x - cx) * scale, size / 2 - (y - cy) * scale];
    const context = this.inset.getContext('2d');
    context.setTransform(dpr, 0, 0, dpr, 0, 0);
    context.fillStyle = '#ffffff';
    context.fillRect(0, 0, size, size);
    // The images whose codes fall inside the magnified square, as on the map.
    for (let i = 0; i < this.x.length; i++) {
      if (Math.abs(this.x[i] - cx) > half || Math.abs(this.y[i] - cy) > half || !this.shown(i)) continue;
      const [px, py] = toInset(this.x[i], this.y[i]);
      context.fillStyle = this.colour(this.labels[i]);
      context.globalAlpha = 0.6;
      context.beginPath();
      context.arc(px, py, 3, 0, 2 * Math.PI);
      context.fill();
    }
    context.globalAlpha = 1;
    context.strokeStyle = LM_POSTERIOR;
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
    context.fillStyle = LM_POSTERIOR;
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
    const zoom = scale / this.view.sx;
    const caption = `×${zoom >= 10 ? Math.round(zoom) : zoom.toFixed(1)}: 1σ and 2σ of q(z|x), `
      + `${geometry.draws.length} draws z = μ + σ·ε`;
    this.insetCaption.textContent = caption;
    this.inset.setAttribute('aria-label', `The posterior q(z|x) magnified ${caption}`);
    this.host.dataset.inset = String(zoom);
  }

  // --- the keyboard: a cursor that hovers and clicks like the pointer ---------------------------------

  describe(index) {
    const name = this.pack.meta.class_names[this.labels[index]];
    const split = this.heldOut() < this.x.length ? (index < this.heldOut() ? ' · held-out' : ' · training') : '';
    return `#${index} · ${name}${split}`;
  }

  onKey(event) {
    if (!this.view || !this.size) return;
    const moves = {ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1]};
    if (!this.cursor) {
      const selected = this.selected !== null && this.selected !== undefined && this.selected < this.x.length;
      this.cursor = selected ? this.toPx(this.x[this.selected], this.y[this.selected])
        : [LM_MARGIN.left + this.size.pw / 2, LM_MARGIN.top + this.size.ph / 2];
    }
    if (moves[event.key]) {
      const step = this.size.pw / (event.shiftKey ? 8 : LM_KEY_STEPS), [dx, dy] = moves[event.key];
      const [x, y] = this.cursor;
      this.cursor = [Math.min(LM_MARGIN.left + this.size.pw, Math.max(LM_MARGIN.left, x + dx * step)),
                     Math.min(LM_MARGIN.top + this.size.ph, Math.max(LM_MARGIN.top, y + dy * step))];
    } else if (event.key === 'Enter' || event.key === ' ') {
      const index = this.nearestShown(...this.cursor);
      if (index !== null) {
        this.selectPoint(index);
        this.status.textContent = `Inspecting ${this.describe(index)}`;
      }
      event.preventDefault();
      return;
    } else if (event.key === '+' || event.key === '=' || event.key === '-') {
      const [x, y] = this.toData(...this.cursor), factor = event.key === '-' ? 1 / 1.5 : 1.5;
      this.view.sx *= factor;
      this.view.sy *= factor;
      const [nx, ny] = this.toData(...this.cursor);
      this.view.cx += x - nx;
      this.view.cy += y - ny;
      this.draw();
    } else if (event.key === 'Escape') {
      this.cursor = null;
      this.hideTooltip();
      this.drawOverlay();
      return;
    } else {
      return;
    }
    event.preventDefault();
    this.showHover(...this.cursor);
    const z = this.toData(...this.cursor), nearest = this.nearestShown(...this.cursor);
    this.status.textContent = `Cursor at ${this.data.axis_titles[0]} ${z[0].toFixed(2)}, `
      + `${this.data.axis_titles[1]} ${z[1].toFixed(2)}`
      + (nearest !== null ? `; nearest image ${this.describe(nearest)}` : '');
    this.host.dataset.cursor = z.map((v) => v.toFixed(3)).join(',');
    this.drawOverlay();
  }

  // The drawn point nearest to (px, py), however far (null when none is drawn).
  nearestShown(px, py) {
    let best = null, bestDistance = Infinity;
    for (let i = 0; i < this.x.length; i++) {
      if (!this.shown(i) || !this.insidePlot(this.screenX[i], this.screenY[i])) continue;
      const distance = (this.screenX[i] - px) ** 2 + (this.screenY[i] - py) ** 2;
      if (distance < bestDistance) { best = i; bestDistance = distance; }
    }
    return best;
  }

  drawCursor(context) {
    const [px, py] = this.cursor;
    context.strokeStyle = '#111111';
    context.lineWidth = 1.5;
    context.beginPath();
    context.moveTo(px - 10, py); context.lineTo(px - 3, py);
    context.moveTo(px + 3, py); context.lineTo(px + 10, py);
    context.moveTo(px, py - 10); context.lineTo(px, py - 3);
    context.moveTo(px, py + 3); context.lineTo(px, py + 10);
    context.stroke();
  }

  // The plot's rectangle inside the component, in CSS pixels (for tests and tools).
  plotArea() {
    return {left: LM_MARGIN.left, top: LM_MARGIN.top, width: this.size.pw, height: this.size.ph};
  }

  // The person's own image, where this map can place it (a linear view): {mu, sigma, position} or null.
  probeCode() {
    const probe = this.data.probe;
    if (!probe || !this.linearView() || !probe.mu[this.kind]) return null;
    const mu = probe.mu[this.kind];
    return {mu, sigma: this.kind === 'vae' ? probe.sigma : null, position: this.project(mu)};
  }

  drawProbe(context, probe) {
    const [px, py] = this.toPx(...probe.position);
    context.beginPath();
    for (let k = 0; k < 10; k++) {
      const r = k % 2 ? 5 : 12, a = -Math.PI / 2 + (k * Math.PI) / 5;
      context.lineTo(px + r * Math.cos(a), py + r * Math.sin(a));
    }
    context.closePath();
    context.fillStyle = this.probeActive ? '#FFB000' : 'rgba(255, 176, 0, 0.75)';
    context.strokeStyle = '#111111';
    context.lineWidth = this.probeActive ? 2 : 1.2;
    context.fill();
    context.stroke();
  }

  drawRegion(context, shape, vertices, live) {
    context.strokeStyle = '#333333';
    context.lineWidth = 1.5;
    context.setLineDash(live ? [4, 3] : [6, 3]);
    context.fillStyle = 'rgba(120, 120, 120, 0.08)';
    context.beginPath();
    const corners = shape === 'box'
      ? [[vertices[0][0], vertices[0][1]], [vertices[1][0], vertices[0][1]], [vertices[1][0], vertices[1][1]],
         [vertices[0][0], vertices[1][1]]]
      : vertices;
    corners.forEach(([x, y], k) => {
      const [px, py] = this.toPx(x, y);
      if (k === 0) context.moveTo(px, py); else context.lineTo(px, py);
    });
    context.closePath();
    context.fill();
    context.stroke();
    context.setLineDash([]);
  }

  // --- input -----------------------------------------------------------------------------------------

  localPoint(event) {
    const rect = this.overlay.getBoundingClientRect();
    return [event.clientX - rect.left, event.clientY - rect.top];
  }

  onPointerDown(event) {
    if (event.button !== 0 || !this.view) return;
    const [px, py] = this.localPoint(event);
    this.overlay.setPointerCapture(event.pointerId);
    this.press = {px, py, view: {...this.view}, moved: false, path: [this.toData(px, py)]};
    if (this.mode === 'pan') this.overlay.style.cursor = 'grabbing';
  }

  onPointerMove(event) {
    if (!this.view) return;
    const [px, py] = this.localPoint(event);
    const press = this.press;
    if (press) {
      if (!press.moved && Math.hypot(px - press.px, py - press.py) > LM_CLICK_SLOP) press.moved = true;
      if (!press.moved) return;
      this.hideTooltip();
      if (this.mode === 'pan') {
        this.view.cx = press.view.cx - (px - press.px) / this.view.sx;
        this.view.cy = press.view.cy + (py - press.py) / this.view.sy;
        this.draw();
      } else if (this.mode === 'box') {
        this.dragShape = {shape: 'box', vertices: [this.toData(press.px, press.py), this.toData(px, py)]};
        this.drawOverlay();
      } else {
        press.path.push(this.toData(px, py));
        this.dragShape = {shape: 'lasso', vertices: press.path};
        this.drawOverlay();
      }
      return;
    }
    this.hover = {px, py};
    if (!this.hoverFrame) {
      this.hoverFrame = requestAnimationFrame(() => {
        this.hoverFrame = null;
        if (this.hover) this.showHover(this.hover.px, this.hover.py);
      });
    }
  }

  onPointerUp(event) {
    const press = this.press;
    this.press = null;
    this.overlay.style.cursor = this.mode === 'pan' ? 'grab' : 'crosshair';
    if (!press || !this.view) return;
    const [px, py] = this.localPoint(event);
    if (!press.moved) {
      this.click(px, py);
    } else if (this.mode !== 'pan' && this.dragShape) {
      const shape = this.dragShape;
      this.dragShape = null;
      if (shape.shape === 'box' || shape.vertices.length >= 3) this.setRegion(shape, true);
      else this.drawOverlay();
    }
  }

  onPointerLeave() {
    this.hover = null;
    this.hideTooltip();
  }

  onWheel(event) {
    if (!this.view) return;
    event.preventDefault();
    const [px, py] = this.localPoint(event);
    const [x, y] = this.toData(px, py);
    const factor = Math.exp(-event.deltaY * 0.0015);
    this.view.sx *= factor;
    this.view.sy *= factor;
    const [nx, ny] = this.toData(px, py);
    this.view.cx += x - nx;
    this.view.cy += y - ny;
    this.draw();
  }

  click(px, py) {
    if (!this.insidePlot(px, py)) return;
    const probe = this.probeCode();
    if (probe) {
      const [qx, qy] = this.toPx(...probe.position);
      if (Math.hypot(qx - px, qy - py) <= 12) {
        this.selectProbe();
        return;
      }
    }
    const index = this.pointAt(px, py);
    if (index !== null) {
      this.selectPoint(index);
    } else if (this.decodesHere()) {
      const [x, y] = this.toData(px, py);
      this.location = [x, y];
      this.selected = null;
      this.probeActive = false;
      this.send('location', {x, y});
      LX.bus.dispatchEvent(new CustomEvent('lx-location', {detail: {pack: this.pack.id, kind: this.kind, z: [x, y]}}));
      this.drawOverlay();
    }
  }

  selectProbe() {
    this.selected = null;
    this.location = null;
    this.probeActive = true;
    this.drawOverlay();
    LX.bus.dispatchEvent(new CustomEvent('lx-probe', {detail: {pack: this.pack.id}}));
    this.send('probe', {});
  }

  selectPoint(index) {
    this.selected = index;
    this.location = null;
    this.probeActive = false;
    lxMark('map-click', {index});
    this.drawOverlay();
    LX.bus.dispatchEvent(new CustomEvent('lx-select', {detail: {pack: this.pack.id, index, source: this}}));
    this.send('point', {index});
  }

  send(event, payload) {
    this.seq = Math.max(this.seq + 1, Date.now());
    this.trigger(event, {...payload, seq: this.seq});
  }

  setRegion(region, fromUser) {
    const same = JSON.stringify(region || null) === JSON.stringify(this.region);
    this.region = region || null;
    if (!same || (region && !this.members)) this.members = region ? lxRegionMembers(region, this.x, this.y) : null;
    this.clearButton.style.display = region ? '' : 'none';
    if (fromUser) {
      this.send('region', region ? {shape: region.shape, vertices: region.vertices} : {shape: null, vertices: []});
      this.draw();
    }
  }

  // --- the lens: what the decoder makes of the spot under the cursor ----------------------------------

  showHover(px, py) {
    const index = this.insidePlot(px, py) ? this.pointAt(px, py) : null;
    if (index !== null) {
      this.tooltip.textContent = this.describe(index);
      this.tooltip.style.left = (px + 12) + 'px';
      this.tooltip.style.top = (py - 26) + 'px';
      this.tooltip.style.display = 'block';
    } else {
      this.hideTooltip();
    }
    if (!this.insidePlot(px, py)) return;
    if (this.decodesHere()) {
      const z = this.toData(px, py);
      if (this.decoder) {
        this.paintLens(this.decoder.gray(z), `z = (${lxSigned(z[0], 2)}, ${lxSigned(z[1], 2)})`);
      } else {
        this.requestServerLens(z);
      }
    } else if (index !== null && this.mainDecoder) {
      const main = this.pack.meta.main_kind;
      const name = this.pack.meta.class_names[this.labels[index]];
      this.paintLens(this.mainDecoder.gray(lxRow(this.pack, main + '.mu', index)),
                     `#${index} · ${name}: ${main.toUpperCase()} reconstruction`);
    }
  }

  // Before any hover: the decode at the centre of the map (or a hint where there is nothing to decode).
  showLensAtRest() {
    if (this.decodesHere() && this.decoder) {
      const [[x0, x1], [y0, y1]] = this.data.extent, z = [(x0 + x1) / 2, (y0 + y1) / 2];
      this.paintLens(this.decoder.gray(z), `z = (${lxSigned(z[0], 2)}, ${lxSigned(z[1], 2)}); move over the map`);
    } else {
      this.lensCaption.textContent = this.decodesHere() ? 'Rest the cursor on the map' : 'Hover a point';
    }
  }

  paintLens(gray, caption) {
    const [, h, w] = this.pack.meta.image_shape;
    lxPaintGray(this.lens, gray, w, h);
    this.lensCaption.textContent = caption;
    this.lens.setAttribute('aria-label', `Decoded image: ${caption}`);
    this.host.dataset.lens = caption;
    lxMark('lens', {caption});
  }

  // No decoder in the browser: ask the server, one request at a time, for where the cursor rests.
  requestServerLens(z) {
    this.lensWanted = z;
    clearTimeout(this.lensTimer);
    this.lensTimer = setTimeout(() => {
      if (this.lensInFlight && performance.now() - this.lensInFlight < 2000) return;
      this.lensInFlight = performance.now();
      this.trigger('hover', {z: this.lensWanted});
    }, 60);
  }

  showServerLens(lens) {
    this.lensInFlight = 0;
    const [, h, w] = this.pack.meta.image_shape;
    if (!lens.bytes) lens.bytes = lxBytes(lens.pixels);
    lxPaintBytes(this.lens, lens.bytes, 0, w, h);
    const caption = `z = (${lxSigned(lens.z[0], 2)}, ${lxSigned(lens.z[1], 2)}) · decoded on the server`;
    this.lensCaption.textContent = caption;
    this.lens.setAttribute('aria-label', `Decoded image: ${caption}`);
    this.host.dataset.lens = caption;
    if (this.lensWanted && (this.lensWanted[0] !== lens.z[0] || this.lensWanted[1] !== lens.z[1])) {
      this.requestServerLens(this.lensWanted);
    }
  }

  hideTooltip() {
    this.tooltip.style.display = 'none';
  }
}

// The pixels a point of this radius covers, as [dx, dy, coverage] triples (anti-aliased at the edge).
function lxStamp(radius) {
  const reach = Math.ceil(radius), stamp = [];
  for (let dy = -reach; dy <= reach; dy++) {
    for (let dx = -reach; dx <= reach; dx++) {
      const coverage = Math.min(1, Math.max(0, radius + 0.5 - Math.hypot(dx, dy)));
      if (coverage > 0) stamp.push(dx, dy, coverage);
    }
  }
  return stamp;
}

// Axis ticks at 1, 2 or 5 times a power of ten, about six over the range.
function lxTicks(low, high) {
  if (!(high > low)) return {step: 1, values: []};
  const raw = (high - low) / 6, power = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) || 10 * power;
  const values = [];
  for (let v = Math.ceil(low / step) * step; v <= high + step * 1e-9; v += step) values.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return {step, values};
}

function lxTickLabel(value, step) {
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  return value.toFixed(decimals);
}

// 1 for points inside a box ([[x0, y0], [x1, y1]]) or a lasso polygon (even-odd rule), else 0.
function lxRegionMembers(region, x, y) {
  const n = x.length, members = new Uint8Array(n), v = region.vertices;
  if (region.shape === 'box') {
    const x0 = Math.min(v[0][0], v[1][0]), x1 = Math.max(v[0][0], v[1][0]);
    const y0 = Math.min(v[0][1], v[1][1]), y1 = Math.max(v[0][1], v[1][1]);
    for (let i = 0; i < n; i++) members[i] = x[i] >= x0 && x[i] <= x1 && y[i] >= y0 && y[i] <= y1 ? 1 : 0;
    return members;
  }
  for (let i = 0; i < n; i++) {
    let inside = false;
    for (let a = 0, b = v.length - 1; a < v.length; b = a++) {
      if ((v[a][1] > y[i]) !== (v[b][1] > y[i])
          && x[i] < (v[b][0] - v[a][0]) * (y[i] - v[a][1]) / (v[b][1] - v[a][1]) + v[a][0]) inside = !inside;
    }
    members[i] = inside ? 1 : 0;
  }
  return members;
}

// Mounts (or updates) the component in this element; returns what the element shows.
function lxMountMap(component) {
  const {data, parentElement, setTriggerValue} = component;
  let map = parentElement.__latentMap;
  if (!map) map = parentElement.__latentMap = new LatentMap(parentElement, parentElement.host || parentElement);
  map.trigger = setTriggerValue;
  map.setData(data);
  return map;
}
