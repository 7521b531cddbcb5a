// What the latent map draws under its points, and where a spot of the map is in latent space.
// - The density layer (MapData.layers, latent_explorer/map_layers.py): the aggregate posterior q(z) as a
//   layout image stretched over its grid, the prior's 1σ and 2σ circles and the holes' outline as layout
//   shapes on Plotly's 'below' layer. All of it rides on the relayouts the map already makes (images,
//   shapes): a click or a hover never draws the points again.
// - Two latent dimensions as axes (MapData.projection): the map's x and y are z_i and z_j, and a spot of the
//   map is the whole code mean + x·e_i + y·e_j, the other dimensions at their held-out mean.

import {lxSigned} from './runtime.js';

/** @typedef {import('./contract.js').MapData} MapData */

const ML_PRIOR_CIRCLE = '#6b6b6b';
const ML_HOLE = '#D55E00';

/** Layout images of the layers, under the points. @param {MapData} data */
export function lxLayerImages(data) {
  const density = data.layers && data.layers.density;
  if (!density) return [];
  const [[x0, x1], [y0, y1]] = density.extent;
  return [{source: density.uri, xref: 'x', yref: 'y', x: x0, y: y1, sizex: x1 - x0, sizey: y1 - y0,
           sizing: 'stretch', layer: 'below', opacity: 1, xanchor: 'left', yanchor: 'top', name: 'density'}];
}

/** Layout shapes of the layers: the prior's circles and the holes' outline. @param {MapData} data */
export function lxLayerShapes(data) {
  const layers = data.layers;
  if (!layers) return [];
  const shapes = (layers.prior_circles || []).map((n) => ({
    type: 'circle', xref: 'x', yref: 'y', x0: -n, x1: n, y0: -n, y1: n, layer: 'below', name: `prior ${n}σ`,
    line: {color: ML_PRIOR_CIRCLE, width: 1.5, dash: n === 1 ? 'solid' : 'dash'},
  }));
  if (layers.holes) {
    shapes.push({type: 'path', xref: 'x', yref: 'y', path: layers.holes, layer: 'below', name: 'holes',
                 line: {color: ML_HOLE, width: 1.5}});
  }
  return shapes;
}

/** The projection the map's points go through: two latent axes, or the pack's (identity or PCA). */
export function lxMapProjection(data, model) {
  return data.projection || model.projection;
}

/** The whole code at map coordinates [x, y]: mean + x·components[0] + y·components[1]. */
export function lxUnproject(xy, projection) {
  const {mean, components} = projection;
  return mean.map((m, k) => m + xy[0] * components[0][k] + xy[1] * components[1][k]);
}

/** How a decoded spot is named: z = (x, y), or the two axes' dimensions and what the others are. */
export function lxSpotLabel(data, xy) {
  if (!data.projection) return `z = (${lxSigned(xy[0], 2)}, ${lxSigned(xy[1], 2)})`;
  const [first, second] = data.projection.names;
  return `${first} = ${lxSigned(xy[0], 2)}, ${second} = ${lxSigned(xy[1], 2)}, the rest at their held-out mean`;
}
