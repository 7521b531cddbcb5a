// Hit testing on the latent map: where each point is drawn, in pixels of the figure, and a grid of those pixels,
// so that a click or a hover finds the nearest drawn point in a few cells instead of among every point.

const LM_HIT_RADIUS = 7;        // how close (CSS pixels) a click or hover must be to take a point
const LM_CELL = 16;             // hit-test grid cell, CSS pixels

export class HitGrid {
  constructor(map) {
    this.map = map;
    this.screenX = null;           // Float32Array: each point's pixel across the figure, as last drawn
    this.screenY = null;
    this.area = null;              // the plot's rectangle in the figure
    this.grid = null;
  }

  // The points' pixels in the view Plotly has just drawn, and the grid of the shown ones.
  measure() {
    const map = this.map, figure = map.figure;
    const n = map.x.length, screenX = new Float32Array(n), screenY = new Float32Array(n);
    const sx = figure.scale(), sy = figure.scaleUp(), [ox, oy] = figure.toPx(0, 0);
    for (let i = 0; i < n; i++) {
      screenX[i] = ox + map.x[i] * sx;
      screenY[i] = oy - map.y[i] * sy;
    }
    this.screenX = screenX;
    this.screenY = screenY;
    this.area = figure.plotArea();
    this.build();
  }

  insidePlot(px, py) {
    const a = this.area;
    return !!a && px >= a.left && px <= a.left + a.width && py >= a.top && py <= a.top + a.height;
  }

  // Point i is drawn inside the plot (not hidden by the legend, not outside the visible ranges).
  visible(i) {
    return this.map.shown(i) && this.insidePlot(this.screenX[i], this.screenY[i]);
  }

  build() {
    const map = this.map;
    const width = map.overlay.clientWidth || map.figure.width, height = map.overlay.clientHeight || map.data.height;
    const columns = Math.ceil(width / LM_CELL), rows = Math.ceil(height / LM_CELL);
    const count = new Int32Array(columns * rows + 1);
    const n = map.x.length, cellOf = new Int32Array(n).fill(-1);
    for (let i = 0; i < n; i++) {
      if (!this.visible(i)) continue;
      const cell = Math.floor(this.screenY[i] / LM_CELL) * columns + Math.floor(this.screenX[i] / LM_CELL);
      cellOf[i] = cell;
      count[cell + 1]++;
    }
    for (let k = 1; k < count.length; k++) count[k] += count[k - 1];
    const items = new Int32Array(count[count.length - 1]), fill = count.slice(0, -1);
    for (let i = 0; i < n; i++) if (cellOf[i] >= 0) items[fill[cellOf[i]]++] = i;
    this.grid = {columns, rows, start: count, items};
  }

  // The visible point nearest to (px, py) within the hit radius, or null.
  pointAt(px, py) {
    if (!this.grid) return null;
    const {columns, rows, start, items} = this.grid;
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
    for (let i = 0; i < this.map.x.length; i++) {
      if (!this.visible(i)) continue;
      const distance = (this.screenX[i] - px) ** 2 + (this.screenY[i] - py) ** 2;
      if (distance < bestDistance) { best = i; bestDistance = distance; }
    }
    return best;
  }
}
