// The latent map: every held-out image at its code, drawn by Plotly.js with its own axes, legend, zoom, pan, box,
// lasso and PNG export. What must be instant stays in the browser (the lens decodes at the cursor; a click finds
// the nearest point and paints the card; the selection's marks move without drawing the points again); the server
// hears only what it must act on (a clicked point or spot, a region), through trigger values that rerun the page's
// fragment.
//
// This class holds what the map shows (its data, the points, the selection) and lays out its element; each
// concern is a module of its own, a part the map owns:
//   map_figure.js      the Plotly figure: traces, layout, legends, drawing, map coordinates <-> pixels
//   map_hits.js        the points' pixels and the grid that finds the point under the pointer
//   map_input.js       pointer, touch and keyboard
//   map_lens.js        the decode under the cursor, and the tooltip
//   map_marks.js       zoomed in, the points as images (originals from the server, or reconstructions)
//   map_overlays.js    the layout shapes: the page's marks, the region, the selection and its posterior
//   map_inset.js       the posterior, magnified beside the map
//   map_background.js  the decoder's output tiled under the points
//   map_layers.js      the density layer and the projection of a spot (shared with the card)
//   map_replay.js      the training replay's scrubber
//
// The map's public interface, for web/mount.js, the replay and the browser tests (devtools/browser.py MAP_JS):
//   setData(data), attach(), destroy()     a render of the component, and Streamlit detaching it
//   selectPoint(index)                     inspect an image, as a click on it does
//   heldOut(), shown(i), latentAt([x, y]), spotLabel([x, y]), probeCode(), posteriorGeometry(index)
//   visibleExtent(), toPx(x, y), toData(px, py), plotArea(), insidePlot(px, py)
//   drawn(), heldOutTraces(), restyle(update, traces), hideTooltip(), announce(text)   for the replay
// and the element's dataset (host.dataset: ready, drawn, selected, lens, ...), which the tests wait on.

import {LX, LxComponent, lxDecoder, lxElement, lxGeneral, lxMark, lxProject, lxWhenPack} from './runtime.js';
import {lxLayerImages, lxMapProjection, lxSpotLabel, lxUnproject} from './map_layers.js';
import {MapFigure, lxHasWebGL} from './map_figure.js';
import {HitGrid} from './map_hits.js';
import {MapInput} from './map_input.js';
import {MapLens} from './map_lens.js';
import {ImageMarks} from './map_marks.js';
import {lxBits, lxImagePosterior, lxMapShapes} from './map_overlays.js';
import {PosteriorInset} from './map_inset.js';
import {DecoderBackground} from './map_background.js';
import {MapReplay} from './map_replay.js';

export default class LatentMap extends LxComponent {
  constructor(root, host) {
    super(root, host);
    root.__latentMap = this;       // where the browser tests find the map (devtools/browser.py MAP_JS)
    this.webgl = lxHasWebGL();
    this.hidden = new Set();       // classes switched off in the legend
    this.hiddenSplits = new Set(); // 'held-out' or 'training', switched off in the legend
    this.selected = null;          // index of the inspected image
    this.location = null;          // [x, y] decoded by a click on empty space
    this.probeActive = false;      // the card shows the person's own image (data.probe)
    this.region = null;            // {shape, vertices} of a box or lasso
    this.regionRevision = undefined; // Plotly's selectionrevision: until a region, the view's (uirevision)
    this.members = null;           // Uint8Array: 1 for points inside the region
    this.membersRevision = 0;
    this.viewKey = null;
    this.replay = null;            // the training replay (web/map_replay.js), while it is open
    this.build();
    this.figure = new MapFigure(this);
    this.hits = new HitGrid(this);
    this.input = new MapInput(this);
    this.imageMarks = new ImageMarks(this);
    this.decoderBackground = new DecoderBackground(this);
  }

