// A hidden element that hands its pack (latent_explorer/pack.py) to the runtime, which keeps it by id.

export default function ({data}) {
  const register = () => window.__latentExplorer.lib.registerPack(data);
  if (!data) return;
  if (window.__latentExplorer && window.__latentExplorer.lib) register();
  else window.addEventListener('lx-runtime', register, {once: true});
}
