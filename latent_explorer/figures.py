"""Plotly figures: bar charts, curves, histograms, and the map's extent and class colours. Pure functions of arrays:
no Streamlit here (every latent map is the browser component, latent_explorer/components.py)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

# Okabe-Ito and Tableau colours: distinguishable for colour-blind readers, ten of them.
CLASS_COLOURS = ("#4E79A7", "#F28E2B", "#E15759", "#76B7B2", "#59A14F",
                 "#EDC948", "#B07AA1", "#FF9DA7", "#9C755F", "#7F7F7F")
# Paul Tol's "muted" scheme (dark grey for a tenth class): classes stay apart with any common colour-vision
# deficiency; a choice on Explore.
COLOUR_BLIND_CLASS_COLOURS = ("#332288", "#88CCEE", "#44AA99", "#117733", "#999933",
                              "#DDCC77", "#CC6677", "#882255", "#AA4499", "#555555")
# One colour per model kind on every chart (curves, the sweep), so a colour always names the same model.
KIND_COLOURS = {"ae": "#1F5F8B", "vae": "#C8374B"}
# What a page marks on a map as the thing it is about (a moved z, a path), drawn over the class colours.
HIGHLIGHT_COLOUR = "#D62728"
# Curves of one model share its colour; the split is told by the line's dash.
SPLIT_DASHES = {"train": "solid", "test": "dash"}


# The least half-width of an axis: codes that all sit on one spot still get a range to be drawn in.
MIN_HALF_WIDTH = 1e-3


def map_extent(points: np.ndarray, margin: float = 0.08,
               must_show: np.ndarray | None = None) -> tuple[tuple[float, float], tuple[float, float]]:
    """Axis ranges that hold every point and every one of ``must_show`` (marks drawn over the map: a path, a
    star), widened by ``margin`` of their half-width on each side, so no mark touches the frame. No floor at the
    prior's scale: a model whose codes sit close together (a short training) fills the map rather than a sliver
    of it."""
    shown = points if must_show is None or not len(must_show) else np.vstack([points, must_show])
    low, high = shown.min(axis=0), shown.max(axis=0)
    centre = (low + high) / 2
    half = np.maximum((high - low) / 2, MIN_HALF_WIDTH) * (1 + margin)
    low, high = centre - half, centre + half
    return (float(low[0]), float(high[0])), (float(low[1]), float(high[1]))


def grid_style(fig: go.Figure) -> None:
    """Light gridlines on both axes, the same on every chart."""
    fig.update_xaxes(showgrid=True, gridcolor="#eeeeee")
    fig.update_yaxes(showgrid=True, gridcolor="#eeeeee")


def bar_chart(values: np.ndarray, title: str, y_title: str, labels: list[str] | None = None,
              colour: str = "#4E79A7", height: int = 260) -> go.Figure:
    labels = labels or [f"z{i + 1}" for i in range(len(values))]
    fig = go.Figure(go.Bar(x=labels, y=values, marker_color=colour,
                           hovertemplate="%{x}: %{y:.3f}<extra></extra>"))
    fig.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=40, b=10), yaxis_title=y_title,
                      plot_bgcolor="white")
    return fig


@dataclass
class Curve:
    """One line of a chart of curves: its points and its look."""

    x: list[float]
    y: list[float]
    colour: str
    dash: str = "solid"


def curves(series: dict[str, Curve], title: str, y_title: str, height: int = 300) -> go.Figure:
    fig = go.Figure()
    for name, curve in series.items():
        fig.add_trace(go.Scatter(x=curve.x, y=curve.y, mode="lines+markers", name=name,
                                 line=dict(color=curve.colour, dash=curve.dash), marker=dict(color=curve.colour)))
    fig.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=40, b=10), xaxis_title="epoch",
                      yaxis_title=y_title, plot_bgcolor="white", hovermode="x unified")
    grid_style(fig)
    return fig


def rate_distortion(betas: list[float], kl: list[float], reconstruction: list[float], height: int = 360) -> go.Figure:
    """Held-out KL (rate) against reconstruction (distortion), one marker per beta, joined in beta order."""
    fig = go.Figure(go.Scatter(
        x=kl, y=reconstruction, mode="lines+markers+text", text=[f"β={b:g}" for b in betas],
        textposition="top right", marker=dict(size=11, color=KIND_COLOURS["vae"]),
        line=dict(color="#999999", dash="dot"),
        hovertemplate="β=%{text}<br>KL %{x:.2f} nats<br>reconstruction %{y:.2f} nats<extra></extra>"))
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=30, b=10), plot_bgcolor="white",
                      xaxis_title="rate: KL(q(z|x) ‖ p(z)), nats per image",
                      yaxis_title="distortion: −log p(x|z), nats per image")
    grid_style(fig)
    return fig


def kl_per_dimension(kl: np.ndarray, active: np.ndarray, height: int = 280) -> go.Figure:
    """The KL of each latent dimension to the prior, active units in the VAE's colour and collapsed ones grey."""
    labels = [f"z{i + 1}" for i in range(len(kl))]
    fig = go.Figure(go.Bar(
        x=labels, y=np.asarray(kl, dtype=float).tolist(),
        marker_color=[KIND_COLOURS["vae"] if a else "#BBBBBB" for a in active],
        customdata=["active" if a else "inactive" for a in active],
        hovertemplate="%{x}: %{y:.3f} nats, %{customdata}<extra></extra>"))
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10), plot_bgcolor="white",
                      yaxis_title="KL to N(0, 1), nats per image", xaxis_title="latent dimension")
    grid_style(fig)
    return fig


