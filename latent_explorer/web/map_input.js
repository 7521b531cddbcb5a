// Where the latent map takes its input: the mouse (hover: the lens; click: inspect a point or decode a spot), a
// finger (a tap clicks; a finger held still, then moved, drives the lens while the page stays; a swipe scrolls the
// page) and the keyboard (a cursor that hovers and clicks like the pointer: arrows, Enter, + and -, Escape).
// Plotly keeps its own toolbar, legend and drag modes (pan, zoom, box, lasso), which take the presses on them.
// The hint above the map, the figure's accessible name and a skip link say how.

import {lxElement} from './runtime.js';

const LM_CLICK_SLOP = 4;        // a press that moves more than this is a drag, not a click
const LM_HOLD = 300;            // ms a finger rests on the map before its moves drive the lens instead of the page
const LM_KEY_STEPS = 40;        // an arrow key moves the keyboard cursor 1/40 of the visible width (Shift: 1/8)
const LM_PROBE_REACH = 12;      // how close (CSS pixels) a click must be to the star of a person's own picture

// A phone or tablet: the finger is the main pointer (what the map's hint speaks of).
function lxTouchFirst() {
  return window.matchMedia('(pointer: coarse)').matches;
}

export class MapInput {
  constructor(map) {
    this.map = map;
    this.press = null;             // a mouse or pen press on the plot, until it is let go
    this.hover = null;             // where the pointer rests, drawn at the next frame
    this.hoverFrame = null;
    this.hold = null;              // a finger on the map, waiting to be held
    this.cursor = null;            // the keyboard's cursor, pixels of the figure
    const overlay = map.overlay;
    // Capture: Plotly's drag layers sit inside the figure and may stop what bubbles.
    overlay.addEventListener('pointerdown', (e) => this.onPointerDown(e), true);
    overlay.addEventListener('pointermove', (e) => this.onPointerMove(e), true);
    // The browser took the press for a scroll: no click at its end.
    overlay.addEventListener('pointercancel', () => { this.press = null; }, true);
    overlay.addEventListener('touchstart', (e) => this.onTouchStart(e), {capture: true, passive: true});
    overlay.addEventListener('touchmove', (e) => this.onTouchMove(e), {capture: true, passive: false});
    overlay.addEventListener('touchend', () => this.endHold(), true);
    overlay.addEventListener('touchcancel', () => this.endHold(), true);
    overlay.addEventListener('pointerleave', () => this.onPointerLeave());
    overlay.addEventListener('keydown', (e) => this.onKey(e));
    overlay.addEventListener('blur', () => this.leaveCursor());
    // A press may end outside the map.
    this.onWindowPointerUp = (e) => this.onPointerUp(e);
  }

  attach() {
    window.addEventListener('pointerup', this.onWindowPointerUp, true);
  }

  destroy() {
    window.removeEventListener('pointerup', this.onWindowPointerUp, true);
    if (this.skipLink && this.skipLink.__map === this.map) this.skipLink.remove();
  }

  // What the hint and the figure's accessible name say: what a click, a tap, a held finger and the keys do here.
  explain() {
    const map = this.map, [across, up] = map.data.axis_titles, decodes = map.decodesHere();
    if (lxTouchFirst()) {
      map.hint.textContent = (decodes ? 'Tap a point to inspect it, or empty space to decode there · hold a finger, '
        + 'then move it to decode under it' : 'Tap a point to inspect it · hold a finger on a point to see its '
        + 'reconstruction') + ' · zoom and pan in the toolbar';
    } else {
      map.hint.textContent = (decodes ? 'Hover to decode · click a point to inspect it, or empty space to decode it'
        : 'Hover a point to see its reconstruction · click it to inspect')
        + ' · zoom, pan, box, lasso: toolbar · keys: arrows, Enter';
    }
    map.overlay.setAttribute('aria-label', `Latent map of ${map.x.length.toLocaleString()} images, `
      + `${across} across, ${up} up. Arrow keys move a cursor `
      + `that decodes where it stands${decodes ? '' : ' (or shows the point under it)'}; `
      + 'Enter inspects the nearest image; plus and minus zoom; Escape leaves the cursor.');
    this.syncSkipLink();
  }

  // The page's first Tab stop while an interactive map is on it: a link (seen only while it has the focus) that
  // takes the keyboard past the sidebar and the controls, straight to the map.
  syncSkipLink() {
    if (!this.map.interactive()) return;
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
    link.__map = this.map;
    this.skipLink = link;
  }

  localPoint(event) {
    const rect = this.map.overlay.getBoundingClientRect();
    return [event.clientX - rect.left, event.clientY - rect.top];
  }

  // Presses on Plotly's toolbar or legend are theirs.
  onChrome(event) {
    return !!(event.target.closest && event.target.closest('.modebar, .legend, .legend2, .infolayer'));
  }

  // --- the mouse (and a pen, and a finger's tap) ---------------------------------------------------------------

  onPointerDown(event) {
    if (event.button !== 0 || !this.map.figure.plotted || this.onChrome(event)) return;
    const [px, py] = this.localPoint(event);
    this.press = {px, py, moved: false};
    this.map.hideTooltip();
  }

