// Latent Explorer's browser runtime, the module every component's imports: packs, the decoder, latent geometry,
// pictures and text, and the base class of the components.
//
// What the page shares lives on window.__latentExplorer (LX): packs of arrays sent once by the server (see
// latent_explorer/pack.py), an event bus between components of one page, and timing marks that the
// benchmark and the browser tests read.

export const LX = (() => {
  if (!window.__latentExplorer) {
    window.__latentExplorer = {packs: new Map(), waiting: new Map(), bus: new EventTarget(), marks: []};
  }
  return window.__latentExplorer;
})();

const LX_TYPED = {float32: Float32Array, uint8: Uint8Array, uint16: Uint16Array, int32: Int32Array};
const LX_MAX_PACKS = 6;
const LX_MAX_MARKS = 4000;

export function lxMark(name, detail) {
  LX.marks.push({name, t: performance.now(), ...(detail || {})});
  if (LX.marks.length > LX_MAX_MARKS) LX.marks.splice(0, LX.marks.length - LX_MAX_MARKS);
}

function lxPackHeader(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = String.fromCharCode(bytes[0], bytes[1], bytes[2], bytes[3]);
  if (magic !== 'LXP1') throw new Error('not a latent explorer pack');
  const length = view.getUint32(4, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length)));
  let start = 8 + length;
  start += (8 - (start % 8)) % 8;
  return {header, start};
}

// Keeps the pack (parsed once, by id) and wakes whoever waits for it.
export function lxRegisterPack(bytes) {
  const {header, start} = lxPackHeader(bytes);
  if (LX.packs.has(header.id)) return LX.packs.get(header.id);
  // A copy: the bytes are a view into the websocket message, at an offset typed arrays cannot use.
  const buffer = bytes.slice(start).buffer;
  const arrays = {};
  for (const [name, entry] of Object.entries(header.arrays)) {
    const count = entry.shape.reduce((a, b) => a * b, 1);
    arrays[name] = new LX_TYPED[entry.dtype](buffer, entry.offset, count);
  }
  const pack = {id: header.id, meta: header.meta, arrays, shapes: Object.fromEntries(
    Object.entries(header.arrays).map(([name, entry]) => [name, entry.shape])), decoders: new Map()};
  LX.packs.set(pack.id, pack);
  while (LX.packs.size > LX_MAX_PACKS) LX.packs.delete(LX.packs.keys().next().value);
  for (const resolve of LX.waiting.get(pack.id) || []) resolve(pack);
  LX.waiting.delete(pack.id);
  lxMark('pack', {id: pack.id, bytes: bytes.byteLength});
  return pack;
}

// A pack once it is here, with the pack it borrows its decoders from: the two travel as separate files and
// may arrive in either order, and a reader of the first needs its decoders at once.
export async function lxWhenPack(id) {
  const pack = LX.packs.has(id) ? LX.packs.get(id) : await new Promise((resolve) => {
    if (!LX.waiting.has(id)) LX.waiting.set(id, []);
    LX.waiting.get(id).push(resolve);
  });
  if (pack.meta.decoders_from) await lxWhenPack(pack.meta.decoders_from);
  return pack;
}

// --- the decoder: the layers of vae_core/portable.py, in float64 over float32 weights -------------

class LxDecoder {
  constructor(spec, arrays) {
    this.latentDim = spec.latent_dim;
    this.outputShape = spec.output_shape;
    this.layers = spec.layers.map((layer) => {
      const resolved = {...layer};
      for (const [key, name] of Object.entries(layer.arrays || {})) resolved[key] = arrays[name];
      return resolved;
    });
  }

