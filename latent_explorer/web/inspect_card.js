// The inspect card: the clicked image, its reconstructions, its reparameterised draws and its nearest
// neighbours. It answers a click on the map in the same frame, decoding in the browser what the
// browser can decode; the images only the server has (the original, the neighbours) arrive as raw
// grey bytes with the server's next delta and fill their places as soon as they come.

import {LX, LxComponent, lxBytes, lxDecoder, lxElement, lxGeneral, lxMark, lxPaintBytes, lxPaintGray, lxRow, lxSigned,
        lxWhenPack} from './runtime.js';

const IC_DRAW_DIGITS = 1;

// A card the visitor asked for from the map (`from`, the map's element) is scrolled into view where the page put
// it under the map (a narrow screen: latent_explorer/components.py PAGE_CSS); beside the map it is in view.
function icBringIntoView(host, from) {
  if (from && host.getBoundingClientRect().top >= from.getBoundingClientRect().bottom) {
    host.scrollIntoView({block: 'start', behavior: 'smooth'});
  }
}

export default class InspectCard extends LxComponent {
  constructor(root, host) {
    super(root, host);
    this.selected = null;
    this.location = null;
    this.frame = lxElement('div', 'ic');
    this.root.appendChild(this.frame);
    this.onSelect = (event) => {
      if (this.pack && event.detail.pack === this.pack.id && event.detail.source !== this) {
        this.selected = event.detail.index;
        this.location = null;
        this.probeActive = false;
        this.render();
        icBringIntoView(this.host, event.detail.from);
      }
    };
    this.onLocation = (event) => {
      if (this.pack && event.detail.pack === this.pack.id) {
        this.selected = null;
        this.location = event.detail.z;
        this.locationKind = event.detail.kind;
        this.locationLabel = event.detail.label;
        this.probeActive = false;
        this.render();
      }
    };
    this.onProbe = (event) => {
      if (this.pack && event.detail.pack === this.pack.id) {
        this.selected = null;
        this.location = null;
        this.probeActive = true;
        this.render();
        icBringIntoView(this.host, event.detail.from);
      }
    };
    this.onLens = () => this.copyLens();
  }

  // What the map and the card tell each other, on the page's bus.
  attach() {
    super.attach();
    LX.bus.addEventListener('lx-select', this.onSelect);
    LX.bus.addEventListener('lx-location', this.onLocation);
    LX.bus.addEventListener('lx-probe', this.onProbe);
    LX.bus.addEventListener('lx-lens', this.onLens);
  }

  destroy() {
    super.destroy();
    LX.bus.removeEventListener('lx-select', this.onSelect);
    LX.bus.removeEventListener('lx-location', this.onLocation);
    LX.bus.removeEventListener('lx-probe', this.onProbe);
    LX.bus.removeEventListener('lx-lens', this.onLens);
  }

  /** @param {import('./contract.js').CardData} data */
  async setData(data) {
    this.data = data;
    const pack = await lxWhenPack(data.pack);
    if (data.colour) await lxWhenPack(data.colour.pack);
    if (this.data !== data) return;
    this.pack = pack;
    if (data.ack >= this.seq) {
      this.selected = data.selected;
      this.location = data.location;
      this.locationKind = data.location_kind;
      this.locationLabel = data.location_label;
      this.probeActive = !!(data.probe && data.probe.active);
    }
    this.render();
  }

  // The server's mosaic, when it belongs to what the card shows now.
  serverTiles() {
    const server = this.data.server;
    if (!server) return null;
    if (this.selected !== null && server.index === this.selected) return server;
    if (this.location && server.location && server.location[0] === this.location[0]
        && server.location[1] === this.location[1]) return server;
    if (this.showsProbe() && server.probe === this.data.probe.id) return server;
    return null;
  }

  showsProbe() {
    return (this.selected === null || this.selected === undefined) && !this.location && this.probeActive
      && !!this.data.probe;
  }

  render() {
    if (!this.pack) return;
    this.frame.replaceChildren();
    this.pending = 0;
    this.painted = 0;
    this.lensCanvas = null;
    const nothing = (this.selected === null || this.selected === undefined) && !this.location && !this.showsProbe();
    if (!nothing) {
      // Under the map (a narrow screen) the card is a scroll away from the map: a way back up.
      const back = lxElement('button', 'ic-back', 'Back to the map ↑');
      back.type = 'button';
      back.addEventListener('click', () => LX.bus.dispatchEvent(new CustomEvent('lx-show-map')));
      this.frame.appendChild(back);
    }
    if (this.selected !== null && this.selected !== undefined) {
      this.renderPoint(this.selected);
    } else if (this.location) {
      this.renderLocation(this.location, this.locationKind || this.pack.meta.main_kind);
    } else if (this.showsProbe()) {
      this.renderProbe(this.data.probe);
    } else {
      this.frame.appendChild(lxElement('div', 'ic-hint', this.data.hint));
      this.renderLens();
      this.host.dataset.index = '';
    }
    this.finish();
  }

