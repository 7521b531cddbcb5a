"""Compare: the AE and the VAE of the active pair on the same images, codes and prior draws."""

import numpy as np
import pandas as pd
import streamlit as st

from latent_explorer import components, figures, own_images, page_maps, probe, session, widgets
from latent_explorer.likelihood import started
from latent_explorer.pack import workspace_pack
from latent_explorer.text import plain
from vae_core import diagnostics
from vae_core.comparison import compare_reconstructions, comparison_indices, model_summaries, prior_coverage
from vae_core.data import DATASETS
from vae_core.latent import MAX_SEED, active_dimensions, prior_samples
from vae_core.models import KIND_TITLES
from vae_core.workspace import HELD_OUT

KINDS = ("ae", "vae")
MAP_HEIGHT = 460
POLL_S = 1.0  # how often the likelihood section looks at its background computation while it runs
OWN_SET = "own-images"  # the visitor's uploaded images, as a set to compare with
OTHER_COLOUR = "#7F7F7F"


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
    circles = page_maps.prior_circles(projected)
    # The circles are what the codes are read against: the axes hold them too.
    circle_points = np.vstack([circle.points for circle in circles])
    shared_extent = figures.map_extent(np.concatenate([ws.map_points[kind] for kind in KINDS]), must_show=circle_points)
    for column, kind in zip(st.columns(2), KINDS):
        extent = shared_extent if same_axes else figures.map_extent(ws.map_points[kind], must_show=circle_points)
        with column:
            page_maps.draw(page_maps.page_map(ws, kind, f"compare_map_{kind}", extent, circles, height=MAP_HEIGHT,
                                              title=f"{KIND_TITLES[kind]} codes μ(x)"), key=f"compare_map_{kind}")
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


def dimensions_used(ws) -> None:
    st.subheader("Which latent dimensions the VAE uses")
    codes = ws.encodings["vae"]
    active = active_dimensions(codes.mu)
    kl = diagnostics.kl_per_dimension_mean(codes.mu, codes.logvar)
    st.plotly_chart(figures.kl_per_dimension(kl, active), key="compare_kl_bars")
    st.caption(f"Active units: {int(active.sum())} of {len(active)}. Each bar is the KL that dimension pays to the "
               "prior, averaged over the held-out images. A dimension is active when its encoder mean μ(x) varies "
               "across images (variance above 0.01, Burda et al., 2016); a collapsed one (grey) encodes every image "
               "as N(0, 1), pays no KL and tells the decoder nothing.")


def comparison_set_options(ws) -> dict[str, str]:
    """Sets of images to score against the held-out split: other datasets on this machine, the visitor's upload."""
    side = ws.image_side
    options = {name: title if DATASETS[name].image_shape[-1] == side else f"{title}, resized to {side}×{side}"
               for name, title in ws.comparison_sets().items()}
    uploaded = own_images.session_dataset()
    if uploaded is not None and uploaded.name != ws.dataset.name:
        options[OWN_SET] = "your uploaded images"
    return options


def likelihood_job(ws, key: str):
    samples = diagnostics.PAGE_LOG_PX_SAMPLES
    if key == OWN_SET:
        uploaded = own_images.session_dataset()
        return ws.likelihood_job(f"{OWN_SET}:{uploaded.name}", lambda: uploaded.images("test"), samples)
    return ws.likelihood_job(key, samples=samples)


def likelihood_section(ws) -> None:
    st.subheader("How likely the images are: log p(x)")
    options = comparison_set_options(ws)
    preferred = [key for key in (OWN_SET, "mnist") if key in options]  # the visitor's own images first
    other = None
    if options:
        other = st.selectbox("Compare the held-out images with", list(options), format_func=options.get,
                             index=list(options).index(preferred[0]) if preferred else 0, key="compare_ood_set",
                             help="Another set of images, resized to the model's images, scored by the same VAE.")
    jobs = {HELD_OUT: started(likelihood_job(ws, HELD_OUT))}
    if other is not None:
        jobs[other] = started(likelihood_job(ws, other))
    polling = not all(job.finished for job in jobs.values())
    st.fragment(run_every=POLL_S if polling else None)(likelihood_figures)(ws, jobs, options, polling)


