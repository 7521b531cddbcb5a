"""Compare: the AE and the VAE of the active pair on the same images, codes and prior draws."""

import numpy as np
import pandas as pd
import streamlit as st

from explorer import figures, session, widgets
from vae_core.comparison import compare_reconstructions, comparison_indices, model_summaries, prior_coverage
from vae_core.latent import MAX_SEED, prior_samples
from vae_core.models import KIND_TITLES

KINDS = ("ae", "vae")
MAP_HEIGHT = 460


def missing_model_message(ws) -> str | None:
    missing = [KIND_TITLES[kind] for kind in KINDS if kind not in ws.kinds]
    if not missing:
        return None
    present = KIND_TITLES[ws.kinds[0]]
    return (f"Compare needs both an AE and a VAE trained on the same data, and the active pair holds only "
            f"the {present} (no {missing[0]}). On the Train page choose the model “both” and train, or pick a "
            f"pair that holds both in the sidebar: the shipped models do.")


@st.fragment
def reconstructions(ws) -> None:
    st.subheader("The same held-out images")
    count_col, seed_col = st.columns([3, 1])
    count = count_col.slider("Images", 3, 12, 8, key="compare_count", persist_state="session")
    seed = seed_col.number_input("Pick with seed", 0, MAX_SEED, step=1, key="compare_pick_seed",
                                 persist_state="session",
                                 help="Which images are shown; the point selected on Explore always comes first.")
    comparison = compare_reconstructions(ws, comparison_indices(len(ws), count, int(seed), session.selected_held_out()))
    names = [ws.class_names[ws.labels[i]] for i in comparison.indices]
    st.markdown("**Original**")
    widgets.image_row(comparison.originals, [f"#{i} · {name}" for i, name in zip(comparison.indices, names)],
                      alts=[f"Original image #{i}, {name}" for i, name in zip(comparison.indices, names)])
    for kind in KINDS:
        errors = comparison.pixel_mse[kind]
        st.markdown(f"**{KIND_TITLES[kind]} reconstruction** · mean per-pixel MSE {errors.mean():.4f}")
        widgets.image_row(comparison.reconstructions[kind], [f"MSE {e:.4f}" for e in errors],
                          alts=[f"{KIND_TITLES[kind]} reconstruction of image #{i}, {name}, MSE {e:.4f}"
                                for i, name, e in zip(comparison.indices, names, errors)])
    better = int((comparison.pixel_mse["vae"] < comparison.pixel_mse["ae"]).sum())
    st.caption(f"Each model decodes its encoder mean μ(x). Errors are the squared difference to the original, "
               f"averaged over pixels. The VAE reconstructs {better} of these {count} images more closely than "
               f"the AE; the table at the bottom gives both models' errors over the whole held-out split.")


@st.fragment
def latent_maps(ws) -> None:
    st.subheader("Where the codes sit")
    projected = ws.latent_dim("ae") > 2 or ws.latent_dim("vae") > 2
    same_axes = st.toggle("Same axes for both maps", value=True, key="compare_same_axes", persist_state="session",
                          help="On one scale the AE's spread is plain to see; on its own scale each model's class "
                               "structure is easier to read.")
    shared_extent = figures.map_extent(np.concatenate([ws.map_points[kind] for kind in KINDS]))
    for column, kind in zip(st.columns(2), KINDS):
        fig = figures.latent_map(figures.MapSpec(
            points=ws.map_points[kind], labels=ws.labels, class_names=ws.class_names,
            axis_titles=ws.projections[kind].axis_titles, title=f"{KIND_TITLES[kind]} codes μ(x)",
            extent=shared_extent if same_axes else figures.map_extent(ws.map_points[kind]),
            overlays=figures.prior_circle_overlays(projected), height=MAP_HEIGHT))
        fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.2))
        column.plotly_chart(fig, width="stretch", key=f"compare_map_{kind}")
    coverage = {kind: prior_coverage(ws.encodings[kind].mu, 2.0) for kind in KINDS}
    inner = {kind: prior_coverage(ws.encodings[kind].mu, 1.0) for kind in KINDS}
    if projected:
        where = (f"within the radius that holds as much of N(0, I) as a 2-d 2σ circle, measured in the full "
                 f"latent space (radius AE {coverage['ae'].radius:.2f}, VAE {coverage['vae'].radius:.2f})")
        inner_where = "Within the 1σ equivalent"
    else:
        where, inner_where = "inside the 2σ circle", "Inside 1σ"
    st.caption(
        f"Held-out codes {where}: VAE {coverage['vae'].fraction:.0%}, AE {coverage['ae'].fraction:.0%}; "
        f"a draw from the prior lands there {coverage['vae'].prior_mass:.0%} of the time. {inner_where}: "
        f"VAE {inner['vae'].fraction:.0%}, AE {inner['ae'].fraction:.0%}, prior {inner['vae'].prior_mass:.0%}. "
        "The KL term pulls the VAE's codes into the prior; nothing constrains where the AE puts its codes.")