  // The map's lens, large: the decode under the cursor beside the map while nothing is selected (the map's own
  // lens steps aside meanwhile; under the map, on a narrow screen, this one does: inspect_card.css).
  renderLens() {
    const figure = lxElement('figure', 'ic-lens');
    this.lensTitle = lxElement('div', 'ic-section');
    this.lensCanvas = lxElement('canvas', 'ic-canvas');
    this.lensCanvas.setAttribute('role', 'img');
    this.lensCanvas.setAttribute('aria-label', 'Decoded image under the cursor');
    this.lensCaption = lxElement('figcaption', '');
    figure.append(this.lensTitle, this.lensCanvas, this.lensCaption);
    this.frame.appendChild(figure);
    this.copyLens();
  }

  copyLens() {
    const lens = LX.lens;
    if (!this.lensCanvas || !lens || !this.pack || lens.pack !== this.pack.id || !lens.canvas.width) return;
    this.lensCanvas.width = lens.canvas.width;
    this.lensCanvas.height = lens.canvas.height;
    this.lensCanvas.getContext('2d').drawImage(lens.canvas, 0, 0);
    this.lensTitle.textContent = lens.title;
    this.lensCaption.textContent = lens.caption;
    this.lensCanvas.setAttribute('aria-label', `Decoded image: ${lens.caption}`);
  }

  renderPoint(index) {
    const meta = this.pack.meta, server = this.serverTiles();
    const name = meta.class_names[this.pack.arrays.labels[index]];
    this.host.dataset.index = String(index);
    const training = meta.held_out !== undefined && index >= meta.held_out;
    this.frame.appendChild(lxElement('h3', 'ic-heading', `${training ? 'Training image' : 'Image'} #${index} · ${name}`));
    if (training) {
      this.frame.appendChild(lxElement('div', 'ic-note', `From the training split (numbered from #${meta.held_out.toLocaleString()}): `
        + 'the encoders saw it while they learned.'));
    }
    this.subject = `image #${index}, ${name}`;
    this.renderQuantity(index);
    const codes = Object.fromEntries(this.data.kinds.map((kind) => [kind, lxRow(this.pack, kind + '.mu', index)]));
    const sigma = meta.models.vae ? lxRow(this.pack, 'vae.sigma', index) : null;
    this.renderImages(server, codes, sigma, server ? server.tiles.neighbours : null);
  }

  // The quantity the map is coloured by, for this image (held-out images only have one).
  renderQuantity(index) {
    const colour = this.data.colour, pack = colour && LX.packs.get(colour.pack);
    this.host.dataset.quantity = '';
    if (!pack || index >= pack.arrays[colour.array].length) return;
    const value = pack.arrays[colour.array][index];
    const text = `${colour.title}: ${lxGeneral(value)}`;
    this.frame.appendChild(lxElement('div', 'ic-quantity', text));
    this.host.dataset.quantity = text;
  }

  renderProbe(probe) {
    const server = this.serverTiles();
    this.host.dataset.index = '';
    this.subject = `your image ${probe.name}`;
    this.frame.appendChild(lxElement('h3', 'ic-heading', 'Your image'));
    this.frame.appendChild(lxElement('div', 'ic-note', `${probe.name}, encoded by both models: the star on the map.`));
    this.renderImages(server, probe.mu, probe.sigma, server ? server.tiles.neighbours : null);
  }

