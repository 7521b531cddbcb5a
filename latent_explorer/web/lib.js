// The runtime's entry module (latent_explorer/components.py RUNTIME_ENTRY): web/runtime_loader.js publishes what it
// exports as window.__latentExplorer.lib, for the components' own modules, which Streamlit loads apart from ours:
// the receivers of packs (web/pack_carrier.js) and of original images (web/thumbnails_carrier.js), and each
// component's class by its name in components.py COMPONENTS (web/mount.js makes one per element).

import {lxRegisterPack} from './runtime.js';
import LatentMap from './latent_map.js';
import {lxReceiveThumbnails} from './map_marks.js';
import InspectCard from './inspect_card.js';
import LatentEditor from './latent_editor.js';
import DrawingPad from './drawing_pad.js';

export default {
  registerPack: lxRegisterPack,
  receiveThumbnails: lxReceiveThumbnails,
  components: {map: LatentMap, card: InspectCard, editor: LatentEditor, pad: DrawingPad},
};
