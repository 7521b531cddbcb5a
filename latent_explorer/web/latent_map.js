// The latent map: every held-out image at its code, drawn by Plotly.js (WebGL points, one trace per class
// and split), with Plotly's own axes, legend, zoom, pan, box, lasso and PNG export. What must be instant stays
// here: the lens decodes at the cursor from a mousemove handler (Plotly's hover is off), a click finds the
// nearest point in a grid of the points' pixels and paints the card, and the marks of the selection are
// layout shapes, replaced as one array by Plotly.relayout, which never draws the points again. A keyboard
// cursor (arrows, Enter, + and -) does what the pointer does. The server hears only what it must act on
// (a clicked point or location, a selected region), through trigger values that rerun the page's fragment.

/**
 * What the server sends on every run: latent_explorer/components.py's MapData, field for field.
 * @typedef {Object} MapData
 * @property {string} pack id of the pack with the codes, labels and decoders
 * @property {string} kind 'vae' or 'ae'
 * @property {string} view 'z', 'pca', 'tsne' or 'active' (two latent dimensions as axes)
 * @property {?{pack: string, array: string}} points t-SNE coordinates, else the codes projected here
 * @property {string[]} axis_titles
 * @property {number[][]} extent [[x0, x1], [y0, y1]]
 * @property {boolean} equal_axes
 * @property {string} view_key a new key resets zoom and pan
 * @property {number} height at most, CSS pixels
 * @property {string[]} colours the class palette
 * @property {?number} selected
 * @property {?number[]} location
 * @property {?{shape: string, vertices: number[][]}} region
 * @property {boolean} posterior
 * @property {boolean} background
 * @property {?number[][]} eps
 * @property {number} ack the sequence number of the last event the server handled
 * @property {?Object} probe
 * @property {?{z: number[], pixels: string}} lens
 * @property {?{uri: string, extent: number[][]}} server_background
 * @property {number} max_lasso_vertices a longer lasso is thinned to this many before it is sent
 * @property {?string} region_members base64, one bit a point: which points the region takes
 * @property {number} image_marks zoomed in until at most this many points are visible, the points become images
 * @property {number} background_tiles the decoder background's tiles per side
 * @property {string} marks 'originals' (from the server, on request) or 'reconstructions' (decoded here)
 * @property {boolean} webgl false once the server heard that this browser has no WebGL
 * @property {?Object} layers drawn under the points (web/map_layers.js)
 * @property {?{mean: number[], components: number[][], names: string[]}} projection two latent axes
 * @property {?{pack: string, epochs: number[]}} replay the training replay's frames (web/map_replay.js), when open
 * @property {?Object} colour_by {pack, array, quantity, label, title, colorscale, cmin, cmax}: the held-out points
 *   coloured by a quantity (latent_explorer/colouring.py), else by class
 * @property {?MapOverlay[]} overlays marks of the page (a path, a moved z, the prior's circles), with legend entries
 * @property {boolean} interactive false: a map to look at (Edit, Sample, Compare), without inspect, lens or regions
 * @property {?string} title
 * @property {?number} point_opacity the held-out points' opacity, where the page's marks must stand out
 */

/**
 * @typedef {Object} MapOverlay
 * @property {string} name
 * @property {number[][]} points [[x, y], ...] in map coordinates
 * @property {string} colour
 * @property {string} mode 'lines', 'markers' or 'lines+markers'
 * @property {string} dash 'solid', 'dash' or 'dot'
 * @property {number} size a marker's size, CSS pixels
 * @property {string} symbol 'circle' or 'star'
 */

const LM_MARGIN = {l: 54, r: 10, t: 10, b: 42};
const LM_LEGEND_ROOM = 64;      // pixels under the plot for the legends
const LM_HIT_RADIUS = 7;        // how close (CSS pixels) a click or hover must be to take a point
const LM_CELL = 16;             // hit-test grid cell, CSS pixels
const LM_CLICK_SLOP = 4;        // a press that moves more than this is a drag, not a click
const LM_POSTERIOR = '#D62728';
const LM_INSET = 150;           // the magnified posterior, CSS pixels per side
const LM_INSET_BELOW = 40;      // below this 2σ width on the map (CSS pixels), the posterior gets the inset
const LM_MARK_SIZE = 26;        // an image mark's side, CSS pixels
const LM_THUMBNAIL_WAIT = 150;  // ms after the last zoom or pan step before the originals are asked for
const LM_THUMBNAIL_PATIENCE = 5000; // ms before images asked for and not received are asked for again
const LM_THUMBNAIL_CACHE = 20000; // original images kept per pack (a 28x28 one is about 1 kB as a data URI)
const LM_KEY_STEPS = 40;        // an arrow key moves the keyboard cursor 1/40 of the visible width (Shift: 1/8)
const LM_COLOUR_BAR_ROOM = 86; // pixels right of the plot for the colour bar of a quantity
const LM_UNCOLOURED = '#bbbbbb';
const LM_LEGEND_GREY = '#777777'; // the class legend's swatches while the points show a quantity // points without a value of the quantity (the training split)
const LM_HOLD = 300;            // ms a finger rests on the map before its moves drive the lens instead of the page
const LM_MIN_PLOT = 240;        // the interactive map's plot area is never shorter (CSS pixels)
const LM_SCREEN_GAP = 8;        // room kept under the interactive map's plot area on the first screen
const LM_SPLITS = {
  'held-out': {size: 6, opacity: 0.78, swatch: '#555555'},
  training: {size: 4, opacity: 0.3, swatch: '#bbbbbb'},
};

// A phone or tablet: the finger is the main pointer (what the map's hint speaks of).
function lxTouchFirst() {
  return window.matchMedia('(pointer: coarse)').matches;
}

// Any touch screen: a finger's drag over the map must scroll the page, so nothing drags by default.
function lxHasTouch() {
  return navigator.maxTouchPoints > 0;
}

// The element that scrolls the page around `element` (Streamlit scrolls its own pane, not the window).
function lxScrollParent(element) {
  for (let e = element.parentElement; e; e = e.parentElement) {
    const overflow = getComputedStyle(e).overflowY;
    if ((overflow === 'auto' || overflow === 'scroll') && e.scrollHeight > e.clientHeight) return e;
  }
  return document.scrollingElement;
}

// Plotly.js arrives beside our scripts (web/runtime_loader.js), maybe after them.
function lxWhenPlotly() {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  return new Promise((resolve) => window.addEventListener('lx-plotly', () => resolve(window.Plotly), {once: true}));
}

function lxHasWebGL() {
  try {
    return !!document.createElement('canvas').getContext('webgl');
  } catch (error) {
    return false;
  }
}

// A closed SVG path through [x, y] points (Plotly's path shapes take data coordinates or pixels).
function lxPath(points) {
  return points.map(([x, y], k) => `${k ? 'L' : 'M'}${x},${y}`).join(' ') + ' Z';
}

class LatentMap {
  constructor(root, host) {
    this.root = root;
    this.host = host;
    this.webgl = lxHasWebGL();
    this.hidden = new Set();       // classes switched off in the legend
    this.hiddenSplits = new Set(); // 'held-out' or 'training', switched off in the legend
    this.selected = null;          // index of the inspected image
    this.location = null;          // [x, y] decoded by a click on empty space
    this.probeActive = false;      // the card shows the person's own image (data.probe)
    this.region = null;            // {shape, vertices} of a box or lasso
    this.members = null;           // Uint8Array: 1 for points inside the region
    this.seq = 0;                  // sequence number of the last event sent to the server
    this.viewKey = null;
    this.background = null;        // {canvas, extent, key} of browser-decoded tiles
    this.build();
  }

  // --- DOM -------------------------------------------------------------------------------------