def likelihood_figures(ws, jobs: dict, options: dict[str, str], polling: bool) -> None:
    if not all(job.finished for job in jobs.values()):
        done = sum(job.done_images for job in jobs.values())
        total = sum(job.total_images for job in jobs.values())
        st.progress(done / total if total else 0.0,
                    text=f"Computing log p(x) with K = {diagnostics.PAGE_LOG_PX_SAMPLES} importance samples per "
                         f"image: {done:,} images of {total:,}. The rest of the app stays usable meanwhile.")
        return
    if polling:
        st.rerun()  # everything is in: draw the page once more, without the timer
    failed = {key: job.error for key, job in jobs.items() if job.error}
    if HELD_OUT in failed:
        st.error(f"log p(x) could not be computed: {plain(failed[HELD_OUT], 300)}")
        return
    held_out = jobs[HELD_OUT].result
    gap_histogram(held_out)
    other = next((key for key in jobs if key != HELD_OUT), None)
    if other in failed:
        st.warning(f"The other set could not be scored: {plain(failed[other], 300)}")
    out_of_distribution(ws, held_out, jobs[other].result if other and other not in failed else None,
                        options.get(other))


def gap_histogram(held_out) -> None:
    gap = held_out.gap
    st.markdown("**The gap in the bound: log p(x) − ELBO per held-out image**")
    st.plotly_chart(figures.histograms({"held-out images": figures.Histogram(gap, figures.KIND_COLOURS["vae"])},
                                       "log p(x) − ELBO (nats)", marks={f"mean {gap.mean():.2f}": gap.mean()}),
                    key="compare_gap_histogram")
    st.caption(f"Mean gap {gap.mean():.2f} nats over {len(gap):,} images (mean log p(x) {held_out.log_px.mean():.2f}, "
               f"mean ELBO {held_out.elbo.mean():.2f}). The ELBO falls short of log p(x) by KL(q(z|x) ‖ p(z|x)): how "
               f"far the encoder's Gaussian is from the true posterior. log p(x) is an importance-weighted estimate "
               f"with K = {held_out.samples} samples and the ELBO uses one sampled z, so single images can land "
               "slightly below zero.")


def out_of_distribution(ws, held_out, other, other_title: str | None) -> None:
    st.markdown("**Out of distribution: log p(x) of the held-out images against another set**")
    series = {f"held-out {ws.dataset_title}": figures.Histogram(held_out.log_px, figures.KIND_COLOURS["vae"])}
    if other is not None:
        series[other_title] = figures.Histogram(other.log_px, OTHER_COLOUR)
    marks = {}
    picture = probe.current(ws)
    if picture is not None:
        value = picture.log_px(ws)  # the Explore card's figure, computed once per picture
        marks[f"your picture {value:.1f}"] = value
    st.plotly_chart(figures.histograms(series, "log p(x) (nats per image)", marks=marks), key="compare_ood_histogram")
    if other is None:
        st.caption("No other image set is on this machine to compare with; upload images on the Train page or a "
                   "picture on the Explore page to score your own.")
        return
    score = diagnostics.auroc(held_out.log_px, other.log_px)
    st.metric("AUROC of log p(x), held-out images as positives", f"{score:.3f}",
              help="The chance that a random held-out image scores a higher log p(x) than a random image of the "
                   "other set: 1 separates them perfectly, 0.5 is a coin toss, below 0.5 favours the other set.")
    st.caption("A high likelihood does not mean “looks like the training data”: a VAE trained on Fashion-MNIST can "
               "give MNIST digits a higher log p(x) than its own clothes, because simple images with much empty "
               "background are easy to score (Nalisnick et al., 2019).")


def understand_the_vae(ws) -> None:
    st.header("Understand the VAE")
    dimensions_used(ws)
    likelihood_section(ws)


def main() -> None:
    st.title("Compare — AE against VAE")
    ws = session.active_workspace()
    message = missing_model_message(ws)
    if message:
        st.info(message, icon=":material/info:")
        if ws.vae is not None:  # a VAE alone (a β sweep's, say) can still be understood
            understand_the_vae(ws)
        return
    st.caption("Both models compress an image to a few numbers and decode it back. The VAE also pays a KL "
               "price for codes that stray from N(0, I); this page shows what that buys and what it costs.")
    components.send_pack(workspace_pack(ws))  # the codes the two maps draw
    reconstructions(ws)
    latent_maps(ws)
    prior_decodes(ws)
    metrics_table(ws)
    understand_the_vae(ws)


main()
