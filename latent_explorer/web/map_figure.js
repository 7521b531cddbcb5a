// The latent map's figure: Plotly.js draws the points (WebGL, one trace per class and split), the axes, the
// legends, the colour bar and the toolbar, and converts between map coordinates and the figure's pixels. The
// points are drawn again only by draw() (a new pack, view, region or size); the marks of the selection, the layers
// and the image marks are layout shapes and images, replaced by relayouts that never draw the points again.

const LM_MARGIN = {l: 54, r: 10, t: 10, b: 42};
const LM_LEGEND_ROOM = 64;      // pixels under the plot for the legends
const LM_COLOUR_BAR_ROOM = 86;  // pixels right of the plot for the colour bar of a quantity
const LM_UNCOLOURED = '#bbbbbb'; // points without a value of the quantity (the training split)
const LM_LEGEND_GREY = '#777777'; // the class legend's swatches while the points show a quantity
const LM_MIN_PLOT = 240;        // the interactive map's plot area is never shorter (CSS pixels)
const LM_SCREEN_GAP = 8;        // room kept under the interactive map's plot area on the first screen
const LM_SPLITS = {
  'held-out': {size: 6, opacity: 0.78, swatch: '#555555'},
  training: {size: 4, opacity: 0.3, swatch: '#bbbbbb'},
};

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

// Plotly.js arrives beside our modules (web/runtime_loader.js), maybe after them.
function lxWhenPlotly() {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  return new Promise((resolve) => window.addEventListener('lx-plotly', () => resolve(window.Plotly), {once: true}));
}

// Without WebGL (a browser or a machine without it), the points are drawn as SVG, the held-out split only.
export function lxHasWebGL() {
  try {
    return !!document.createElement('canvas').getContext('webgl');
  } catch (error) {
    return false;
  }
}

export class MapFigure {
  constructor(map) {
    this.map = map;
    this.gd = map.overlay;         // Plotly's graph div
    this.Plotly = null;
    this.plotted = false;          // Plotly has drawn the points once
    this.traceOf = [];             // per trace: its {split, c, indices}; a legend entry's {split, c} or {overlay}
    this.drawing = null;           // the drawing under way, or the last one
    this.busy = false;
    this.width = 0;
    this.dragmode = undefined;     // the visitor's choice in the toolbar
  }

  async whenPlotly() {
    this.Plotly = await lxWhenPlotly();
  }

  // --- traces: the points, and legend entries ----------------------------------------------------------------

  colouredByQuantity() {
    return !!this.map.colourValues;
  }