  build() {
    const el = (tag, cls, text) => lxElement(tag, cls, text);
    this.frame = el('div', 'lm');
    const bar = this.bar = el('div', 'lm-bar');
    this.hint = el('span', 'lm-hint');
    const tools = el('div', 'lm-tools');
    this.clearButton = el('button', 'lm-tool lm-clear', 'Clear selection');
    this.clearButton.addEventListener('click', () => this.setRegion(null, true));
    tools.append(this.clearButton);
    bar.append(this.hint, tools);

    this.plot = el('div', 'lm-plot');
    // Plotly draws into `overlay`, which also takes the focus and the keys and says what it is.
    this.overlay = el('div', 'lm-figure');
    this.tooltip = el('div', 'lm-tooltip');
    this.message = el('div', 'lm-message', 'Loading the map…');
    this.overlay.tabIndex = 0;
    this.overlay.setAttribute('role', 'application');
    this.overlay.setAttribute('aria-roledescription', 'latent map');
    // Named from the start: a screen reader can reach the figure before its pack has arrived.
    this.overlay.setAttribute('aria-label', 'Latent map, loading');
    this.status = el('div', 'lm-status');
    this.status.setAttribute('role', 'status');
    this.status.setAttribute('aria-live', 'polite');
    this.status.id = 'lm-status';
    this.overlay.setAttribute('aria-describedby', this.status.id);
    this.plot.append(this.overlay, this.tooltip, this.message);
    this.fallback = el('div', 'lm-fallback');
    this.fallback.style.display = 'none';
    // Beside the plot, never over it: the lens (the decode under the cursor) and the selected image's
    // posterior magnified, for posteriors too small to see on the map.
    const aside = this.aside = el('div', 'lm-aside');
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
    this.frame.append(bar, this.plot, this.fallback, this.status, aside);
    this.root.appendChild(this.frame);

    // Capture: Plotly's drag layers sit inside the figure and may stop what bubbles.
    this.overlay.addEventListener('pointerdown', (e) => this.onPointerDown(e), true);
    this.overlay.addEventListener('pointermove', (e) => this.onPointerMove(e), true);
    this.onWindowPointerUp = (e) => this.onPointerUp(e);
    // The browser took the press for a scroll: no click at its end.
    this.overlay.addEventListener('pointercancel', () => { this.press = null; }, true);
    this.overlay.addEventListener('touchstart', (e) => this.onTouchStart(e), {capture: true, passive: true});
    this.overlay.addEventListener('touchmove', (e) => this.onTouchMove(e), {capture: true, passive: false});
    this.overlay.addEventListener('touchend', () => this.endHold(), true);
    this.overlay.addEventListener('touchcancel', () => this.endHold(), true);
    this.overlay.addEventListener('pointerleave', () => this.onPointerLeave());
    this.overlay.addEventListener('keydown', (e) => this.onKey(e));
    this.overlay.addEventListener('blur', () => { this.cursor = null; this.hideTooltip(); this.drawOverlay(); });
    this.resizeObserver = new ResizeObserver(() => this.resize());
    this.onBusSelect = (event) => {
      if (this.pack && event.detail.pack === this.pack.id && event.detail.source !== this) {
        this.selected = event.detail.index;
        this.location = null;
        this.probeActive = false;
        this.drawOverlay();
      }
    };
    // The card's "Back to the map" (a narrow screen, where the card is under the map).
    this.onShowMap = () => {
      if (this.data && this.interactive()) this.frame.scrollIntoView({block: 'start', behavior: 'smooth'});
    };
    this.onThumbnails = (event) => {
      if (this.plotted && this.screenX && this.pack && event.detail.pack === this.pack.id
          && this.data.marks === 'originals') {
        this.showImageMarks();
      }
    };
    this.attach();
  }

  // What listens outside the element; Streamlit detaches a component before it draws it again in the same
  // element, where this map (and its Plotly figure) carries on.
  attach() {
    this.resizeObserver.observe(this.frame);
    window.addEventListener('pointerup', this.onWindowPointerUp, true);
    LX.bus.addEventListener('lx-select', this.onBusSelect);
    LX.bus.addEventListener('lx-thumbnails', this.onThumbnails);
    LX.bus.addEventListener('lx-show-map', this.onShowMap);
    this.attached = true;
  }

  destroy() {
    if (this.skipLink && this.skipLink.__map === this) this.skipLink.remove();
    this.resizeObserver.disconnect();
    window.removeEventListener('pointerup', this.onWindowPointerUp, true);
    LX.bus.removeEventListener('lx-select', this.onBusSelect);
    LX.bus.removeEventListener('lx-thumbnails', this.onThumbnails);
    LX.bus.removeEventListener('lx-show-map', this.onShowMap);
    this.attached = false;
  }

  // --- data from the server ------------------------------------------------------------------------

  /** @param {MapData} data */
  async setData(data) {
    this.data = data;
    const pack = await lxWhenPack(data.pack);
    const pointsPack = data.points ? await lxWhenPack(data.points.pack) : pack;
    const colourPack = data.colour_by ? await lxWhenPack(data.colour_by.pack) : null;
    const Plotly = await lxWhenPlotly();
    if (this.data !== data) return; // a newer render arrived while waiting
    this.Plotly = Plotly;
    const fresh = this.pack !== pack || this.pointsKey !== JSON.stringify([data.kind, data.view, data.points, data.projection]);
    this.pack = pack;
    this.colourValues = colourPack ? colourPack.arrays[data.colour_by.array] : null;
    this.host.dataset.colourBy = colourPack ? data.colour_by.quantity : 'class';
    this.kind = data.kind;
    this.model = pack.meta.models[data.kind];
    this.decoder = lxDecoder(pack, data.kind);
    this.mainDecoder = lxDecoder(pack, pack.meta.main_kind);
    if (fresh) {
      this.host.dataset.ready = '0'; // until Plotly has drawn the new points
      this.pointsKey = JSON.stringify([data.kind, data.view, data.points, data.projection]);
      this.loadPoints(pointsPack);
      this.background = this.backgroundJob = null;
      this.members = null;
      this.marks = null;
    }
    // The server's view of the selection holds unless this map has sent an event it has not seen yet.
    if (data.ack >= this.seq) {
      this.selected = data.selected;
      this.location = data.location;
      this.probeActive = !!(data.probe && data.probe.active);
      this.setRegion(data.region, false);
      if (data.region_members) this.setMembers(lxBits(data.region_members, this.x.length));
    }
    this.syncLensPlace();
    lxSyncReplay(this, data.replay);
    const newView = this.viewKey !== data.view_key;
    this.viewKey = data.view_key;
    this.message.style.display = 'none';
    this.hint.textContent = lxTouchFirst()
      ? (this.decodesHere() ? 'Tap a point to inspect it, or empty space to decode there · hold a finger, then '
        + 'move it to decode under it' : 'Tap a point to inspect it · hold a finger on a point to see its '
        + 'reconstruction') + ' · zoom and pan in the toolbar'
      : (this.decodesHere() ? 'Hover to decode · click a point to inspect it, or empty space to decode it'
        : 'Hover a point to see its reconstruction · click it to inspect')
        + ' · zoom, pan, box, lasso: toolbar · keys: arrows, Enter';
    this.lensTitle.textContent = this.decodesHere() ? 'Decoder at the cursor' : 'Under the cursor';
    this.bar.style.display = this.aside.style.display = this.interactive() ? '' : 'none';
    this.syncSkipLink();
    this.overlay.setAttribute('aria-label', `Latent map of ${this.x.length.toLocaleString()} images, `
      + `${this.data.axis_titles[0]} across, ${this.data.axis_titles[1]} up. Arrow keys move a cursor `
      + `that decodes where it stands${this.decodesHere() ? '' : ' (or shows the point under it)'}; `
      + 'Enter inspects the nearest image; plus and minus zoom; Escape leaves the cursor.');
    this.fallback.textContent = this.webgl ? ''
      : 'This browser has no WebGL: the map is drawn as SVG, with the held-out split only.';
    this.fallback.style.display = this.webgl ? 'none' : '';
    // Told until it answers that it knows (data.webgl), the server then offers no map of every image.
    if (!this.webgl && data.webgl) this.trigger('webgl', {available: false});
    const marksChanged = this.marksShown !== undefined && this.marksShown !== data.marks;
    this.marksShown = data.marks;
    if (data.lens) this.showServerLens(data.lens);
    else if (fresh) this.showLensAtRest();
    // A new selection from the server only moves marks: the points are drawn again only when what
    // they look like changed.
    const sceneKey = JSON.stringify([this.pointsKey, this.region, this.membersRevision, this.viewKey, data.colours,
      data.height, data.colour_by]);
    if (sceneKey !== this.sceneKey || !this.plotted) {
      this.sceneKey = sceneKey;
      await this.drawPoints(newView);
    } else {
      this.drawOverlay();
    }
    if (this.data !== data) return;
    if (marksChanged && this.plotted && !fresh) this.showImageMarks();
    this.syncBackground();
    if (this.plotted) this.host.dataset.ready = '1';
  }

