// A pad to draw an image on with the mouse (or a finger): white strokes on black, like the datasets' images.
// Every finished stroke sends the drawing, scaled down to the model's image size, so the map shows where the
// sketch lands while it is being drawn.

/**
 * What the server sends: latent_explorer/components.py's PadData, field for field.
 * @typedef {Object} PadData
 * @property {number[]} size [height, width] of the drawing it sends
 */

const DP_SIZE = 224;

class DrawingPad {
  constructor(root, host) {
    this.root = root;
    this.host = host;
    this.seq = 0;
    this.frame = lxElement('div', 'dp');
    this.canvas = lxElement('canvas', 'dp-canvas');
    this.canvas.width = this.canvas.height = DP_SIZE;
    this.canvas.setAttribute('role', 'img');
    this.canvas.setAttribute('aria-label', 'Drawing pad: draw with a mouse, pen or finger '
      + '(or upload a picture instead)');
    const bar = lxElement('div', 'dp-bar');
    const clear = lxElement('button', 'dp-button', 'Clear');
    clear.addEventListener('click', () => { this.clear(); this.host.dataset.strokes = '0'; });
    this.note = lxElement('span', 'dp-note', 'Draw with the mouse; each stroke is encoded as you go.');
    bar.append(clear, this.note);
    this.frame.append(this.canvas, bar);
    this.root.appendChild(this.frame);
    this.context = this.canvas.getContext('2d', {willReadFrequently: true});
    this.clear();
    this.canvas.addEventListener('pointerdown', (e) => this.start(e));
    this.canvas.addEventListener('pointermove', (e) => this.move(e));
    this.canvas.addEventListener('pointerup', () => this.end());
    this.canvas.addEventListener('pointercancel', () => this.end());
  }

  /** @param {PadData} data */
  setData(data) {
    this.data = data;
  }

  clear() {
    this.context.fillStyle = '#000000';
    this.context.fillRect(0, 0, DP_SIZE, DP_SIZE);
  }

  point(event) {
    const rect = this.canvas.getBoundingClientRect();
    return [(event.clientX - rect.left) * DP_SIZE / rect.width, (event.clientY - rect.top) * DP_SIZE / rect.height];
  }

  start(event) {
    this.canvas.setPointerCapture(event.pointerId);
    this.last = this.point(event);
    this.drawing = true;
    this.move(event);
  }

  move(event) {
    if (!this.drawing) return;
    const here = this.point(event), context = this.context;
    context.strokeStyle = '#ffffff';
    context.lineWidth = DP_SIZE / 12;
    context.lineCap = context.lineJoin = 'round';
    context.beginPath();
    context.moveTo(...this.last);
    context.lineTo(...here);
    context.stroke();
    this.last = here;
  }

  end() {
    if (!this.drawing) return;
    this.drawing = false;
    this.host.dataset.strokes = String(Number(this.host.dataset.strokes || 0) + 1);
    this.send();
  }

  // The drawing at the model's size (the browser averages each block of pixels), as raw grey bytes.
  send() {
    const [h, w] = this.data.size;
    const small = document.createElement('canvas');
    small.width = w;
    small.height = h;
    const context = small.getContext('2d', {willReadFrequently: true});
    context.imageSmoothingEnabled = true;
    context.imageSmoothingQuality = 'high';
    context.drawImage(this.canvas, 0, 0, w, h);
    const rgba = context.getImageData(0, 0, w, h).data;
    let text = '';
    for (let i = 0; i < w * h; i++) text += String.fromCharCode(rgba[4 * i]);
    this.seq = Math.max(this.seq + 1, Date.now());
    this.trigger('drawing', {pixels: btoa(text), seq: this.seq});
  }
}

function lxMountDrawingPad(component) {
  const {data, parentElement, setTriggerValue} = component;
  let pad = parentElement.__drawingPad;
  if (!pad) pad = parentElement.__drawingPad = new DrawingPad(parentElement, parentElement.host || parentElement);
  pad.trigger = setTriggerValue;
  pad.setData(data);
  return pad;
}