@dataclass
class Histogram:
    """One set of values on a histogram chart, with its look."""

    values: np.ndarray
    colour: str


def histograms(series: dict[str, Histogram], x_title: str, marks: dict[str, float] | None = None,
               height: int = 320) -> go.Figure:
    """Overlaid histograms, each normalised to its own count (sets of different sizes compare), and vertical
    marks (a mean, one picture's value), labelled at the top."""
    fig = go.Figure()
    values = np.concatenate([h.values for h in series.values()])
    low, high = np.percentile(values, [0.5, 99.5]) if len(values) else (0.0, 1.0)
    bins = dict(start=float(low), end=float(high), size=max(float(high - low), 1e-9) / 60)
    for name, histogram in series.items():
        fig.add_trace(go.Histogram(x=histogram.values, name=name, histnorm="probability", xbins=bins,
                                   marker_color=histogram.colour, opacity=0.6 if len(series) > 1 else 0.85,
                                   hovertemplate="%{x}: %{y:.1%}<extra>" + name + "</extra>"))
    for name, x in (marks or {}).items():
        fig.add_vline(x=x, line=dict(color="#111111", dash="dash", width=2), annotation_text=name,
                      annotation_position="top")
    fig.update_layout(barmode="overlay", height=height, margin=dict(l=10, r=10, t=30, b=10), plot_bgcolor="white",
                      xaxis_title=x_title, yaxis_title="share of the set", yaxis_tickformat=".0%",
                      legend=dict(orientation="h", yanchor="bottom", y=1.08, x=0))
    grid_style(fig)
    return fig


def active_units_by_beta(betas: list[float], active: list[int], latent_dim: int, height: int = 300) -> go.Figure:
    """How many latent dimensions each VAE of a beta sweep still uses."""
    fig = go.Figure(go.Scatter(x=betas, y=active, mode="lines+markers", marker=dict(size=10, color=KIND_COLOURS["vae"]),
                               line=dict(color=KIND_COLOURS["vae"]),
                               hovertemplate="β=%{x:g}: %{y} active units<extra></extra>"))
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10), plot_bgcolor="white",
                      xaxis=dict(title="β", type="log", tickvals=betas, ticktext=[f"{b:g}" for b in betas]),
                      yaxis=dict(title=f"active units (of {latent_dim})", range=[0, latent_dim + 0.5], dtick=1))
    grid_style(fig)
    return fig