  // A trace's marker colours: its class's colour, or each point's value of the quantity on the shared colour
  // axis (points without a value, the training split's, in grey).
  markerColour(indices, c) {
    if (!this.colouredByQuantity()) return {color: this.map.colour(c)};
    const values = this.map.colourValues;
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
        marker: {color: LM_LEGEND_GREY, size: 8}, visible: this.map.hidden.has(c) ? 'legendonly' : true,
      };
    });
  }

  // The page's marks are layout shapes (web/map_overlays.js); each gets a legend entry of its look, which toggles
  // nothing.
  overlayLegend() {
    return (this.map.data.overlays || []).map((overlay) => {
      this.traceOf.push({split: null, c: null, overlay: true});
      return {
        type: 'scatter', mode: overlay.mode, x: [null], y: [null], name: overlay.name, hoverinfo: 'none',
        line: {color: overlay.colour, dash: overlay.dash, width: 2},
        marker: {color: overlay.colour, size: Math.min(overlay.size, 12), symbol: overlay.symbol === 'star' ? 'star' : 'circle'},
      };
    });
  }

  // One trace per split and class, training first (under the held-out points); the class legend toggles a
  // class in both splits, the split legend a split in every class (see onLegendClick).
  traces() {
    const map = this.map, names = map.pack.meta.class_names, n = map.x.length, heldOut = map.heldOut();
    const splits = heldOut < n ? [['training', heldOut, n], ['held-out', 0, heldOut]] : [['held-out', 0, n]];
    const traces = [];
    this.traceOf = [];
    for (const [split, from, to] of splits) {
      if (!map.webgl && split === 'training') continue;
      const members = names.map(() => []);
      for (let i = from; i < to; i++) members[map.labels[i]].push(i);
      members.forEach((indices, c) => {
        if (!indices.length) return;
        const style = LM_SPLITS[split];
        const x = new Float32Array(indices.length), y = new Float32Array(indices.length);
        indices.forEach((i, k) => { x[k] = map.x[i]; y[k] = map.y[i]; });
        const trace = {
          type: map.webgl ? 'scattergl' : 'scatter', mode: 'markers', x, y, name: names[c],
          legendgroup: 'class-' + c, showlegend: split === 'held-out' && !this.colouredByQuantity(), hoverinfo: 'none',
          marker: {...this.markerColour(indices, c), size: style.size,
                   opacity: split === 'held-out' && map.data.point_opacity ? map.data.point_opacity : style.opacity},
          visible: map.hidden.has(c) || map.hiddenSplits.has(split) ? 'legendonly' : true,
        };
        if (map.members) {
          trace.selectedpoints = indices.map((i, k) => (map.members[i] ? k : -1)).filter((k) => k >= 0);
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
        if (!map.webgl && split === 'training') continue;
        traces.push({
          type: 'scatter', mode: 'markers', x: [null], y: [null], name: `${split} ${count.toLocaleString()}`,
          legend: 'legend2', hoverinfo: 'none', marker: {color: LM_SPLITS[split].swatch, size: 8},
          visible: map.hiddenSplits.has(split) ? 'legendonly' : true,
        });
        this.traceOf.push({split, c: null});
      }
    }
    return traces;
  }

  // --- layout: size, axes, legends, colour bar -------------------------------------------------------------------

  margin() {
    return this.colouredByQuantity() ? {...LM_MARGIN, r: LM_MARGIN.r + LM_COLOUR_BAR_ROOM} : LM_MARGIN;
  }

  // Room under the plot for the legend's rows: at least LM_LEGEND_ROOM, more where a page's marks add entries
  // that wrap onto further rows (an estimate from the names' lengths: the legend grows upwards from the bottom).
  legendRoom(width) {
    const data = this.map.data;
    const names = this.map.pack.meta.class_names.concat((data.overlays || []).map((overlay) => overlay.name));
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

  colourAxis() {
    const colour = this.map.data.colour_by;
    return {
      colorscale: colour.colorscale, cmin: colour.cmin, cmax: colour.cmax,
      colorbar: {title: {text: colour.title, side: 'right'}, thickness: 12, len: 0.9, y: 0.5, yanchor: 'middle',
                 x: 1, xanchor: 'left', xpad: 8, outlinewidth: 0, tickfont: {size: 11}},
    };
  }

  // The plot takes the component's width; Explore's map fits the first screen, the other pages' maps with equal
  // axes follow the extent's shape (within 360 px and the page's maximum), so no band of the plot is left empty.
  figureHeight(width) {
    const data = this.map.data, margin = this.margin(), plotWidth = width - margin.l - margin.r;
    if (this.map.interactive()) return this.firstScreenPlotHeight(plotWidth) + margin.t + margin.b;
    if (!data.equal_axes) return data.height;
    const [[x0, x1], [y0, y1]] = data.extent;
    return Math.round(Math.min(data.height, Math.max(360, plotWidth * (y1 - y0) / (x1 - x0) + margin.t + margin.b)));
  }

  // Explore's map is the first thing a visitor sees: its plot area at least as tall as wide (taller where the
  // extent's shape asks), but all of it within the window below the map's top, and within data.height. With
  // equal axes Plotly widens the range that has room to spare, so every point stays inside.
  firstScreenPlotHeight(plotWidth) {
    const data = this.map.data;
    let shaped = plotWidth;
    if (data.equal_axes) {
      const [[x0, x1], [y0, y1]] = data.extent;
      shaped = Math.max(plotWidth, plotWidth * (y1 - y0) / (x1 - x0));
    }
    const scroller = lxScrollParent(this.gd), margin = this.margin();
    const top = this.gd.getBoundingClientRect().top + scroller.scrollTop;
    const room = window.innerHeight - top - margin.t - LM_SCREEN_GAP;
    return Math.round(Math.max(LM_MIN_PLOT, Math.min(shaped, room, data.height - margin.t - margin.b)));
  }

  layout(width, keepView) {
    const map = this.map, data = map.data, [[x0, x1], [y0, y1]] = data.extent;
    const axis = (title, range) => ({
      title: {text: title, standoff: 6}, range, zeroline: true, zerolinecolor: '#c8c8c8', gridcolor: '#eeeeee',
      showline: true, linecolor: '#999999', mirror: true, ticks: '', automargin: false,
    });
    const layout = {
      width, height: this.figureHeight(width) + this.legendRoom(width),
      margin: {...this.margin(), b: LM_MARGIN.b + this.legendRoom(width)},
      xaxis: axis(data.axis_titles[0], [x0, x1]), yaxis: axis(data.axis_titles[1], [y0, y1]),
      dragmode: this.dragmode === undefined ? this.defaultDragmode() : this.dragmode, hovermode: false,
      selectdirection: 'any',
      showlegend: true, uirevision: map.viewKey, paper_bgcolor: '#ffffff', plot_bgcolor: '#ffffff',
      font: {family: 'Source Sans Pro, sans-serif', size: 12, color: '#31333F'},
      legend: {orientation: 'h', x: 0, xanchor: 'left', y: 0, yanchor: 'bottom', yref: 'container',
               itemclick: 'toggle', itemdoubleclick: false, font: {size: 12}},
      legend2: {orientation: 'h', x: 1, xanchor: 'right', y: 0, yanchor: 'bottom', yref: 'container',
                itemclick: 'toggle', itemdoubleclick: false, font: {size: 12}},
      shapes: map.shapes(), images: map.images(), selections: [],
      // A new region replaces Plotly's own outline and selected points with ours (the region shape).
      selectionrevision: map.regionRevision,
    };
    if (data.equal_axes) layout.yaxis.scaleanchor = 'x';
    if (data.title) {
      layout.title = {text: data.title, x: 0, xanchor: 'left', y: 1, yanchor: 'top', yref: 'container',
                      pad: {t: 6, l: 4}, font: {size: 14}};
      layout.margin.t += 26;
    }
    if (this.colouredByQuantity()) {
      layout.coloraxis = this.colourAxis();
      layout.legend.title = {text: 'class', font: {size: 12}};
    }
    if (keepView && this.plotted) {
      const full = this.gd._fullLayout;
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

  // The drag mode in force: a finger's moves are Plotly's while there is one (web/map_input.js).
  currentDragmode() {
    return this.plotted ? this.gd._fullLayout.dragmode : this.defaultDragmode();
  }

  // The browser may scroll the page from the map only while no drag mode takes the finger's moves.
  syncTouchAction() {
    this.map.plot.classList.toggle('lm-drags', !!this.currentDragmode());
  }

  // The wheel scrolls the page (zoom: the toolbar, the + and - keys, or a pinch where Plotly takes one).
  config() {
    return {
      displayModeBar: true, displaylogo: false, scrollZoom: false, responsive: false, doubleClick: 'reset',
      modeBarButtonsToRemove: ['autoScale2d', 'toggleSpikelines', 'sendChartToCloud', 'downloadJson']
        .concat(this.map.interactive() ? [] : ['select2d', 'lasso2d']),
      toImageButtonOptions: {filename: 'latent-map', format: 'png', scale: 2},
    };
  }

  // --- drawing ------------------------------------------------------------------------------------------------

  // Plotly.react draws the points: on a new pack, view, region or size, never on a click. One drawing at a
  // time: a run that arrives while Plotly draws waits for it.
  async draw(newView) {
    const previous = this.drawing;
    let finished;
    const current = this.drawing = new Promise((resolve) => { finished = resolve; });
    this.busy = true;
    try {
      await previous;
      await this.plot(newView);
    } finally {
      if (this.drawing === current) this.busy = false;
      finished();
    }
  }

  async plot(newView) {
    const width = this.map.frame.clientWidth;
    if (!width) return;
    this.width = width;
    const traces = this.traces();
    const layout = this.layout(width, !newView);
    if (!this.plotted) {
      await this.Plotly.newPlot(this.gd, traces, layout, this.config());
      this.plotted = true;
      this.listen();
    } else {
      await this.Plotly.react(this.gd, traces, layout, this.config());
    }
    this.syncTouchAction();
    this.pointsDrawn(newView ? 'new view' : 'points');
  }

  // Plotly takes no relayout while it draws the points: marks and images wait for the drawing.
  whenIdle(change) {
    if (this.busy) return this.drawing.then(change);
    return change();
  }

  relayout(update) {
    return this.whenIdle(() => this.Plotly.relayout(this.gd, update));
  }

  restyle(update, traces) {
    return this.whenIdle(() => this.Plotly.restyle(this.gd, update, traces));
  }

  // The points are where Plotly drew them, in a view the map follows (web/latent_map.js pointsDrawn).
  pointsDrawn(reason) {
    this.measuredExtent = JSON.stringify(this.visibleExtent());
    this.map.pointsDrawn(reason);
  }

  // Plotly also reports a relayout that leaves the axes where they were (the end of a click in pan mode).
  viewMoved() {
    return JSON.stringify(this.visibleExtent()) !== this.measuredExtent;
  }

  listen() {
    const gd = this.gd;
    gd.on('plotly_relayout', (change) => {
      if (Object.keys(change).some((key) => /axis\.(range|autorange)/.test(key)) && this.viewMoved()) {
        this.pointsDrawn('view');
      }
      if ('dragmode' in change) {
        this.dragmode = change.dragmode;
        this.syncTouchAction();
      }
    });
    gd.on('plotly_selected', (event) => {
      const selection = this.selection(event);
      if (selection) this.map.setRegion(selection.region, true, selection.members);
    });
    gd.on('plotly_deselect', () => { if (this.map.region) this.map.setRegion(null, true); });
    gd.on('plotly_legendclick', (event) => this.onLegendClick(event));
  }

  onLegendClick(event) {
    const map = this.map, item = this.traceOf[event.curveNumber];
    if (!item || item.overlay) return false;
    const set = item.c === null ? map.hiddenSplits : map.hidden, key = item.c === null ? item.split : item.c;
    if (set.has(key)) set.delete(key); else set.add(key);
    const visible = this.traceOf.map(({split, c}) => (
      (c !== null && map.hidden.has(c)) || map.hiddenSplits.has(split) ? 'legendonly' : true));
    this.restyle({visible}).then(() => map.shownChanged());
    return false;
  }

  // The region of a box or lasso just drawn, and the points Plotly found inside it, which are its members until
  // the server's reply brings its own (web/latent_map.js setMembers); null for anything else.
  selection(event) {
    if (!event) return null;
    let region = null;
    if (event.range && event.range.x) {
      const {x, y} = event.range;
      region = {shape: 'box', vertices: [[x[0], y[0]], [x[1], y[1]]]};
    } else if (event.lassoPoints && event.lassoPoints.x.length >= 3) {
      const {x, y} = event.lassoPoints, limit = this.map.data.max_lasso_vertices;
      // A long, slow lasso has more vertices than the server takes: every so-many'th of them, evenly spread.
      const keep = Math.min(x.length, limit), stride = x.length / keep;
      const vertices = Array.from({length: keep}, (_, k) => Math.floor(k * stride));
      region = {shape: 'lasso', vertices: vertices.map((k) => [x[k], y[k]])};
    }
    if (!region) return null;
    const members = new Uint8Array(this.map.x.length);
    for (const point of event.points || []) {
      const trace = this.traceOf[point.curveNumber];
      if (trace && trace.indices) members[trace.indices[point.pointIndex ?? point.pointNumber]] = 1;
    }
    return {region, members};
  }

  // --- the view: Plotly's axes, map coordinates to pixels of the figure ---------------------------------------

  toPx(x, y) {
    const {xaxis, yaxis} = this.gd._fullLayout;
    return [xaxis._offset + xaxis.l2p(x), yaxis._offset + yaxis.l2p(y)];
  }

  toData(px, py) {
    const {xaxis, yaxis} = this.gd._fullLayout;
    return [xaxis.p2l(px - xaxis._offset), yaxis.p2l(py - yaxis._offset)];
  }

  // Pixels per unit across, and up.
  scale() {
    return this.gd._fullLayout.xaxis._m;
  }

  scaleUp() {
    return -this.gd._fullLayout.yaxis._m;
  }

  visibleExtent() {
    const {xaxis, yaxis} = this.gd._fullLayout;
    const [x0, x1] = xaxis.range, [y0, y1] = yaxis.range;
    return [[Math.min(x0, x1), Math.max(x0, x1)], [Math.min(y0, y1), Math.max(y0, y1)]];
  }

  // The plot's rectangle inside the figure, in CSS pixels.
  plotArea() {
    const {xaxis, yaxis} = this.gd._fullLayout;
    return {left: xaxis._offset, top: yaxis._offset, width: xaxis._length, height: yaxis._length};
  }
}
