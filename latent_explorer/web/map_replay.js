// The training replay on the latent map: an epoch scrubber and a play button under the plot that move the
// held-out points through their codes after each epoch (latent_explorer/replay.py sends the frames once, as
// a pack of uint16 steps). A frame is shown by restyling the x and y of the points' own scattergl traces, so
// no drawing starts over and the server hears nothing. The last frame is the map's own coordinates.
//
// While an earlier epoch is shown the points are not where the map's hit test, hover and keyboard look for
// them: hover says nothing, and a click or Enter on the map returns to the final epoch instead of inspecting
// whichever image happens to lie under the pointer at the old positions.
//
// The map makes one while MapData.replay is open (web/latent_map.js syncReplay) and puts its bar under the plot;
// the replay moves the points through the map's public methods (heldOutTraces, restyle, announce).

import {lxElement, lxMark, lxWhenPack} from './runtime.js';

const LR_PLAY_MS = 6000;    // a whole replay plays in about this long
const LR_MIN_FRAME_MS = 40; // and never faster than 25 frames a second

export class MapReplay {
  constructor(map) {
    this.map = map;
    this.spec = null;
    this.timer = null;
    this.position = null;
    const el = (tag, cls, text) => lxElement(tag, cls, text);
    this.bar = el('div', 'lm-replay');
    this.playButton = el('button', 'lm-tool lm-replay-play', 'Play');
    this.playButton.type = 'button';
    this.playButton.setAttribute('aria-label', 'Play the training replay');
    this.playButton.addEventListener('click', () => (this.timer ? this.pause() : this.play()));
    this.slider = el('input', 'lm-replay-epoch');
    this.slider.type = 'range';
    this.slider.min = '0';
    this.slider.step = '1';
    this.slider.setAttribute('aria-label', 'Training epoch shown on the map');
    this.slider.addEventListener('input', () => { this.pause(); this.show(Number(this.slider.value)); });
    this.label = el('span', 'lm-replay-label');
    this.label.setAttribute('aria-live', 'off');
    // Hidden, not removed, at the final epoch: the bar keeps its height, so nothing on the page moves.
    this.note = el('span', 'lm-replay-note', 'Click the map to return to the final epoch');
    this.bar.append(this.playButton, this.slider, this.label, this.note);
  }

  // The replay the server opened (MapData.replay): its frames, once per pack.
  async open(spec) {
    if (this.spec && this.spec.pack === spec.pack) return;
    this.spec = spec;
    this.bar.dataset.ready = '0';
    const pack = await lxWhenPack(spec.pack);
    if (this.spec !== spec) return;
    this.frames = pack.arrays.frames;
    this.low = pack.meta.low;
    this.step = pack.meta.step;
    this.epochs = pack.meta.epochs;
    this.count = this.epochs.length;
    this.images = this.frames.length / this.count / 2;
    this.slider.max = String(this.count - 1);
    this.position = this.last();
    this.showLabel();
    this.map.host.dataset.replayEpoch = String(this.epochs[this.last()]);
    this.bar.dataset.ready = '1';
  }

  last() {
    return this.count - 1;
  }

  // Whether the points stand where an earlier epoch put them (not where the map's hit test finds them).
  showingPast() {
    return this.position !== null && this.position !== this.last();
  }

  // Show frame f: every held-out point at its code after that epoch (the last frame: the map's own points).
  show(f) {
    const map = this.map;
    if (!this.spec || !map.drawn() || this.images !== map.heldOut()) return Promise.resolve();
    this.position = f;
    this.showLabel();
    const traces = map.heldOutTraces(), final = f === this.last();
    const base = f * this.images * 2, frames = this.frames, [lx, ly] = this.low, [sx, sy] = this.step;
    const xs = [], ys = [];
    for (const {indices, x, y} of traces) {
      if (final) {
        xs.push(x);
        ys.push(y);
        continue;
      }
      const fx = new Float32Array(indices.length), fy = new Float32Array(indices.length);
      indices.forEach((i, k) => {
        fx[k] = lx + frames[base + 2 * i] * sx;
        fy[k] = ly + frames[base + 2 * i + 1] * sy;
      });
      xs.push(fx);
      ys.push(fy);
    }
    if (this.showingPast()) map.hideTooltip();
    return map.restyle({x: xs, y: ys}, traces.map(({trace}) => trace)).then(() => {
      map.host.dataset.replayEpoch = String(this.epochs[f]);
      lxMark('map-replay-frame', {epoch: this.epochs[f]});
    });
  }

  showLabel() {
    const epoch = this.epochs[this.position], total = this.epochs[this.last()];
    this.slider.value = String(this.position);
    this.label.textContent = `Epoch ${epoch} of ${total}`;
    this.note.style.visibility = this.showingPast() ? 'visible' : 'hidden';
    this.slider.setAttribute('aria-valuetext', `Epoch ${epoch} of ${total}`);
  }

  play() {
    if (!this.spec || this.count < 2) return;
    let f = this.position === this.last() ? 0 : this.position;
    this.playButton.textContent = 'Pause';
    this.playButton.setAttribute('aria-label', 'Pause the training replay');
    this.map.host.dataset.replayPlaying = '1';
    const frameMs = Math.max(LR_MIN_FRAME_MS, LR_PLAY_MS / this.count);
    // One frame at a time: the next waits for Plotly to have drawn this one.
    const tick = () => {
      this.show(f).then(() => {
        if (!this.timer) return;
        if (f >= this.last()) { this.pause(); return; }
        f += 1;
        this.timer = setTimeout(tick, frameMs);
      });
    };
    this.timer = setTimeout(tick, 0);
  }

  pause() {
    clearTimeout(this.timer);
    this.timer = null;
    this.playButton.textContent = 'Play';
    this.playButton.setAttribute('aria-label', 'Play the training replay');
    this.map.host.dataset.replayPlaying = '0';
  }

  // A click or Enter on the map while an earlier epoch shows: back to the final map, and the press is used up.
  takePress() {
    if (!this.showingPast() && !this.timer) return false;
    this.pause();
    this.show(this.last());
    this.map.announce('Back at the final epoch: the points are where you can inspect them again.');
    return true;
  }

  // Plotly drew the points again from the map's own coordinates: the final epoch.
  redrawn() {
    this.pause();
    if (this.spec && this.count) {
      this.position = this.last();
      this.showLabel();
      this.map.host.dataset.replayEpoch = String(this.epochs[this.last()]);
    }
  }

  destroy() {
    this.pause();
    this.bar.remove();
    delete this.map.host.dataset.replayEpoch;
  }
}