  // Pixel probabilities, (C, H, W) flattened, for one code z (any array-like of latentDim numbers).
  decode(z) {
    let x = Float64Array.from(z);
    let shape = [x.length];
    for (const layer of this.layers) {
      if (layer.op === 'linear') {
        const out = Float64Array.from(layer.bias);
        const n = layer.out, w = layer.weight_t;
        for (let i = 0; i < layer.in; i++) {
          const xi = x[i];
          if (xi === 0) continue;
          const base = i * n;
          for (let o = 0; o < n; o++) out[o] += xi * w[base + o];
        }
        x = out;
        shape = [n];
      } else if (layer.op === 'relu') {
        for (let i = 0; i < x.length; i++) if (x[i] < 0) x[i] = 0;
      } else if (layer.op === 'reshape') {
        shape = layer.shape;
      } else if (layer.op === 'conv_transpose2d') {
        [x, shape] = lxConvTranspose2d(x, shape, layer);
      } else if (layer.op === 'conv2d') {
        [x, shape] = lxConv2d(x, shape, layer);
      } else {
        throw new Error('unknown decoder operation ' + layer.op);
      }
    }
    const out = new Float32Array(x.length);
    for (let i = 0; i < x.length; i++) out[i] = 1 / (1 + Math.exp(-x[i]));
    return out;
  }

  // The picture the pages show: channels averaged, (H, W) flattened, values in [0, 1].
  gray(z) {
    const pixels = this.decode(z);
    const [c, h, w] = this.outputShape;
    if (c === 1) return pixels;
    const out = new Float32Array(h * w);
    for (let k = 0; k < c; k++) for (let i = 0; i < h * w; i++) out[i] += pixels[k * h * w + i] / c;
    return out;
  }
}

function lxConvTranspose2d(x, [cin, h, w], layer) {
  const {kernel: k, stride: s, padding: p, output_padding: op, out_channels: cout, weight, bias} = layer;
  const oh = (h - 1) * s - 2 * p + k + op, ow = (w - 1) * s - 2 * p + k + op;
  const out = new Float64Array(cout * oh * ow);
  for (let co = 0; co < cout; co++) out.fill(bias[co], co * oh * ow, (co + 1) * oh * ow);
  for (let ci = 0; ci < cin; ci++) {
    for (let y = 0; y < h; y++) {
      for (let xx = 0; xx < w; xx++) {
        const v = x[(ci * h + y) * w + xx];
        if (v === 0) continue;
        for (let co = 0; co < cout; co++) {
          const wbase = (ci * cout + co) * k * k, obase = co * oh * ow;
          for (let ky = 0; ky < k; ky++) {
            const oy = y * s + ky - p;
            if (oy < 0 || oy >= oh) continue;
            for (let kx = 0; kx < k; kx++) {
              const ox = xx * s + kx - p;
              if (ox < 0 || ox >= ow) continue;
              out[obase + oy * ow + ox] += v * weight[wbase + ky * k + kx];
            }
          }
        }
      }
    }
  }
  return [out, [cout, oh, ow]];
}

function lxConv2d(x, [cin, h, w], layer) {
  const {kernel: k, stride: s, padding: p, out_channels: cout, weight, bias} = layer;
  const oh = Math.floor((h + 2 * p - k) / s) + 1, ow = Math.floor((w + 2 * p - k) / s) + 1;
  const out = new Float64Array(cout * oh * ow);
  for (let co = 0; co < cout; co++) {
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        let sum = bias[co];
        for (let ci = 0; ci < cin; ci++) {
          for (let ky = 0; ky < k; ky++) {
            const iy = oy * s + ky - p;
            if (iy < 0 || iy >= h) continue;
            for (let kx = 0; kx < k; kx++) {
              const ix = ox * s + kx - p;
              if (ix < 0 || ix >= w) continue;
              sum += x[(ci * h + iy) * w + ix] * weight[((co * cin + ci) * k + ky) * k + kx];
            }
          }
        }
        out[(co * oh + oy) * ow + ox] = sum;
      }
    }
  }
  return [out, [cout, oh, ow]];
}