  // The background switched on or off: decode it for the visible region, or take the image away.
  syncBackground() {
    if (!this.plotted) return;
    this.ensureBackground();
    const images = this.images();
    if (JSON.stringify(images) !== JSON.stringify(this.overlay.layout.images || [])) {
      this.relayoutImages();
    }
  }

  decodesHere() {
    return (this.data.view === 'z' || this.data.view === 'active') && this.interactive();
  }

  // The whole code at a spot of the map (a linear view).
  latentAt(xy) {
    return lxUnproject(xy, lxMapProjection(this.data, this.model));
  }

  // The layers' images (web/map_layers.js) above the decoder background, the image marks above both.
  images() {
    return this.backgroundImages().concat(lxLayerImages(this.data), this.markImages());
  }


  // Explore's map inspects, decodes and selects; the other pages' maps are to look at (zoom, pan, legend).
  interactive() {
    return this.data.interactive !== false;
  }

  // The page's first Tab stop while an interactive map is on it: a link (seen only while it has the focus) that
  // takes the keyboard past the sidebar and the controls, straight to the map.
  syncSkipLink() {
    if (!this.interactive()) return;
    let link = document.getElementById('lx-skip-to-map');
    if (!link) {
      link = lxElement('a', 'lx-skip-link', 'Skip to the map');
      link.id = 'lx-skip-to-map';
      link.href = '#';
      link.addEventListener('click', (event) => {
        event.preventDefault();
        if (link.__map) link.__map.overlay.focus();
      });
    }
    if (document.body.firstChild !== link) document.body.prepend(link);
    link.__map = this;
    this.skipLink = link;
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
    return lxProject(z, lxMapProjection(this.data, this.model));
  }

  linearView() {
    return this.data.view !== 'tsne';
  }

  // Indices below this are held-out images; the training split, when the pack has it, follows.
  heldOut() {
    return this.pack.meta.held_out === undefined ? this.x.length : this.pack.meta.held_out;
  }

  splitOf(i) {
    return i < this.heldOut() ? 'held-out' : 'training';
  }

  shown(i) {
    return !this.hidden.has(this.labels[i]) && !this.hiddenSplits.has(this.splitOf(i))
      && (this.webgl || this.splitOf(i) === 'held-out');
  }

  colour(c) {
    const colours = this.data.colours;
    return colours[c % colours.length];
  }

  // --- colour by a quantity: the held-out points on one colour axis, with its colour bar -------------------

  colouredByQuantity() {
    return !!this.colourValues;
  }

  // A trace's marker colours: its class's colour, or each point's value of the quantity on the shared colour
  // axis (points without a value, the training split's, in grey).
  markerColour(indices, c) {
    if (!this.colouredByQuantity()) return {color: this.colour(c)};
    const values = this.colourValues;
    if (indices[indices.length - 1] >= values.length) return {color: LM_UNCOLOURED};
    return {color: indices.map((i) => values[i]), coloraxis: 'coloraxis'};
  }

  // Coloured by a quantity, the points' colours no longer name their class: the class legend gets entries of its
  // own, in one neutral grey (a class colour would read as a value of the colour bar), that toggle the classes
  // as before (onLegendClick).
  classLegend(names) {
    return names.map((name, c) => {
      this.traceOf.push({split: null, c});
      return {
        type: 'scatter', mode: 'markers', x: [null], y: [null], name, legendgroup: 'class-' + c, hoverinfo: 'none',
        marker: {color: LM_LEGEND_GREY, size: 8}, visible: this.hidden.has(c) ? 'legendonly' : true,
      };
    });
  }

  // Room under the plot for the legend's rows: at least LM_LEGEND_ROOM, more where a page's marks add entries
  // that wrap onto further rows (an estimate from the names' lengths: the legend grows upwards from the bottom).
  legendRoom(width) {
    const names = this.pack.meta.class_names.concat((this.data.overlays || []).map((overlay) => overlay.name));
    let rows = 1, used = 0;
    for (const name of names) {
      const entry = 57 + 7.5 * name.length;
      if (used && used + entry > width - 20) { rows++; used = 0; }
      used += entry;
    }
    // A legend taller than its room pushes the x axis's title up onto the tick labels (Plotly keeps titles
    // clear of legends).
    return Math.max(LM_LEGEND_ROOM, 16 + 25 * rows);
  }

  // The page's marks are layout shapes (drawn with the selection's, never redrawing the points); each gets a
  // legend entry of its look, which toggles nothing.
  overlayLegend() {
    return (this.data.overlays || []).map((overlay) => {
      this.traceOf.push({split: null, c: null, overlay: true});
      return {
        type: 'scatter', mode: overlay.mode, x: [null], y: [null], name: overlay.name, hoverinfo: 'none',
        line: {color: overlay.colour, dash: overlay.dash, width: 2},
        marker: {color: overlay.colour, size: Math.min(overlay.size, 12), symbol: overlay.symbol === 'star' ? 'star' : 'circle'},
      };
    });
  }

  overlayShapes(marker) {
    const shapes = [];
    for (const overlay of this.data.overlays || []) {
      if (overlay.mode.includes('lines') && overlay.points.length > 1) {
        shapes.push({type: 'path', xref: 'x', yref: 'y', path: lxOpenPath(overlay.points),
                     line: {color: overlay.colour, width: 2, dash: overlay.dash}});
      }
      if (overlay.mode.includes('markers')) {
        const r = overlay.size / 2;
        const path = overlay.symbol === 'star' ? lxStar(r, r * 0.45)
          : lxPath(Array.from({length: 16}, (_, k) => [r * Math.cos(k * Math.PI / 8), r * Math.sin(k * Math.PI / 8)]));
        for (const [x, y] of overlay.points) {
          shapes.push(marker(x, y, path, {fillcolor: overlay.colour, line: {color: '#ffffff', width: 1}}));
        }
      }
    }
    return shapes;
  }

  colourAxis() {
    const colour = this.data.colour_by;
    return {
      colorscale: colour.colorscale, cmin: colour.cmin, cmax: colour.cmax,
      colorbar: {title: {text: colour.title, side: 'right'}, thickness: 12, len: 0.9, y: 0.5, yanchor: 'middle',
                 x: 1, xanchor: 'left', xpad: 8, outlinewidth: 0, tickfont: {size: 11}},
    };
  }

