// A pad to draw an image on with the mouse (or a finger): white strokes on black, like the datasets' images.
// Every finished stroke sends the drawing, scaled down to the model's image size, so the map shows where the
// sketch lands while it is being drawn.

import {LxComponent, lxElement} from './runtime.js';

const DP_SIZE = 224;

export default class DrawingPad extends LxComponent {
  constructor(root, host) {
    super(root, host);
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

  /** @param {import('./contract.js').PadData} data */
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
    this.sendDrawing();
  }

  // The drawing at the model's size (the browser averages each block of pixels), as raw grey bytes.
  sendDrawing() {
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
    this.send('drawing', {pixels: btoa(text)});
  }
}
