// The module of the map, the card, the editor and the pad: waits for the runtime (runtime_loader.js), then lets
// it mount this element or update it. The component's name, "latent-explorer.<name>", says which one it is.

export default function (component) {
  const name = component.name.slice(component.name.lastIndexOf('.') + 1);
  const start = (lib) => { component.parentElement.__lxInstance = lib[name](component); };
  const LX = window.__latentExplorer;
  if (LX && LX.lib) start(LX.lib);
  else window.addEventListener('lx-runtime', () => start(window.__latentExplorer.lib), {once: true});
  return () => {
    const instance = component.parentElement.__lxInstance;
    if (instance && instance.destroy) instance.destroy();
  };
}