  // The original, each model's reconstruction, the draws z = μ + σ·ε and the nearest neighbours of one code
  // per model: decoded here where the browser can, else the server's tiles.
  renderImages(server, codes, sigma, neighbourList) {
    const row = lxElement('div', 'ic-row ic-large');
    row.appendChild(this.serverTile(server, server && server.tiles.original, 'original', `The original: ${this.subject}`));
    for (const kind of this.data.kinds) {
      const caption = `${this.data.titles[kind]} reconstruction`, label = `${caption} of ${this.subject}`;
      const decoder = lxDecoder(this.pack, kind);
      row.appendChild(decoder ? this.decodedTile(decoder, codes[kind], caption, label)
                              : this.serverTile(server, server && server.tiles[kind], caption, label));
    }
    this.frame.appendChild(row);

    if (this.data.eps && sigma) {
      this.frame.appendChild(lxElement('div', 'ic-section',
        'The reparameterisation trick, made visible: z = μ + σ·ε with ε ~ N(0, I), decoded'));
      const mu = codes.vae, decoder = lxDecoder(this.pack, 'vae');
      const draws = lxElement('div', 'ic-row ic-small');
      this.data.eps.forEach((eps, k) => {
        const caption = 'ε=(' + eps.slice(0, 2).map((v) => lxSigned(v, IC_DRAW_DIGITS)).join(',')
          + (eps.length > 2 ? ',…' : '') + ')';
        const z = mu.map((m, j) => m + sigma[j] * eps[j]);
        const label = `Posterior draw ${k + 1} of ${this.subject}, decoded: z = (`
          + z.slice(0, 4).map((v) => lxSigned(v, 2)).join(', ') + (z.length > 4 ? ', …' : '') + ')';
        draws.appendChild(decoder
          ? this.decodedTile(decoder, z, caption, label)
          : this.serverTile(server, server && server.tiles.draws[k], caption, label));
      });
      this.frame.appendChild(draws);
    }

    this.frame.appendChild(lxElement('div', 'ic-section', 'Nearest neighbours in latent space (distance between μ\'s)'));
    const neighbours = lxElement('div', 'ic-row ic-small');
    // The server finds the neighbours (vae_core's Workspace.neighbours) and sends their images with the list;
    // until then their places wait, so the card does not jump when they come.
    for (let k = 0; !neighbourList && k < this.data.neighbours; k++) {
      neighbours.appendChild(this.serverTile(null, null, '…', 'A nearest neighbour, on its way from the server'));
    }
    for (const [j, distance, tile] of neighbourList || []) {
      const name = this.pack.meta.class_names[this.pack.arrays.labels[j]];
      const figure = this.serverTile(server, tile, `#${j} · ${distance.toFixed(2)}`,
                                     `Neighbour image #${j}, ${name}, at distance ${distance.toFixed(2)}`);
      // A button for the keyboard and for screen readers: Tab reaches it, Enter or Space inspects it.
      figure.classList.add('ic-link');
      figure.tabIndex = 0;
      figure.setAttribute('role', 'button');
      // The name starts with the visible caption, so speech input ("click #3161") finds it.
      figure.setAttribute('aria-label', `#${j} · ${distance.toFixed(2)}: inspect image #${j}, ${name}`);
      figure.title = `Inspect image #${j}`;
      figure.addEventListener('click', () => this.select(j));
      figure.addEventListener('keydown', (event) => {
        if (event.key === 'Enter' || event.key === ' ') { event.preventDefault(); this.select(j); }
      });
      neighbours.appendChild(figure);
    }
    this.frame.appendChild(neighbours);
  }

  renderLocation(z, kind) {
    const server = this.serverTiles();
    this.host.dataset.index = '';
    // Above latent size 2 the map names the spot by its two axes (web/map_layers.js lxSpotLabel).
    this.subject = this.locationLabel || `z = (${z[0].toFixed(2)}, ${z[1].toFixed(2)})`;
    this.frame.appendChild(lxElement('h3', 'ic-heading', `Decoded at ${this.subject}`));
    const decoder = lxDecoder(this.pack, kind);
    const caption = `${this.data.titles[kind]} decoder`, label = `${caption} output at ${this.subject}`;
    const row = lxElement('div', 'ic-row ic-single');
    row.appendChild(decoder ? this.decodedTile(decoder, z, caption, label)
                            : this.serverTile(server, server && server.tiles.location, caption, label));
    this.frame.appendChild(row);
  }

  select(index) {
    this.selected = index;
    this.location = null;
    this.probeActive = false;
    this.render();
    LX.bus.dispatchEvent(new CustomEvent('lx-select', {detail: {pack: this.pack.id, index, source: this}}));
    this.send('point', {index});
  }

  // A picture named for screen readers by `label` (what it shows: its image, class, z).
  figure(caption, label) {
    const figure = lxElement('figure', 'ic-tile');
    const canvas = lxElement('canvas', 'ic-canvas');
    canvas.setAttribute('role', 'img');
    canvas.setAttribute('aria-label', label);
    figure.append(canvas, lxElement('figcaption', '', caption));
    return [figure, canvas];
  }

  decodedTile(decoder, z, caption, label) {
    const [figure, canvas] = this.figure(caption, label);
    const [, h, w] = this.pack.meta.image_shape;
    lxPaintGray(canvas, decoder.gray(z), w, h);
    this.tilePainted();
    return figure;
  }

  serverTile(server, tile, caption, label) {
    const [figure, canvas] = this.figure(caption, label);
    const [, h, w] = this.pack.meta.image_shape;
    if (server && tile !== null && tile !== undefined) {
      if (!server.bytes) server.bytes = lxBytes(server.pixels);
      lxPaintBytes(canvas, server.bytes, tile * h * w, w, h);
      this.tilePainted();
    } else {
      canvas.width = w;
      canvas.height = h;
      figure.classList.add('ic-waiting');
      this.pending++;
    }
    return figure;
  }

  tilePainted() {
    this.painted++;
    if (this.painted === 1) {
      this.host.dataset.first = this.host.dataset.index;
      lxMark('card-first', {index: this.selected});
    }
  }

  finish() {
    if (this.pending === 0) {
      this.host.dataset.complete = this.selected !== null && this.selected !== undefined
        ? String(this.selected) : (this.location ? 'location' : (this.showsProbe() ? 'probe' : ''));
      lxMark('card-complete', {index: this.selected});
    } else {
      this.host.dataset.complete = '';
    }
  }
}