def prior_decodes(ws) -> None:
    st.subheader("Decoding draws from the prior")
    count = st.slider("Draws", 4, 32, 12, key="compare_draws", persist_state="session")
    seed = session.sample_seed()
    same_size = ws.latent_dim("ae") == ws.latent_dim("vae")
    for kind in KINDS:
        z = prior_samples(count, ws.latent_dim(kind), seed)
        st.markdown(f"**{KIND_TITLES[kind]} decoder**")
        widgets.image_row(ws.decode(z, kind), size_px=64,
                          alts=[f"{KIND_TITLES[kind]} decode of prior draw {k + 1}, z = ("
                                + ", ".join(f"{v:+.2f}" for v in row[:4]) + (", …)" if len(row) > 4 else ")")
                                for k, row in enumerate(z)])
    shared = "the same z" if same_size else "draws of each model's latent size"
    st.caption(f"Both decoders receive {shared}, drawn from N(0, I) with seed {seed} (the Sample page's seed). "
               "The VAE was trained to decode exactly such draws, so its samples vary like the data. The AE's "
               "codes spread far wider than N(0, I) (see the maps), so prior draws reach only the patch around "
               "its origin: expect a few classes over and over, blends of them, or shapes unlike any image.")


def metrics_table(ws) -> None:
    st.subheader("Whole held-out split")
    summaries = model_summaries(ws)
    table = pd.DataFrame(
        [{"model": KIND_TITLES[kind],
          "reconstruction -log p(x|z) (nats/image)": s.reconstruction_nll,
          "per-pixel MSE": s.pixel_mse,
          "KL (nats/image)": s.kl,
          "ELBO (nats/image)": s.elbo,
          "active units / latent size": f"{s.active_units} / {s.latent_dim}"}
         for kind, s in summaries.items()]).set_index("model")
    st.dataframe(table, key="compare_metrics", width="stretch", placeholder="—", column_config={
        "reconstruction -log p(x|z) (nats/image)": st.column_config.NumberColumn(format="%.2f"),
        "per-pixel MSE": st.column_config.NumberColumn(format="%.4f"),
        "KL (nats/image)": st.column_config.NumberColumn(format="%.2f"),
        "ELBO (nats/image)": st.column_config.NumberColumn(format="%.2f")})
    losses = {KIND_TITLES[kind]: ws.loss(kind).upper() for kind in summaries}
    st.caption(
        f"Averages over the {len(ws):,} held-out images. The reconstruction term uses each model's training loss "
        f"({', '.join(f'{name}: {loss}' for name, loss in losses.items())}) with one sampled z for the VAE. "
        "ELBO = −reconstruction − KL, a lower bound on log p(x); the AE has no prior, so neither KL nor ELBO. "
        "An active unit is a latent dimension whose μ(x) varies across images (variance above 0.01).")


def main() -> None:
    st.title("Compare — AE against VAE")
    ws = session.active_workspace()
    message = missing_model_message(ws)
    if message:
        st.info(message, icon=":material/info:")
        return
    st.caption("Both models compress an image to a few numbers and decode it back. The VAE also pays a KL "
               "price for codes that stray from N(0, I); this page shows what that buys and what it costs.")
    reconstructions(ws)
    latent_maps(ws)
    prior_decodes(ws)
    metrics_table(ws)


main()
