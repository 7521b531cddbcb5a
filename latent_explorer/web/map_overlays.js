// What the latent map draws over its points, as Plotly layout shapes replaced as one array (a relayout, which
// never draws the points again): the layers' circles and holes (web/map_layers.js), the page's own marks
// (MapData.overlays), the selected region, the star of a person's own picture, the selected image with its
// posterior q(z|x) (1σ and 2σ outlines and the draws z = μ + σ·ε), a decoded spot and the keyboard's cursor.

import {lxBytes, lxPosteriorOutline, lxProject, lxRow} from './runtime.js';
import {lxLayerShapes, lxMapProjection} from './map_layers.js';

// A closed SVG path through [x, y] points (Plotly's path shapes take data coordinates or pixels).
function lxPath(points) {
  return lxOpenPath(points) + ' Z';
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

const line = (color, width, dash) => ({color, width, dash: dash || 'solid'});

// A mark of fixed size in pixels around a point of the data.
const marker = (x, y, path, style) => ({
  type: 'path', xref: 'x', yref: 'y', xsizemode: 'pixel', ysizemode: 'pixel', xanchor: x, yanchor: y,
  path, ...style,
});

// One byte a point (1: inside the region) from the server's bits, eight points a byte, first point lowest
// (latent_explorer/components.py member_bits).
export function lxBits(base64, count) {
  const bits = lxBytes(base64), members = new Uint8Array(count);
  for (let i = 0; i < count; i++) members[i] = (bits[i >> 3] >> (i & 7)) & 1;
  return members;
}

// q(z|x) of a code seen through the map's projection, in map coordinates: its centre, the 1σ and 2σ outlines
// and the draws z = μ + σ·ε of MapData.eps.
function lxPosteriorGeometry(map, mu, sigma) {
  const projection = lxMapProjection(map.data, map.model);
  return {
    centre: lxProject(mu, projection),
    outlines: {1: lxPosteriorOutline(mu, sigma, projection, 1, 73), 2: lxPosteriorOutline(mu, sigma, projection, 2, 73)},
    draws: (map.data.eps || []).map((eps) => lxProject(mu.map((m, k) => m + sigma[k] * eps[k]), projection)),
  };
}

// Image `index`'s posterior; null where no posterior can be drawn (an AE's codes, a t-SNE view).
export function lxImagePosterior(map, index) {
  if (!map.linearView() || !map.model.has_sigma) return null;
  return lxPosteriorGeometry(map, lxRow(map.pack, map.kind + '.mu', index), lxRow(map.pack, map.kind + '.sigma', index));
}

// The posterior drawn now (the selected image's, else the person's own picture's), or null.
export function lxShownPosterior(map) {
  if (!map.data.posterior) return null;
  if (map.hasSelection()) return lxImagePosterior(map, map.selected);
  const probe = map.probeCode();
  if (probe && map.probeActive && probe.sigma && map.model.has_sigma) {
    return lxPosteriorGeometry(map, probe.mu, probe.sigma);
  }
  return null;
}

function posteriorShapes(geometry, colour) {
  if (!geometry) return [];
  const shapes = [1, 2].map((n) => ({
    type: 'path', xref: 'x', yref: 'y', path: lxPath(geometry.outlines[n]),
    line: {color: colour, width: 2, dash: n === 1 ? 'solid' : 'dash'},
  }));
  for (const [x, y] of geometry.draws) {
    shapes.push(marker(x, y, 'M0,6 L5,0 L0,-6 L-5,0 Z', {fillcolor: colour, line: {color: '#ffffff', width: 1}}));
  }
  return shapes;
}

// The page's marks: lines through their points, markers of their size at each.
function pageMarks(overlays) {
  const shapes = [];
  for (const overlay of overlays || []) {
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

// Every shape over (and, for the layers, under) the points, bottom first.
export function lxMapShapes(map) {
  const shapes = lxLayerShapes(map.data);
  shapes.push(...pageMarks(map.data.overlays));
  if (map.region) {
    const v = map.region.vertices;
    const corners = map.region.shape === 'box'
      ? [[v[0][0], v[0][1]], [v[1][0], v[0][1]], [v[1][0], v[1][1]], [v[0][0], v[1][1]]] : v;
    shapes.push({type: 'path', xref: 'x', yref: 'y', path: lxPath(corners), line: line('#333333', 1.5, 'dash'),
                 fillcolor: 'rgba(120, 120, 120, 0.08)'});
  }
  const probe = map.probeCode();
  if (probe) {
    if (map.probeActive && map.data.posterior && probe.sigma && map.model.has_sigma) {
      shapes.push(...posteriorShapes(lxPosteriorGeometry(map, probe.mu, probe.sigma), map.data.highlight));
    }
    shapes.push(marker(probe.position[0], probe.position[1], lxStar(12, 5), {
      fillcolor: map.probeActive ? '#FFB000' : 'rgba(255, 176, 0, 0.75)',
      line: line('#111111', map.probeActive ? 2 : 1.2)}));
  }
  if (map.hasSelection()) {
    if (map.data.posterior) shapes.push(...posteriorShapes(lxImagePosterior(map, map.selected), map.data.highlight));
    const [x, y] = [map.x[map.selected], map.y[map.selected]];
    shapes.push({type: 'circle', xref: 'x', yref: 'y', xsizemode: 'pixel', ysizemode: 'pixel', xanchor: x,
                 yanchor: y, x0: -8, x1: 8, y0: -8, y1: 8, line: line('#111111', 3)});
  }
  if (map.location && map.decodesHere()) {
    shapes.push(marker(map.location[0], map.location[1], 'M-6,-6 L6,6 M-6,6 L6,-6', {line: line('#2CA02C', 3)}));
  }
  const cursor = map.input.cursor;
  if (cursor && map.figure.plotted) {
    const [x, y] = map.toData(...cursor);
    shapes.push(marker(x, y, 'M-10,0 L-3,0 M3,0 L10,0 M0,-10 L0,-3 M0,3 L0,10', {line: line('#111111', 1.5)}));
  }
  return shapes;
}