// The decoder of one model of a workspace pack, or null when the server decodes for this model. A pack of
// every image borrows the decoders of its workspace pack, which the page always sends first.
export function lxDecoder(pack, kind) {
  if (pack.meta.decoders_from) {
    const source = LX.packs.get(pack.meta.decoders_from);
    return source ? lxDecoder(source, kind) : null;
  }
  if (!pack.decoders.has(kind)) {
    const spec = pack.meta.models && pack.meta.models[kind] && pack.meta.models[kind].decoder;
    pack.decoders.set(kind, spec ? new LxDecoder(spec, pack.arrays) : null);
  }
  return pack.decoders.get(kind);
}

// Row i of an (N, d) array of a pack, as a plain array.
export function lxRow(pack, name, i) {
  const d = pack.shapes[name][1];
  return Array.from(pack.arrays[name].subarray(i * d, (i + 1) * d));
}

// --- latent geometry ------------------------------------------------------------------------------

// A code in map coordinates: (z - mean) @ components.T, the identity for a 2-d latent.
export function lxProject(z, projection) {
  const {mean, components} = projection;
  let a = 0, b = 0;
  for (let k = 0; k < z.length; k++) {
    const c = z[k] - mean[k];
    a += c * components[0][k];
    b += c * components[1][k];
  }
  return [a, b];
}

// The n-sigma outline of N(mu, diag(sigma^2)) seen through a projection P: the ellipse of the projected
// covariance P diag(sigma^2) Pᵀ, whose eigenvectors are its axes and the square roots of whose
// eigenvalues are its half-lengths. `count` points, the last equal to the first.
export function lxPosteriorOutline(mu, sigma, projection, n, count) {
  const [a, b] = projection.components;
  let sxx = 0, sxy = 0, syy = 0;
  for (let k = 0; k < mu.length; k++) {
    const v = sigma[k] * sigma[k];
    sxx += a[k] * a[k] * v; sxy += a[k] * b[k] * v; syy += b[k] * b[k] * v;
  }
  const half = (sxx + syy) / 2, gap = Math.sqrt(((sxx - syy) / 2) ** 2 + sxy * sxy);
  const major = Math.sqrt(Math.max(half + gap, 0)), minor = Math.sqrt(Math.max(half - gap, 0));
  const angle = 0.5 * Math.atan2(2 * sxy, sxx - syy);
  const [cx, cy] = lxProject(mu, projection), outline = [];
  for (let k = 0; k < count; k++) {
    const t = (2 * Math.PI * k) / (count - 1);
    const u = n * major * Math.cos(t), v = n * minor * Math.sin(t);
    outline.push([cx + u * Math.cos(angle) - v * Math.sin(angle), cy + u * Math.sin(angle) + v * Math.cos(angle)]);
  }
  return outline;
}

// --- pictures ------------------------------------------------------------------------------------

// Draws an (h, w) grey image in [0, 1] onto a canvas at its own resolution; CSS scales it up with
// square pixels (image-rendering: pixelated), so a 28x28 decode costs 784 pixel writes.
export function lxPaintGray(canvas, gray, w, h, invert) {
  if (canvas.width !== w || canvas.height !== h) {
    canvas.width = w;
    canvas.height = h;
  }
  const context = canvas.getContext('2d');
  const image = context.createImageData(w, h);
  const data = image.data;
  for (let i = 0; i < w * h; i++) {
    let v = Math.round(Math.min(1, Math.max(0, gray[i])) * 255);
    if (invert) v = 255 - v;
    data[4 * i] = data[4 * i + 1] = data[4 * i + 2] = v;
    data[4 * i + 3] = 255;
  }
  context.putImageData(image, 0, 0);
}

// Server pictures arrive as raw grey bytes in base64 ((tiles, H, W)): painted in the task they arrive
// in, where a PNG would be decoded later, behind whatever else the page is rendering.
export function lxBytes(base64) {
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}

export function lxPaintBytes(canvas, bytes, offset, w, h) {
  const gray = new Float32Array(w * h);
  for (let i = 0; i < w * h; i++) gray[i] = bytes[offset + i] / 255;
  lxPaintGray(canvas, gray, w, h);
}