  // --- the element -----------------------------------------------------------------------------------------

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
    this.lensView = new MapLens(this);
    this.posteriorInset = new PosteriorInset(this);
    aside.append(this.lensView.card, this.posteriorInset.card);
    this.frame.append(bar, this.plot, this.fallback, this.status, aside);
    this.root.appendChild(this.frame);

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
      if (this.figure.plotted && this.hits.screenX && this.pack && event.detail.pack === this.pack.id
          && this.data.marks === 'originals') {
        this.imageMarks.update();
      }
    };
  }

  // What listens outside the element; Streamlit detaches a component before it draws it again in the same
  // element, where this map (and its Plotly figure) carries on.
  attach() {
    super.attach();
    this.resizeObserver.observe(this.frame);
    this.input.attach();
    LX.bus.addEventListener('lx-select', this.onBusSelect);
    LX.bus.addEventListener('lx-thumbnails', this.onThumbnails);
    LX.bus.addEventListener('lx-show-map', this.onShowMap);
  }

  destroy() {
    super.destroy();
    this.resizeObserver.disconnect();
    this.input.destroy();
    LX.bus.removeEventListener('lx-select', this.onBusSelect);
    LX.bus.removeEventListener('lx-thumbnails', this.onThumbnails);
    LX.bus.removeEventListener('lx-show-map', this.onShowMap);
  }

  // --- data from the server ------------------------------------------------------------------------------------

  /** @param {import('./contract.js').MapData} data */
  async setData(data) {
    this.data = data;
    const pack = await lxWhenPack(data.pack);
    const pointsPack = data.points ? await lxWhenPack(data.points.pack) : pack;
    const colourPack = data.colour_by ? await lxWhenPack(data.colour_by.pack) : null;
    await this.figure.whenPlotly();
    if (this.data !== data) return; // a newer render arrived while waiting
    const pointsKey = JSON.stringify([data.kind, data.view, data.points, data.projection]);
    const fresh = this.pack !== pack || this.pointsKey !== pointsKey;
    this.pack = pack;
    this.colourValues = colourPack ? colourPack.arrays[data.colour_by.array] : null;
    this.host.dataset.colourBy = colourPack ? data.colour_by.quantity : 'class';
    this.kind = data.kind;
    this.model = pack.meta.models[data.kind];
    this.decoder = lxDecoder(pack, data.kind);
    this.mainDecoder = lxDecoder(pack, pack.meta.main_kind);
    if (fresh) {
      this.host.dataset.ready = '0'; // until Plotly has drawn the new points
      this.pointsKey = pointsKey;
      this.loadPoints(pointsPack);
      this.decoderBackground.reset();
      this.members = null;
      this.imageMarks.reset();
    }
    // The server's view of the selection holds unless this map has sent an event it has not seen yet.
    if (data.ack >= this.seq) {
      this.selected = data.selected;
      this.location = data.location;
      this.probeActive = !!(data.probe && data.probe.active);
      this.setRegion(data.region, false);
      if (data.region_members) this.setMembers(lxBits(data.region_members, this.x.length));
    }
    this.lensView.syncPlace();
    this.syncReplay(data.replay);
    const newView = this.viewKey !== data.view_key;
    this.viewKey = data.view_key;
    this.message.style.display = 'none';
    this.bar.style.display = this.aside.style.display = this.interactive() ? '' : 'none';
    this.input.explain();
    this.lensView.retitle();
    this.fallback.textContent = this.webgl ? ''
      : 'This browser has no WebGL: the map is drawn as SVG, with the held-out split only.';
    this.fallback.style.display = this.webgl ? 'none' : '';
    // Told until it answers that it knows (data.webgl), the server then offers no map of every image.
    if (!this.webgl && data.webgl) this.trigger('webgl', {available: false});
    const marksChanged = this.imageMarks.follow(data.marks);
    if (fresh) this.lensView.showAtRest();
    // A new selection from the server only moves marks: the points are drawn again only when what
    // they look like changed.
    const sceneKey = JSON.stringify([this.pointsKey, this.region, this.membersRevision, this.viewKey, data.colours,
      data.height, data.colour_by]);
    if (sceneKey !== this.sceneKey || !this.figure.plotted) {
      this.sceneKey = sceneKey;
      await this.figure.draw(newView);
    } else {
      this.drawOverlay();
    }
    if (this.data !== data) return;
    if (marksChanged && this.figure.plotted && !fresh) this.imageMarks.update();
    this.syncBackground();
    if (this.figure.plotted) this.host.dataset.ready = '1';
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

  // Opens, keeps or closes the training replay to match the server's MapData.replay.
  syncReplay(spec) {
    if (!spec) {
      if (this.replay) this.replay.destroy();
      this.replay = null;
      return;
    }
    if (!this.replay) {
      this.replay = new MapReplay(this);
      this.frame.insertBefore(this.replay.bar, this.status);
    }
    this.replay.open(spec);
  }

  // --- what the map is: its view, its points, their classes -----------------------------------------------

  // Explore's map inspects, decodes and selects; the other pages' maps are to look at (zoom, pan, legend).
  interactive() {
    return this.data.interactive !== false;
  }

  decodesHere() {
    return this.data.decodes && this.interactive();
  }

  linearView() {
    return this.data.view !== 'tsne';
  }

  project(z) {
    return lxProject(z, lxMapProjection(this.data, this.model));
  }

  /** The whole code at a spot [x, y] of the map (a linear view). */
  latentAt(xy) {
    return lxUnproject(xy, lxMapProjection(this.data, this.model));
  }

  /** How the lens and the card name a spot [x, y]: z = (x, y), or by the two latent axes of the view. */
  spotLabel(xy) {
    return lxSpotLabel(this.data, xy);
  }

  /** How many of the points are held-out images: indices below it; the training split, when the pack has it, follows. */
  heldOut() {
    return this.pack.meta.held_out === undefined ? this.x.length : this.pack.meta.held_out;
  }

  splitOf(i) {
    return i < this.heldOut() ? 'held-out' : 'training';
  }

  /** Whether point i is drawn: its class and split not switched off in the legend. */
  shown(i) {
    return !this.hidden.has(this.labels[i]) && !this.hiddenSplits.has(this.splitOf(i))
      && (this.webgl || this.splitOf(i) === 'held-out');
  }

  colour(c) {
    const colours = this.data.colours;
    return colours[c % colours.length];
  }

  hasSelection() {
    return this.selected !== null && this.selected !== undefined && this.selected < this.x.length;
  }

  // What the tooltip and the status say of image `index`: its number, class, split and coloured-by value.
  describe(index) {
    const name = this.pack.meta.class_names[this.labels[index]];
    const split = this.heldOut() < this.x.length ? (index < this.heldOut() ? ' · held-out' : ' · training') : '';
    const colour = this.data.colour_by, values = this.colourValues;
    const value = values && index < values.length ? ` · ${colour.label} ${lxGeneral(values[index])}` : '';
    return `#${index} · ${name}${split}${value}`;
  }

  /** The person's own image, where this map can place it (a linear view): {mu, sigma, position} or null. */
  probeCode() {
    const probe = this.data && this.data.probe;
    if (!probe || !this.linearView() || !probe.mu[this.kind]) return null;
    const mu = probe.mu[this.kind];
    return {mu, sigma: this.kind === 'vae' ? probe.sigma : null, position: this.project(mu)};
  }

  /** Image `index`'s q(z|x) in map coordinates ({centre, outlines: {1, 2}, draws}), or null (web/map_overlays.js). */
  posteriorGeometry(index) {
    return lxImagePosterior(this, index);
  }

  // --- the view -------------------------------------------------------------------------------------------------

  // The view (web/map_figure.js, web/map_hits.js): [[x0, x1], [y0, y1]] shown, map coordinates <-> pixels of the
  // figure, the plot's rectangle in it ({left, top, width, height}), and whether Plotly has drawn the points.
  visibleExtent() { return this.figure.visibleExtent(); }
  toPx(x, y) { return this.figure.toPx(x, y); }
  toData(px, py) { return this.figure.toData(px, py); }
  plotArea() { return this.figure.plotArea(); }
  insidePlot(px, py) { return this.hits.insidePlot(px, py); }
  drawn() { return this.figure.plotted; }

  // Read by the browser tests and benchmarks, as they were before the map's parts had modules of their own.
  get traceOf() { return this.figure.traceOf; }
  get drawing() { return this.figure.drawing; }
  get screenX() { return this.hits.screenX; }
  get screenY() { return this.hits.screenY; }
  get marks() { return this.imageMarks.indices; }
  get markSources() { return this.imageMarks.sources; }
  get lens() { return this.lensView.canvas; }
  get lensCaption() { return this.lensView.caption; }
  get lensCard() { return this.lensView.card; }

  // A new width draws the figure again; the first width draws it for the first time (an element drawn
  // while hidden has none).
  resize() {
    const width = this.frame.clientWidth, figure = this.figure;
    if (!width || !this.pack || !figure.Plotly || (figure.plotted && width === figure.width)) return;
    figure.draw(!figure.plotted).then(() => {
      this.syncBackground();
      if (figure.plotted) this.host.dataset.ready = '1';
    });
  }

  // The points are where Plotly drew them (reason: 'new view', 'points' or 'view', a zoom or pan): their
  // pixels for the hit test, the keyboard and the tests, the decoder background and the image marks for the
  // new region, the inset at the new zoom.
  pointsDrawn(reason) {
    lxMark('map-points', {reason});
    if (reason !== 'view' && this.replay) this.replay.redrawn(); // the points are back at the final epoch
    this.hits.measure();
    this.host.dataset.drawn = String(Number(this.host.dataset.drawn || 0) + 1);
    this.decoderBackground.ensure();
    this.imageMarks.update();
    this.posteriorInset.draw();
  }

  // The legend switched a class or a split on or off.
  shownChanged() {
    this.hits.measure();
    this.posteriorInset.draw();
  }

  // --- layout images and shapes: relayouts that never draw the points again --------------------------------

  // The decoder background, the layers' images (web/map_layers.js) above it, the image marks above both.
  images() {
    return this.decoderBackground.images().concat(lxLayerImages(this.data), this.imageMarks.images());
  }

  relayoutImages() {
    return this.figure.relayout({images: this.images()});
  }

  // The background switched on or off: decode it for the visible region, or take the image away.
  syncBackground() {
    if (!this.figure.plotted) return;
    this.decoderBackground.ensure();
    if (JSON.stringify(this.images()) !== JSON.stringify(this.overlay.layout.images || [])) this.relayoutImages();
  }

  shapes() {
    return lxMapShapes(this);
  }

  // The marks of the selection, the region and the cursor in their new state.
  drawOverlay() {
    this.lensView.syncPlace();
    if (!this.figure.plotted || !this.pack) return;
    const selected = this.selected === null || this.selected === undefined ? '' : String(this.selected);
    this.figure.relayout({shapes: this.shapes()}).then(() => {
      this.host.dataset.selected = selected;
      lxMark('map-overlay', {selected: this.selected});
    });
    this.posteriorInset.draw();
  }

  // --- the selection: what the map, the card and the server agree on --------------------------------------

  /** Inspect image `index`: the map marks it, the card shows it, the server hears it. */
  selectPoint(index) {
    this.selected = index;
    this.location = null;
    this.probeActive = false;
    lxMark('map-click', {index});
    this.drawOverlay();
    LX.bus.dispatchEvent(new CustomEvent('lx-select', {detail: {pack: this.pack.id, index, source: this,
                                                                 from: this.frame}}));
    this.send('point', {index});
  }

  selectProbe() {
    this.selected = null;
    this.location = null;
    this.probeActive = true;
    this.drawOverlay();
    LX.bus.dispatchEvent(new CustomEvent('lx-probe', {detail: {pack: this.pack.id, from: this.frame}}));
    this.send('probe', {});
  }

  // A click on empty space: the decoder's output there, on the map, in the card and for the server.
  selectLocation([x, y]) {
    this.location = [x, y];
    this.selected = null;
    this.probeActive = false;
    this.send('location', {x, y});
    LX.bus.dispatchEvent(new CustomEvent('lx-location', {detail: {
      pack: this.pack.id, kind: this.kind, z: this.latentAt([x, y]), label: this.spotLabel([x, y])}}));
    this.drawOverlay();
  }

  // Which points the region takes: Plotly's own selection for a box or lasso just drawn, then the server's
  // (vae_core.latent.points_in_region), which its panel counts; the points are drawn again only if they differ.
  setMembers(members) {
    const old = this.members;
    const same = members === old || (members && old && members.length === old.length
      && members.every((v, i) => v === old[i]));
    if (same) return;
    this.members = members;
    this.membersRevision += 1;
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
      if (this.figure.plotted) this.figure.draw(false);
    }
  }

  // --- for the training replay (web/map_replay.js) -------------------------------------------------------------

  /** The held-out points' traces in the figure's order: {trace, indices, x, y}, x and y where the map draws them. */
  heldOutTraces() {
    const traces = [];
    this.figure.traceOf.forEach(({split, indices}, trace) => {
      if (split !== 'held-out' || !indices) return;
      const x = new Float32Array(indices.length), y = new Float32Array(indices.length);
      indices.forEach((i, k) => { x[k] = this.x[i]; y[k] = this.y[i]; });
      traces.push({trace, indices, x, y});
    });
    return traces;
  }

  /** Plotly.restyle of the figure, once no drawing is under way. */
  restyle(update, traces) {
    return this.figure.restyle(update, traces);
  }

  hideTooltip() {
    this.tooltip.style.display = 'none';
  }

  /** Says `text` in the map's status line, which screen readers read out. */
  announce(text) {
    this.status.textContent = text;
  }
}