  // The quantity's value of one point, as the hover and the card say it ('' without one).
  valueText(index) {
    if (!this.colouredByQuantity() || index >= this.colourValues.length) return '';
    return ` · ${this.data.colour_by.label} ${lxFormatValue(this.colourValues[index])}`;
  }

  margin() {
    return this.colouredByQuantity() ? {...LM_MARGIN, r: LM_MARGIN.r + LM_COLOUR_BAR_ROOM} : LM_MARGIN;
  }

  // --- the figure --------------------------------------------------------------------------------------

  // One trace per split and class, training first (under the held-out points); the class legend toggles a
  // class in both splits, the split legend a split in every class (see onLegendClick).
  traces() {
    const names = this.pack.meta.class_names, n = this.x.length, heldOut = this.heldOut();
    const splits = heldOut < n ? [['training', heldOut, n], ['held-out', 0, heldOut]] : [['held-out', 0, n]];
    const traces = [];
    this.traceOf = [];
    for (const [split, from, to] of splits) {
      if (!this.webgl && split === 'training') continue;
      const members = names.map(() => []);
      for (let i = from; i < to; i++) members[this.labels[i]].push(i);
      members.forEach((indices, c) => {
        if (!indices.length) return;
        const style = LM_SPLITS[split];
        const x = new Float32Array(indices.length), y = new Float32Array(indices.length);
        indices.forEach((i, k) => { x[k] = this.x[i]; y[k] = this.y[i]; });
        const trace = {
          type: this.webgl ? 'scattergl' : 'scatter', mode: 'markers', x, y, name: names[c],
          legendgroup: 'class-' + c, showlegend: split === 'held-out' && !this.colouredByQuantity(), hoverinfo: 'none',
          marker: {...this.markerColour(indices, c), size: style.size,
                   opacity: split === 'held-out' && this.data.point_opacity ? this.data.point_opacity : style.opacity},
          visible: this.hidden.has(c) || this.hiddenSplits.has(split) ? 'legendonly' : true,
        };
        if (this.members) {
          trace.selectedpoints = indices.map((i, k) => (this.members[i] ? k : -1)).filter((k) => k >= 0);
          trace.unselected = {marker: {opacity: style.opacity * 0.15}};
        }
        traces.push(trace);
        this.traceOf.push({split, c, indices});
      });
    }
    if (this.colouredByQuantity()) traces.push(...this.classLegend(names));
    traces.push(...this.overlayLegend());
    if (heldOut < n) {
      for (const [split, count] of [['held-out', heldOut], ['training', n - heldOut]]) {
        if (!this.webgl && split === 'training') continue;
        traces.push({
          type: 'scatter', mode: 'markers', x: [null], y: [null], name: `${split} ${count.toLocaleString()}`,
          legend: 'legend2', hoverinfo: 'none', marker: {color: LM_SPLITS[split].swatch, size: 8},
          visible: this.hiddenSplits.has(split) ? 'legendonly' : true,
        });
        this.traceOf.push({split, c: null});
      }
    }
    return traces;
  }

  // The plot takes the component's width; Explore's map fits the first screen, the other pages' maps with equal
  // axes follow the extent's shape (within 360 px and the page's maximum), so no band of the plot is left empty.
  figureHeight(width) {
    const margin = this.margin(), plotWidth = width - margin.l - margin.r;
    if (this.interactive()) return this.firstScreenPlotHeight(plotWidth) + margin.t + margin.b;
    if (!this.data.equal_axes) return this.data.height;
    const [[x0, x1], [y0, y1]] = this.data.extent;
    return Math.round(Math.min(this.data.height, Math.max(360,
      plotWidth * (y1 - y0) / (x1 - x0) + margin.t + margin.b)));
  }

  // Explore's map is the first thing a visitor sees: its plot area at least as tall as wide (taller where the
  // extent's shape asks), but all of it within the window below the map's top, and within data.height. With
  // equal axes Plotly widens the range that has room to spare, so every point stays inside.
  firstScreenPlotHeight(plotWidth) {
    let shaped = plotWidth;
    if (this.data.equal_axes) {
      const [[x0, x1], [y0, y1]] = this.data.extent;
      shaped = Math.max(plotWidth, plotWidth * (y1 - y0) / (x1 - x0));
    }
    const scroller = lxScrollParent(this.overlay), margin = this.margin();
    const top = this.overlay.getBoundingClientRect().top + scroller.scrollTop;
    const room = window.innerHeight - top - margin.t - LM_SCREEN_GAP;
    return Math.round(Math.max(LM_MIN_PLOT, Math.min(shaped, room, this.data.height - margin.t - margin.b)));
  }

  layout(width, keepView) {
    const [[x0, x1], [y0, y1]] = this.data.extent;
    const axis = (title, range) => ({
      title: {text: title, standoff: 6}, range, zeroline: true, zerolinecolor: '#c8c8c8', gridcolor: '#eeeeee',
      showline: true, linecolor: '#999999', mirror: true, ticks: '', automargin: false,
    });
    const layout = {
      width, height: this.figureHeight(width) + this.legendRoom(width),
      margin: {...this.margin(), b: LM_MARGIN.b + this.legendRoom(width)},
      xaxis: axis(this.data.axis_titles[0], [x0, x1]), yaxis: axis(this.data.axis_titles[1], [y0, y1]),
      dragmode: this.dragmode === undefined ? this.defaultDragmode() : this.dragmode, hovermode: false,
      selectdirection: 'any',
      showlegend: true, uirevision: this.viewKey, paper_bgcolor: '#ffffff', plot_bgcolor: '#ffffff',
      font: {family: 'Source Sans Pro, sans-serif', size: 12, color: '#31333F'},
      legend: {orientation: 'h', x: 0, xanchor: 'left', y: 0, yanchor: 'bottom', yref: 'container',
               itemclick: 'toggle', itemdoubleclick: false, font: {size: 12}},
      legend2: {orientation: 'h', x: 1, xanchor: 'right', y: 0, yanchor: 'bottom', yref: 'container',
                itemclick: 'toggle', itemdoubleclick: false, font: {size: 12}},
      shapes: this.shapes(), images: this.images(), selections: [],
      // A new region replaces Plotly's own outline and selected points with ours (the region shape).
      selectionrevision: this.regionRevision,
    };
    if (this.data.equal_axes) layout.yaxis.scaleanchor = 'x';
    if (this.data.title) {
      layout.title = {text: this.data.title, x: 0, xanchor: 'left', y: 1, yanchor: 'top', yref: 'container',
                      pad: {t: 6, l: 4}, font: {size: 14}};
      layout.margin.t += 26;
    }
    if (this.colouredByQuantity()) {
      layout.coloraxis = this.colourAxis();
      layout.legend.title = {text: 'class', font: {size: 12}};
    }
    if (keepView && this.plotted) {
      const full = this.overlay._fullLayout;
      layout.xaxis.range = full.xaxis.range.slice();
      layout.yaxis.range = full.yaxis.range.slice();
    }
    return layout;
  }

  // A mouse pans by dragging; where a finger may touch the map, its drag scrolls the page until the visitor picks
  // Pan, Zoom, Box or Lasso (Plotly's drag modes take every pointer alike).
  defaultDragmode() {
    return lxHasTouch() ? false : 'pan';
  }

  // The browser may scroll the page from the map only while no drag mode takes the finger's moves.
  syncTouchAction() {
    const dragmode = this.plotted ? this.overlay._fullLayout.dragmode : this.defaultDragmode();
    this.plot.classList.toggle('lm-drags', !!dragmode);
  }

  // The wheel scrolls the page (zoom: the toolbar, the + and - keys, or a pinch where Plotly takes one).
  config() {
    return {
      displayModeBar: true, displaylogo: false, scrollZoom: false, responsive: false, doubleClick: 'reset',
      modeBarButtonsToRemove: ['autoScale2d', 'toggleSpikelines', 'sendChartToCloud', 'downloadJson']
        .concat(this.interactive() ? [] : ['select2d', 'lasso2d']),
      toImageButtonOptions: {filename: 'latent-map', format: 'png', scale: 2},
    };
  }

