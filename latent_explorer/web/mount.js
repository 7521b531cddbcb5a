// The module of the map, the card, the editor and the pad: waits for the runtime (runtime_loader.js), makes this
// element's component once, from its class in the runtime (web/lib.js; the component's name,
// "latent-explorer.<name>", says which), and hands it every render's data.

export default function (component) {
  const root = component.parentElement;
  const start = (lib) => {
    let instance = root.__lxInstance;
    if (!instance) {
      const Component = lib.components[component.name.slice(component.name.lastIndexOf('.') + 1)];
      instance = root.__lxInstance = new Component(root, root.host || root);
    }
    if (!instance.attached) instance.attach(); // new, or detached by Streamlit before this render (below)
    instance.trigger = component.setTriggerValue;
    instance.setData(component.data);
  };
  const LX = window.__latentExplorer;
  if (LX && LX.lib) start(LX.lib);
  else window.addEventListener('lx-runtime', () => start(window.__latentExplorer.lib), {once: true});
  return () => {
    const instance = root.__lxInstance;
    if (instance) instance.destroy();
  };
}