  onPointerMove(event) {
    if (!this.map.figure.plotted) return;
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
        if (this.hover) this.map.lensView.hover(this.hover.px, this.hover.py);
      });
    }
  }

  onPointerUp(event) {
    const press = this.press;
    this.press = null;
    if (!press || !this.map.figure.plotted) return;
    const [px, py] = this.localPoint(event);
    if (!press.moved && Math.hypot(px - press.px, py - press.py) <= LM_CLICK_SLOP) this.click(px, py);
  }

  onPointerLeave() {
    this.hover = null;
    this.map.hideTooltip();
  }

  // A click on the plot: the star of the person's own picture, else the point under it, else (where this map
  // decodes) the spot itself.
  click(px, py) {
    const map = this.map;
    if (!map.insidePlot(px, py) || !map.interactive()) return;
    if (map.replay && map.replay.takePress()) return;
    const probe = map.probeCode();
    if (probe) {
      const [qx, qy] = map.toPx(...probe.position);
      if (Math.hypot(qx - px, qy - py) <= LM_PROBE_REACH) {
        map.selectProbe();
        return;
      }
    }
    const index = map.hits.pointAt(px, py);
    if (index !== null) {
      map.selectPoint(index);
    } else if (map.decodesHere()) {
      map.selectLocation(map.toData(px, py));
      map.lensView.hover(px, py); // the lens shows the spot too: a finger has no hover before its tap
    }
  }

  // --- a finger ---------------------------------------------------------------------------------------------

  // A finger that rests LM_HOLD ms on the map, then moves, moves the lens (the page stays); one that moves at
  // once is a swipe, which the browser scrolls. A drag mode chosen in the toolbar takes the finger instead.
  onTouchStart(event) {
    const map = this.map;
    this.endHold();
    if (event.touches.length !== 1 || !map.figure.plotted || !map.interactive() || this.onChrome(event)
        || map.figure.currentDragmode()) return;
    const [px, py] = this.localPoint(event.touches[0]);
    const hold = this.hold = {px, py, held: false};
    hold.timer = setTimeout(() => {
      hold.held = true;
      map.lensView.hover(px, py);
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
      this.map.lensView.hover(px, py);
    } else if (Math.hypot(px - hold.px, py - hold.py) > LM_CLICK_SLOP) {
      this.endHold();
    }
  }

  endHold() {
    if (this.hold) clearTimeout(this.hold.timer);
    this.hold = null;
  }

  // --- the keyboard: a cursor that hovers and clicks like the pointer ----------------------------------------

  onKey(event) {
    const map = this.map, a = map.hits.area;
    if (!map.figure.plotted || !a || !map.interactive()) return;
    const moves = {ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1]};
    if (!this.cursor) {
      const selected = map.selected !== null && map.selected !== undefined && map.selected < map.x.length;
      this.cursor = selected ? map.toPx(map.x[map.selected], map.y[map.selected])
        : [a.left + a.width / 2, a.top + a.height / 2];
    }
    if (moves[event.key]) {
      const step = a.width / (event.shiftKey ? 8 : LM_KEY_STEPS), [dx, dy] = moves[event.key];
      const [x, y] = this.cursor;
      this.cursor = [Math.min(a.left + a.width, Math.max(a.left, x + dx * step)),
                     Math.min(a.top + a.height, Math.max(a.top, y + dy * step))];
    } else if (event.key === 'Enter' || event.key === ' ') {
      event.preventDefault();
      if (map.replay && map.replay.takePress()) return;
      const index = map.hits.nearestShown(...this.cursor);
      if (index !== null) {
        map.selectPoint(index);
        map.announce(`Inspecting ${map.describe(index)}`);
      }
      return;
    } else if (event.key === '+' || event.key === '=' || event.key === '-') {
      event.preventDefault();
      this.zoomAtCursor(event.key === '-' ? 1.5 : 1 / 1.5);
      return;
    } else if (event.key === 'Escape') {
      this.leaveCursor();
      return;
    } else {
      return;
    }
    event.preventDefault();
    this.cursorMoved();
  }

  leaveCursor() {
    this.cursor = null;
    this.map.hideTooltip();
    this.map.drawOverlay();
  }

  // Plotly zooms: the visible ranges shrink (or grow) by `factor` about the cursor, which stays on its spot.
  zoomAtCursor(factor) {
    const map = this.map, [cx, cy] = map.toData(...this.cursor), [[x0, x1], [y0, y1]] = map.visibleExtent();
    map.figure.relayout({
      'xaxis.range': [cx + (x0 - cx) * factor, cx + (x1 - cx) * factor],
      'yaxis.range': [cy + (y0 - cy) * factor, cy + (y1 - cy) * factor],
    }).then(() => this.cursorMoved());
  }

  cursorMoved() {
    const map = this.map, [titleX, titleY] = map.data.axis_titles;
    map.lensView.hover(...this.cursor);
    const z = map.toData(...this.cursor), nearest = map.hits.nearestShown(...this.cursor);
    map.announce(`Cursor at ${titleX} ${z[0].toFixed(2)}, ${titleY} ${z[1].toFixed(2)}`
      + (nearest !== null ? `; nearest image ${map.describe(nearest)}` : ''));
    map.host.dataset.cursor = z.map((v) => v.toFixed(3)).join(',');
    map.drawOverlay();
  }
}