// Decodes of a decoder the browser cannot run, fetched from the server's route (latent_explorer/decode_route.py):
// one request at a time, and while one is out only the newest wish waits, so a drag asks for what the hand
// has reached, not for every spot it passed. `onDecode(z, bytes, traversal)` gets the grey bytes (tiles, H, W);
// `onError(z, message)` a sentence saying what went wrong instead.
export class LxServerDecodes {
  constructor(url, onDecode, onError) {
    Object.assign(this, {url, onDecode, onError});
    this.asked = null;      // the request out now: {z, key, traversal}
    this.delivered = null;  // the last one answered
    this.wanted = null;     // the one to send when the server answers
  }

  // Asks for the decode at z (and the traversal strips); whether its answer is still to come.
  want(z, traversal = false) {
    const key = z.join(',');
    // What the screen will show once every answer is in: nothing to ask when that is already this z.
    const last = this.wanted || this.asked || this.delivered;
    if (last && last.key === key && (last.traversal || !traversal)) return last !== this.delivered;
    this.wanted = {z: z.slice(), key, traversal};
    if (!this.asked) this.next();
    return true;
  }

  // Whether an answer is still to come.
  pending() {
    return this.asked !== null || this.wanted !== null;
  }

  async next() {
    const job = this.asked = this.wanted;
    this.wanted = null;
    if (!job) return;
    try {
      const response = await fetch(`${this.url}?z=${job.key}${job.traversal ? '&traversal=1' : ''}`,
                                   {signal: AbortSignal.timeout(15000)});
      if (!response.ok) throw new Error(await response.text());
      const bytes = new Uint8Array(await response.arrayBuffer());
      this.delivered = job;
      this.onDecode(job.z, bytes, job.traversal);
    } catch (err) {
      this.onError(job.z, `The server could not decode here: ${err.message || err}`);
    } finally {
      this.asked = null;
      this.next();
    }
  }
}

// Like Python's f"{value:+.2f}": the pages' captions read the same whoever drew them.
export function lxSigned(value, digits) {
  return (value >= 0 ? '+' : '') + value.toFixed(digits);
}

export function lxElement(tag, className, text) {
  const element = document.createElement(tag);
  if (className) element.className = className;
  if (text !== undefined) element.textContent = text;
  return element;
}

// Like Python's "{:.3g}": three significant digits, in exponent form below 1e-4 and from 1000 on (KL 3.21,
// log p(x) -245, σ 0.0412, 1.5e-05), so the pages' numbers read as the server writes them (an exact tie, such as
// 1.125, rounds up here, to even there).
export function lxGeneral(value) {
  const [digits, power] = value.toExponential(2).split('e');
  const exponent = Number(power);
  if (exponent < -4 || exponent >= 3) {
    return `${lxTrimZeros(digits)}e${exponent < 0 ? '-' : '+'}${String(Math.abs(exponent)).padStart(2, '0')}`;
  }
  return lxTrimZeros(value.toFixed(2 - exponent));
}

function lxTrimZeros(text) {
  return text.includes('.') ? text.replace(/\.?0+$/, '') : text;
}

// --- the components: what web/mount.js makes of each element ---------------------------------------------------

// The map, the card, the editor and the pad. web/mount.js makes one per element and attaches it (a subclass that
// listens outside its element, to the page's bus or the window, extends attach and destroy), then sets `trigger`
// (Streamlit's setTriggerValue) and hands it every render's data (setData). Streamlit may detach a component
// (destroy) and draw it again in the same element, where the instance carries on and is attached again.
export class LxComponent {
  constructor(root, host) {
    this.root = root;              // where the component draws (a shadow root for an isolated one)
    this.host = host;              // the element, whose dataset tells the tests what the component shows
    this.seq = 0;                  // sequence number of the last event sent to the server
    this.attached = false;
  }

  attach() {
    this.attached = true;
  }

  destroy() {
    this.attached = false;
  }

  // An event the server answers with `ack` = its seq, so a reply to an older event is told from the latest.
  send(event, payload) {
    this.seq = Math.max(this.seq + 1, Date.now());
    this.trigger(event, {...payload, seq: this.seq});
  }
}