  // Plotly.react draws the points: on a new pack, view, region or size, never on a click. One drawing at a
  // time: a run that arrives while Plotly draws waits for it.
  async drawPoints(newView) {
    const previous = this.drawing;
    let finished;
    const current = this.drawing = new Promise((resolve) => { finished = resolve; });
    this.busy = true;
    try {
      await previous;
      await this.plotPoints(newView);
    } finally {
      if (this.drawing === current) this.busy = false;
      finished();
    }
  }

  relayoutImages() {
    return this.whenIdle(() => this.Plotly.relayout(this.overlay, {images: this.images()}));
  }

  // Plotly takes no relayout while it draws the points: marks and images wait for the drawing.
  whenIdle(change) {
    if (this.busy) return this.drawing.then(change);
    return change();
  }

  async plotPoints(newView) {
    const width = this.frame.clientWidth;
    if (!width) return;
    this.width = width;
    const traces = this.traces();
    const layout = this.layout(width, !newView);
    if (!this.plotted) {
      await this.Plotly.newPlot(this.overlay, traces, layout, this.config());
      this.plotted = true;
      this.listen();
    } else {
      await this.Plotly.react(this.overlay, traces, layout, this.config());
    }
    if (this.replay) this.replay.redrawn();
    this.syncTouchAction();
    this.pointsDrawn(newView ? 'new view' : 'points');
  }

  listen() {
    const gd = this.overlay;
    gd.on('plotly_relayout', (change) => {
      if (Object.keys(change).some((key) => /axis\.(range|autorange)/.test(key)) && this.viewMoved()) {
        this.pointsDrawn('view');
      }
      if ('dragmode' in change) {
        this.dragmode = change.dragmode;
        this.syncTouchAction();
      }
    });
    gd.on('plotly_selected', (event) => this.onSelected(event));
    gd.on('plotly_deselect', () => { if (this.region) this.setRegion(null, true); });
    gd.on('plotly_legendclick', (event) => this.onLegendClick(event));
  }

  // The points are where Plotly drew them: their pixels (for the hit test, the keyboard and the tests),
  // the decoder background for the new region, the overlay in its new place.
  pointsDrawn(reason) {
    lxMark('map-points', {reason});
    this.measure();
    this.host.dataset.drawn = String(Number(this.host.dataset.drawn || 0) + 1);
    this.ensureBackground();
    this.showImageMarks();
    this.drawInset(this.probeCode());
  }

  // Plotly also reports a relayout that leaves the axes where they were (the end of a click in pan mode).
  viewMoved() {
    return JSON.stringify(this.visibleExtent()) !== this.measuredExtent;
  }

  measure() {
    this.measuredExtent = JSON.stringify(this.visibleExtent());
    const n = this.x.length, screenX = new Float32Array(n), screenY = new Float32Array(n);
    const area = this.plotArea(), sx = this.scale(), sy = -this.overlay._fullLayout.yaxis._m;
    const [ox, oy] = this.toPx(0, 0);
    for (let i = 0; i < n; i++) {
      screenX[i] = ox + this.x[i] * sx;
      screenY[i] = oy - this.y[i] * sy;
    }
    this.screenX = screenX;
    this.screenY = screenY;
    this.area = area;
    this.buildHitGrid();
  }

  onLegendClick(event) {
    const item = this.traceOf[event.curveNumber];
    if (!item || item.overlay) return false;
    const set = item.c === null ? this.hiddenSplits : this.hidden, key = item.c === null ? item.split : item.c;
    if (set.has(key)) set.delete(key); else set.add(key);
    const visible = this.traceOf.map(({split, c}) => (
      (c !== null && this.hidden.has(c)) || this.hiddenSplits.has(split) ? 'legendonly' : true));
    this.whenIdle(() => this.Plotly.restyle(this.overlay, {visible})).then(() => {
      this.measure();
      this.drawInset(this.probeCode());
    });
    return false;
  }

  onSelected(event) {
    if (!event) return;
    let region = null;
    if (event.range && event.range.x) {
      const {x, y} = event.range;
      region = {shape: 'box', vertices: [[x[0], y[0]], [x[1], y[1]]]};
    } else if (event.lassoPoints && event.lassoPoints.x.length >= 3) {
      const {x, y} = event.lassoPoints, limit = this.data.max_lasso_vertices;
      // A long, slow lasso has more vertices than the server takes: every so-many'th of them, evenly spread.
      const keep = Math.min(x.length, limit), stride = x.length / keep;
      const vertices = Array.from({length: keep}, (_, k) => Math.floor(k * stride));
      region = {shape: 'lasso', vertices: vertices.map((k) => [x[k], y[k]])};
    }
    if (!region) return;
    // Plotly knows which points the box or lasso took: those become the region's members until the server's
    // reply brings its own (setMembers).
    const members = new Uint8Array(this.x.length);
    for (const point of event.points || []) {
      const trace = this.traceOf[point.curveNumber];
      if (trace && trace.indices) members[trace.indices[point.pointIndex ?? point.pointNumber]] = 1;
    }
    this.setRegion(region, true, members);
  }

  // A new width draws the figure again; the first width draws it for the first time (an element drawn
  // while hidden has none).
  resize() {
    const width = this.frame.clientWidth;
    if (!width || !this.pack || !this.Plotly || (this.plotted && width === this.width)) return;
    this.drawPoints(!this.plotted).then(() => {
      this.syncBackground();
      if (this.plotted) this.host.dataset.ready = '1';
    });
  }

  // --- the view: Plotly's axes, data to pixels of the figure -------------------------------------------

  toPx(x, y) {
    const {xaxis, yaxis} = this.overlay._fullLayout;
    return [xaxis._offset + xaxis.l2p(x), yaxis._offset + yaxis.l2p(y)];
  }

  toData(px, py) {
    const {xaxis, yaxis} = this.overlay._fullLayout;
    return [xaxis.p2l(px - xaxis._offset), yaxis.p2l(py - yaxis._offset)];
  }

  // Pixels per unit across.
  scale() {
    return this.overlay._fullLayout.xaxis._m;
  }

  visibleExtent() {
    const {xaxis, yaxis} = this.overlay._fullLayout;
    const [x0, x1] = xaxis.range, [y0, y1] = yaxis.range;
    return [[Math.min(x0, x1), Math.max(x0, x1)], [Math.min(y0, y1), Math.max(y0, y1)]];
  }

  // The plot's rectangle inside the figure, in CSS pixels.
  plotArea() {
    const {xaxis, yaxis} = this.overlay._fullLayout;
    return {left: xaxis._offset, top: yaxis._offset, width: xaxis._length, height: yaxis._length};
  }

  insidePlot(px, py) {
    const a = this.area;
    return !!a && px >= a.left && px <= a.left + a.width && py >= a.top && py <= a.top + a.height;
  }

  // --- the decoder background: a layout image decoded here ----------------------------------------------

  // Where the decoder background comes from: tiles decoded here, or, for a decoder only the server can
  // run, the server's picture of the initial region.
  backgroundImages() {
    if (!this.data.background || !this.decodesHere()) return [];
    let source, extent;
    if (this.decoder) {
      if (!this.background) return [];
      source = this.background.uri;
      extent = this.background.extent;
    } else if (this.data.server_background) {
      source = this.data.server_background.uri;
      extent = this.data.server_background.extent;
    } else {
      return [];
    }
    const [[x0, x1], [y0, y1]] = extent;
    return [{source, xref: 'x', yref: 'y', x: x0, y: y1, sizex: x1 - x0, sizey: y1 - y0, sizing: 'stretch',
             layer: 'below', opacity: 0.55, xanchor: 'left', yanchor: 'top'}];
  }

  // The decoder's output tiled over the visible region, a few tiles per frame so the page never
  // stalls; decoded again once the view has settled on a new region.
  ensureBackground() {
    if (!this.data.background || !this.decodesHere() || !this.decoder || !this.plotted) return;
    const extent = this.visibleExtent();
    const key = extent.flat().map((v) => v.toFixed(4)).join(',');
    if ((this.background && this.background.key === key) || (this.backgroundJob && this.backgroundJob.key === key)) return;
    clearTimeout(this.backgroundTimer);
    this.backgroundTimer = setTimeout(() => this.decodeBackground(extent, key), this.background ? 200 : 0);
  }

  decodeBackground(extent, key) {
    const n = this.data.background_tiles, [, h, w] = this.decoder.outputShape;
    const canvas = document.createElement('canvas');
    canvas.width = n * w;
    canvas.height = n * h;
    const context = canvas.getContext('2d');
    const tile = context.createImageData(w, h);
    const job = {key, extent, next: 0};
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
      if (job.next < n * n) {
        requestAnimationFrame(step);
        return;
      }
      this.backgroundJob = null;
      this.background = {key, extent, uri: canvas.toDataURL()};
      this.relayoutImages();
      lxMark('map-background', {key});
    };
    requestAnimationFrame(step);
  }

  // --- images as marks: zoomed in far enough, each visible point shows its own image ---------------------

  // Zoomed in until at most data.image_marks points are visible (and not on the whole map, where a small
  // dataset would be a heap of images), each visible point shows its image as a layout image centred on it:
  // its original, from the server (see showOriginalMarks), or its reconstruction by the main model, decoded
  // here, a few per frame, each once.
  showImageMarks() {
    const visible = [];
    for (let i = 0; i < this.x.length && visible.length <= this.data.image_marks; i++) {
      if (this.shown(i) && this.insidePlot(this.screenX[i], this.screenY[i])) visible.push(i);
    }
    const [[x0, x1]] = this.visibleExtent(), [[e0, e1]] = this.data.extent;
    const zoomedIn = x1 - x0 < 0.9 * (e1 - e0);
    const wanted = zoomedIn && visible.length <= this.data.image_marks ? visible : [];
    if (this.data.marks === 'originals') {
      this.showOriginalMarks(wanted);
      return;
    }
    clearTimeout(this.thumbnailTimer);
    const indices = this.mainDecoder ? wanted : [];
    this.markJob = {indices, next: 0};
    this.markUris = this.markUris && this.markUris.pack === this.pack.id ? this.markUris : new Map();
    this.markUris.pack = this.pack.id;
    const job = this.markJob;
    const step = () => {
      if (this.markJob !== job) return;
      const deadline = performance.now() + 12;
      while (job.next < job.indices.length && performance.now() < deadline) {
        const i = job.indices[job.next++];
        if (!this.markUris.has(i)) this.markUris.set(i, this.reconstructionUri(i));
      }
      if (job.next < job.indices.length) {
        requestAnimationFrame(step);
        return;
      }
      this.setMarks(job.indices, this.markUris, 'reconstructions');
    };
    if (indices.length || (this.marks && this.marks.length)) requestAnimationFrame(step);
  }

  // The originals the browser already holds are drawn at once; the rest are asked for in one event once the
  // view has rested LM_THUMBNAIL_WAIT ms (no server run per zoom step), and drawn when their message arrives
  // (lxReceiveThumbnails, then onThumbnails). Panning back to images already seen costs nothing.
  showOriginalMarks(wanted) {
    this.markJob = null;
    clearTimeout(this.thumbnailTimer);
    const cache = lxThumbnailCache(this.pack.id);
    const missing = wanted.filter((i) => !cache.has(i));
    if (!missing.length) {
      if (wanted.length || (this.marks && this.marks.length)) this.setMarks(wanted, cache, 'originals');
      return;
    }
    // Images already asked for and still on their way are not asked for again (unless lost for a while).
    if (!this.thumbnailsAsked || this.thumbnailsAsked.pack !== this.pack.id) {
      this.thumbnailsAsked = new Map();
      this.thumbnailsAsked.pack = this.pack.id;
    }
    const now = performance.now();
    const ask = missing.filter((i) => !(this.thumbnailsAsked.get(i) > now - LM_THUMBNAIL_PATIENCE));
    if (!ask.length) return;
    this.thumbnailTimer = setTimeout(() => {
      this.thumbnailRequests = (this.thumbnailRequests || 0) + 1;
      for (const i of ask) this.thumbnailsAsked.set(i, performance.now());
      lxMark('map-thumbnails-asked', {count: ask.length});
      this.trigger('thumbnails', {indices: ask, request: this.thumbnailRequests});
    }, LM_THUMBNAIL_WAIT);
  }

  setMarks(indices, uris, source) {
    this.marks = indices;
    this.markSources = uris;
    this.relayoutImages();
    this.host.dataset.imageMarks = String(indices.length);
    this.host.dataset.imageMarksShow = source;
    lxMark('map-image-marks', {count: indices.length, source});
  }

  reconstructionUri(index) {
    const main = this.pack.meta.main_kind, [, h, w] = this.pack.meta.image_shape;
    const canvas = document.createElement('canvas');
    lxPaintGray(canvas, this.mainDecoder.gray(lxRow(this.pack, main + '.mu', index)), w, h);
    return canvas.toDataURL();
  }

  markImages() {
    if (!this.marks || !this.marks.length) return [];
    const size = LM_MARK_SIZE / this.scale();
    return this.marks.map((i) => ({
      source: this.markSources.get(i), xref: 'x', yref: 'y', x: this.x[i], y: this.y[i], sizex: size,
      sizey: size, xanchor: 'center', yanchor: 'middle', sizing: 'contain', layer: 'above', opacity: 0.95,
    }));
  }

  // --- hit testing: the drawn points' pixels in a grid -------------------------------------------------

  buildHitGrid() {
    const width = this.overlay.clientWidth || this.width, height = this.overlay.clientHeight || this.data.height;
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

  // --- the overlay: layout shapes, replaced as one array ----------------------------------------------

  drawOverlay() {
    this.syncLensPlace();
    if (!this.plotted || !this.pack) return;
    const probe = this.probeCode();
    const selected = this.selected === null || this.selected === undefined ? '' : String(this.selected);
    this.whenIdle(() => this.Plotly.relayout(this.overlay, {shapes: this.shapes()})).then(() => {
      this.host.dataset.selected = selected;
      lxMark('map-overlay', {selected: this.selected});
    });
    this.drawInset(probe);
  }

  shapes() {
    const shapes = lxLayerShapes(this.data);
    const line = (color, width, dash) => ({color, width, dash: dash || 'solid'});
    // A mark of fixed size in pixels around a point of the data.
    const marker = (x, y, path, style) => ({
      type: 'path', xref: 'x', yref: 'y', xsizemode: 'pixel', ysizemode: 'pixel', xanchor: x, yanchor: y,
      path, ...style,
    });
    shapes.push(...this.overlayShapes(marker));
    if (this.region) {
      const v = this.region.vertices;
      const corners = this.region.shape === 'box'
        ? [[v[0][0], v[0][1]], [v[1][0], v[0][1]], [v[1][0], v[1][1]], [v[0][0], v[1][1]]] : v;
      shapes.push({type: 'path', xref: 'x', yref: 'y', path: lxPath(corners), line: line('#333333', 1.5, 'dash'),
                   fillcolor: 'rgba(120, 120, 120, 0.08)'});
    }
    const probe = this.probeCode();
    if (probe) {
      if (this.probeActive && this.data.posterior && probe.sigma && this.model.has_sigma) {
        shapes.push(...this.posteriorShapes(this.posteriorGeometryOf(probe.mu, probe.sigma), marker));
      }
      const star = [];
      for (let k = 0; k < 10; k++) {
        const r = k % 2 ? 5 : 12, a = Math.PI / 2 + (k * Math.PI) / 5;
        star.push([r * Math.cos(a), r * Math.sin(a)]);
      }
      shapes.push(marker(probe.position[0], probe.position[1], lxPath(star), {
        fillcolor: this.probeActive ? '#FFB000' : 'rgba(255, 176, 0, 0.75)',
        line: line('#111111', this.probeActive ? 2 : 1.2)}));
    }
    if (this.selected !== null && this.selected !== undefined && this.selected < this.x.length) {
      if (this.data.posterior) shapes.push(...this.posteriorShapes(this.posteriorGeometry(this.selected), marker));
      const [x, y] = [this.x[this.selected], this.y[this.selected]];
      shapes.push({type: 'circle', xref: 'x', yref: 'y', xsizemode: 'pixel', ysizemode: 'pixel', xanchor: x,
                   yanchor: y, x0: -8, x1: 8, y0: -8, y1: 8, line: line('#111111', 3)});
    }
    if (this.location && this.decodesHere()) {
      shapes.push(marker(this.location[0], this.location[1], 'M-6,-6 L6,6 M-6,6 L6,-6', {line: line('#2CA02C', 3)}));
    }
    if (this.cursor && this.plotted) {
      const [x, y] = this.toData(...this.cursor);
      shapes.push(marker(x, y, 'M-10,0 L-3,0 M3,0 L10,0 M0,-10 L0,-3 M0,3 L0,10', {line: line('#111111', 1.5)}));
    }
    return shapes;
  }

  posteriorShapes(geometry, marker) {
    if (!geometry) return [];
    const shapes = [1, 2].map((n) => ({
      type: 'path', xref: 'x', yref: 'y', path: lxPath(geometry.outlines[n]),
      line: {color: LM_POSTERIOR, width: 2, dash: n === 1 ? 'solid' : 'dash'},
    }));
    for (const [x, y] of geometry.draws) {
      shapes.push(marker(x, y, 'M0,6 L5,0 L0,-6 L-5,0 Z', {fillcolor: LM_POSTERIOR, line: {color: '#ffffff', width: 1}}));
    }
    return shapes;
  }

  // q(z|x) seen through the projection, in map coordinates: the 1σ and 2σ outlines and the draws
  // z = μ + σ·ε; null where no posterior can be drawn (an AE's codes, a t-SNE view).
  posteriorGeometry(index) {
    if (!this.linearView() || !this.model.has_sigma) return null;
    return this.posteriorGeometryOf(lxRow(this.pack, this.kind + '.mu', index),
                                    lxRow(this.pack, this.kind + '.sigma', index));
  }

  posteriorGeometryOf(mu, sigma) {
    const projection = lxMapProjection(this.data, this.model);
    return {
      centre: lxProject(mu, projection),
      outlines: {1: lxPosteriorOutline(mu, sigma, projection, 1, 73), 2: lxPosteriorOutline(mu, sigma, projection, 2, 73)},
      draws: (this.data.eps || []).map((eps) => lxProject(mu.map((m, k) => m + sigma[k] * eps[k]), projection)),
    };
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
    if (!this.plotted) return;
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
    if (!outline || !(outlineHalf > 0) || 2 * outlineHalf * this.scale() >= LM_INSET_BELOW) {
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
    const zoom = scale / this.scale();
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
    return `#${index} · ${name}${split}${this.valueText(index)}`;
  }

  onKey(event) {
    if (!this.plotted || !this.area || !this.interactive()) return;
    const moves = {ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1]};
    const a = this.area;
    if (!this.cursor) {
      const selected = this.selected !== null && this.selected !== undefined && this.selected < this.x.length;
      this.cursor = selected ? this.toPx(this.x[this.selected], this.y[this.selected])
        : [a.left + a.width / 2, a.top + a.height / 2];
    }
    if (moves[event.key]) {
      const step = a.width / (event.shiftKey ? 8 : LM_KEY_STEPS), [dx, dy] = moves[event.key];
      const [x, y] = this.cursor;
      this.cursor = [Math.min(a.left + a.width, Math.max(a.left, x + dx * step)),
                     Math.min(a.top + a.height, Math.max(a.top, y + dy * step))];
    } else if (event.key === 'Enter' || event.key === ' ') {
      if (this.replay && this.replay.takePress()) {
        event.preventDefault();
        return;
      }
      const index = this.nearestShown(...this.cursor);
      if (index !== null) {
        this.selectPoint(index);
        this.status.textContent = `Inspecting ${this.describe(index)}`;
      }
      event.preventDefault();
      return;
    } else if (event.key === '+' || event.key === '=' || event.key === '-') {
      event.preventDefault();
      this.zoomAtCursor(event.key === '-' ? 1.5 : 1 / 1.5);
      return;
    } else if (event.key === 'Escape') {
      this.cursor = null;
      this.hideTooltip();
      this.drawOverlay();
      return;
    } else {
      return;
    }
    event.preventDefault();
    this.cursorMoved();
  }

  // Plotly zooms: the visible ranges shrink (or grow) by `factor` about the cursor, which stays on its spot.
  zoomAtCursor(factor) {
    const [cx, cy] = this.toData(...this.cursor), [[x0, x1], [y0, y1]] = this.visibleExtent();
    this.whenIdle(() => this.Plotly.relayout(this.overlay, {
      'xaxis.range': [cx + (x0 - cx) * factor, cx + (x1 - cx) * factor],
      'yaxis.range': [cy + (y0 - cy) * factor, cy + (y1 - cy) * factor],
    })).then(() => this.cursorMoved());
  }

  cursorMoved() {
    this.showHover(...this.cursor);
    const z = this.toData(...this.cursor), nearest = this.nearestShown(...this.cursor);
    this.status.textContent = `Cursor at ${this.data.axis_titles[0]} ${z[0].toFixed(2)}, `
      + `${this.data.axis_titles[1]} ${z[1].toFixed(2)}`
      + (nearest !== null ? `; nearest image ${this.describe(nearest)}` : '');
    this.host.dataset.cursor = z.map((v) => v.toFixed(3)).join(',');
    this.drawOverlay();
  }

  // The person's own image, where this map can place it (a linear view): {mu, sigma, position} or null.
  probeCode() {
    const probe = this.data && this.data.probe;
    if (!probe || !this.linearView() || !probe.mu[this.kind]) return null;
    const mu = probe.mu[this.kind];
    return {mu, sigma: this.kind === 'vae' ? probe.sigma : null, position: this.project(mu)};
  }

  // --- input -----------------------------------------------------------------------------------------

  localPoint(event) {
    const rect = this.overlay.getBoundingClientRect();
    return [event.clientX - rect.left, event.clientY - rect.top];
  }

  // Presses on Plotly's toolbar or legend are theirs.
  onChrome(event) {
    return !!(event.target.closest && event.target.closest('.modebar, .legend, .legend2, .infolayer'));
  }

  onPointerDown(event) {
    if (event.button !== 0 || !this.plotted || this.onChrome(event)) return;
    const [px, py] = this.localPoint(event);
    this.press = {px, py, moved: false};
    this.hideTooltip();
  }

  onPointerMove(event) {
    if (!this.plotted) return;
    const [px, py] = this.localPoint(event);
    const press = this.press;
    if (press) {
      if (!press.moved && Math.hypot(px - press.px, py - press.py) > LM_CLICK_SLOP) press.moved = true;
      return;
    }
    if (event.buttons) return;
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
    if (!press || !this.plotted) return;
    const [px, py] = this.localPoint(event);
    if (!press.moved && Math.hypot(px - press.px, py - press.py) <= LM_CLICK_SLOP) this.click(px, py);
  }

  onPointerLeave() {
    this.hover = null;
    this.hideTooltip();
  }

  // A finger that rests LM_HOLD ms on the map, then moves, moves the lens (the page stays); one that moves at
  // once is a swipe, which the browser scrolls. A drag mode chosen in the toolbar takes the finger instead.
  onTouchStart(event) {
    this.endHold();
    if (event.touches.length !== 1 || !this.plotted || !this.interactive() || this.onChrome(event)
        || this.overlay._fullLayout.dragmode) return;
    const [px, py] = this.localPoint(event.touches[0]);
    const hold = this.hold = {px, py, held: false};
    hold.timer = setTimeout(() => {
      hold.held = true;
      this.showHover(px, py);
    }, LM_HOLD);
  }

  onTouchMove(event) {
    const hold = this.hold;
    if (!hold || event.touches.length !== 1) {
      this.endHold();
      return;
    }
    const [px, py] = this.localPoint(event.touches[0]);
    if (hold.held) {
      event.preventDefault();
      this.showHover(px, py);
    } else if (Math.hypot(px - hold.px, py - hold.py) > LM_CLICK_SLOP) {
      this.endHold();
    }
  }

  endHold() {
    if (this.hold) clearTimeout(this.hold.timer);
    this.hold = null;
  }

  click(px, py) {
    if (!this.insidePlot(px, py) || !this.interactive()) return;
    if (this.replay && this.replay.takePress()) return;
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
      this.showHover(px, py); // the lens shows the spot too: a finger has no hover before its tap
      LX.bus.dispatchEvent(new CustomEvent('lx-location', {detail: {
        pack: this.pack.id, kind: this.kind, z: this.latentAt([x, y]), label: lxSpotLabel(this.data, [x, y])}}));
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

  // Which points the region takes: Plotly's own selection for a box or lasso just drawn, then the server's
  // (vae_core.latent.points_in_region), which its panel counts; the points are drawn again only if they differ.
  setMembers(members) {
    const old = this.members;
    const same = members === old || (members && old && members.length === old.length
      && members.every((v, i) => v === old[i]));
    if (same) return;
    this.members = members;
    this.membersRevision = (this.membersRevision || 0) + 1;
  }

  setRegion(region, fromUser, members) {
    const same = JSON.stringify(region || null) === JSON.stringify(this.region);
    this.region = region || null;
    if (!region) this.setMembers(null);
    else if (members) this.setMembers(members);
    this.clearButton.style.display = region ? '' : 'none';
    if (!same) this.regionRevision = (this.regionRevision || 0) + 1;
    if (fromUser) {
      this.send('region', region ? {shape: region.shape, vertices: region.vertices} : {shape: null, vertices: []});
      this.sceneKey = null;
      if (this.plotted) this.drawPoints(false);
    }
  }

  // --- the lens: what the decoder makes of the spot under the cursor ----------------------------------

  showHover(px, py) {
    if (this.replay && this.replay.showingPast()) return; // the points are not where the hit test looks
    const index = this.insidePlot(px, py) ? this.pointAt(px, py) : null;
    if (index !== null) {
      this.tooltip.textContent = this.describe(index);
      this.tooltip.style.left = (px + 12) + 'px';
      this.tooltip.style.top = (py - 26) + 'px';
      this.tooltip.style.display = 'block';
    } else {
      this.hideTooltip();
    }
    if (!this.insidePlot(px, py) || !this.interactive()) return;
    if (this.decodesHere()) {
      const z = this.toData(px, py);
      if (this.decoder) {
        this.paintLens(this.decoder.gray(this.latentAt(z)), lxSpotLabel(this.data, z));
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
      this.paintLens(this.decoder.gray(this.latentAt(z)), `${lxSpotLabel(this.data, z)}; move over the map`);
    } else {
      this.lensCaption.textContent = this.decodesHere() ? 'Rest the cursor on the map' : 'Hover a point';
      this.shareLens();
    }
  }

  paintLens(gray, caption) {
    const [, h, w] = this.pack.meta.image_shape;
    lxPaintGray(this.lens, gray, w, h);
    this.lensCaption.textContent = caption;
    this.lens.setAttribute('aria-label', `Decoded image: ${caption}`);
    this.host.dataset.lens = caption;
    this.shareLens();
    lxMark('lens', {caption});
  }

  // The inspect card shows the lens large beside the map while nothing is selected (web/inspect_card.js).
  shareLens() {
    LX.lens = {pack: this.pack.id, canvas: this.lens, title: this.lensTitle.textContent,
               caption: this.lensCaption.textContent};
    LX.bus.dispatchEvent(new CustomEvent('lx-lens', {detail: LX.lens}));
  }

  // While the card beside the map shows the lens, the small one under the map steps aside (latent_map.css).
  syncLensPlace() {
    const nothingSelected = (this.selected === null || this.selected === undefined) && !this.location
      && !this.probeActive;
    this.frame.classList.toggle('lm-lens-beside', nothingSelected && this.interactive());
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
    this.shareLens();
    if (this.lensWanted && (this.lensWanted[0] !== lens.z[0] || this.lensWanted[1] !== lens.z[1])) {
      this.requestServerLens(this.lensWanted);
    }
  }

  hideTooltip() {
    this.tooltip.style.display = 'none';
  }
}

// An open SVG path through [x, y] points (a line of the page's marks).
function lxOpenPath(points) {
  return points.map(([x, y], k) => `${k ? 'L' : 'M'}${x},${y}`).join(' ');
}

// A five-pointed star around the origin, in pixels (outer and inner radius).
function lxStar(outer, inner) {
  const star = [];
  for (let k = 0; k < 10; k++) {
    const r = k % 2 ? inner : outer, a = Math.PI / 2 + (k * Math.PI) / 5;
    star.push([r * Math.cos(a), r * Math.sin(a)]);
  }
  return lxPath(star);
}

// A quantity's value in a few significant digits (KL 3.21, log p(x) -245.3, σ 0.0412).
function lxFormatValue(value) {
  return Math.abs(value) >= 100 ? value.toFixed(1) : Number(value.toPrecision(3)).toString();
}

// One byte a point (1: inside the region) from the server's bits, eight points a byte, first point lowest.
function lxBits(base64, count) {
  const bits = lxBytes(base64), members = new Uint8Array(count);
  for (let i = 0; i < count; i++) members[i] = (bits[i >> 3] >> (i & 7)) & 1;
  return members;
}

// Original images by pack id, then by index, as data URIs: what the image marks show (the oldest forgotten
// first past LM_THUMBNAIL_CACHE per pack).
function lxThumbnailCache(packId) {
  if (!LX.thumbnails) LX.thumbnails = new Map();
  if (!LX.thumbnails.has(packId)) LX.thumbnails.set(packId, new Map());
  return LX.thumbnails.get(packId);
}

// One message of latent_explorer/thumbnails.py: "LXT1", uint32 count, uint16 height, uint16 width, the pack
// id (20 ASCII bytes), count uint32 indices, then the images' grey bytes.
function lxReceiveThumbnails(bytes) {
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

// Mounts (or updates) the component in this element; returns what the element shows.
function lxMountMap(component) {
  const {data, parentElement, setTriggerValue} = component;
  let map = parentElement.__latentMap;
  if (!map) map = parentElement.__latentMap = new LatentMap(parentElement, parentElement.host || parentElement);
  else if (!map.attached) map.attach();
  map.trigger = setTriggerValue;
  map.setData(data);
  return map;
}
