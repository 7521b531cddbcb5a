"""Plotly figures of the latent space. Pure functions of arrays: no Streamlit here."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

import numpy as np
import plotly.graph_objects as go

from vae_core.images import png_bytes
from vae_core.latent import prior_circle

# Okabe-Ito and Tableau colours: distinguishable for colour-blind readers, ten of them.
CLASS_COLOURS = ("#4E79A7", "#F28E2B", "#E15759", "#76B7B2", "#59A14F",
                 "#EDC948", "#B07AA1", "#FF9DA7", "#9C755F", "#7F7F7F")
GRID_TRACE_NAME = "decode here"
GRID_POINT = -1  # customdata of the clickable grid's points; data points carry their index


@dataclass
class Overlay:
    """Extra marks on a map: a line (ellipse, path, circle) or points."""

    x: np.ndarray
    y: np.ndarray
    name: str
    colour: str = "#111111"
    mode: str = "lines"
    dash: str = "solid"
    size: int = 8
    symbol: str = "circle"
    hover: list[str] | None = None
    show_legend: bool = True


@dataclass
class MapSpec:
    points: np.ndarray  # (N, 2)
    labels: np.ndarray
    class_names: tuple[str, ...]
    axis_titles: tuple[str, str]
    title: str = ""
    selected: int | None = None
    overlays: list[Overlay] = field(default_factory=list)
    clickable_grid: tuple[tuple[float, float], tuple[float, float]] | None = None
    background: tuple[np.ndarray, tuple[float, float], tuple[float, float]] | None = None
    height: int = 560
    equal_axes: bool = True


@dataclass(frozen=True)
class MapEvent:
    """What a selection on the latent map means: a clicked image, a clicked location, or a region's images."""

    kind: str  # "point", "location", "region" or "none"
    index: int | None = None
    location: tuple[float, float] | None = None
    indices: tuple[int, ...] = ()


def _custom_index(point: dict) -> int | None:
    value = point.get("customdata")
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    return None if value is None else int(value)


def parse_map_selection(selection: dict | None) -> MapEvent:
    """Interpret Streamlit's Plotly selection state for maps drawn by latent_map.

    Data points carry their image index as customdata, the clickable grid
    carries GRID_POINT, overlays carry nothing (clicks on them are ignored).
    """
    if not selection:
        return MapEvent("none")
    points = selection.get("points") or []
    data = [i for i in map(_custom_index, points) if i is not None and i >= 0]
    if selection.get("box") or selection.get("lasso"):
        return MapEvent("region", indices=tuple(sorted(set(data))))
    if data:
        return MapEvent("point", index=data[0])
    grid = [p for p in points if _custom_index(p) == GRID_POINT]
    if grid:
        return MapEvent("location", location=(float(grid[0]["x"]), float(grid[0]["y"])))
    return MapEvent("none")


def map_extent(points: np.ndarray, margin: float = 0.08,
               min_half_width: float = 2.5) -> tuple[tuple[float, float], tuple[float, float]]:
    """Axis ranges covering the points (1st to 99th percentile, padded) and at least the prior's 2-sigma."""
    low, high = np.percentile(points, [0.5, 99.5], axis=0)
    centre = (low + high) / 2
    half = np.maximum((high - low) / 2 * (1 + margin), min_half_width)
    return (centre[0] - half[0], centre[0] + half[0]), (centre[1] - half[1], centre[1] + half[1])


def latent_map(spec: MapSpec) -> go.Figure:
    fig = go.Figure()
    if spec.clickable_grid is not None:
        (x0, x1), (y0, y1) = spec.clickable_grid
        gx, gy = np.meshgrid(np.linspace(x0, x1, 40, dtype=np.float32), np.linspace(y0, y1, 40, dtype=np.float32))
        # Nearly invisible markers under the data: a click on "empty" space lands on one of them.
        fig.add_trace(go.Scattergl(
            x=gx.ravel(), y=gy.ravel(), mode="markers", name=GRID_TRACE_NAME, showlegend=False,
            customdata=np.full(gx.size, GRID_POINT, dtype=np.int8),
            marker=dict(size=9, color="rgba(0,0,0,0.01)"),
            hovertemplate="decode z = (%{x:.2f}, %{y:.2f})<extra></extra>"))
    # float32 coordinates and int32 indices: a 10k-point map is resent on every click, so its size counts.
    points = spec.points.astype(np.float32)
    for c, class_name in enumerate(spec.class_names):
        members = np.flatnonzero(spec.labels == c).astype(np.int32)
        if not len(members):
            continue
        fig.add_trace(go.Scattergl(
            x=points[members, 0], y=points[members, 1], mode="markers", name=class_name,
            customdata=members, marker=dict(size=6, color=CLASS_COLOURS[c % len(CLASS_COLOURS)], opacity=0.75),
            hovertemplate=f"#%{{customdata}} · {class_name}<extra></extra>"))
    # Overlays are WebGL traces too: SVG traces would sit underneath the WebGL canvas of the data.
    for overlay in spec.overlays:
        fig.add_trace(go.Scattergl(
            x=overlay.x, y=overlay.y, mode=overlay.mode, name=overlay.name, showlegend=overlay.show_legend,
            line=dict(color=overlay.colour, dash=overlay.dash, width=2),
            marker=dict(color=overlay.colour, size=overlay.size, symbol=overlay.symbol,
                        line=dict(color="white", width=1)),
            text=overlay.hover, hoverinfo="text" if overlay.hover else "skip"))
    if spec.selected is not None:
        x, y = spec.points[spec.selected]
        fig.add_trace(go.Scattergl(
            x=[x], y=[y], mode="markers", name=f"selected #{spec.selected}",
            marker=dict(size=16, color="rgba(0,0,0,0)", line=dict(color="#111111", width=3)),
            hoverinfo="skip"))
    if spec.background is not None:
        image, (x0, x1), (y0, y1) = spec.background
        uri = "data:image/png;base64," + base64.b64encode(png_bytes(1.0 - image)).decode()
        fig.add_layout_image(dict(source=uri, xref="x", yref="y", x=x0, y=y1, sizex=x1 - x0, sizey=y1 - y0,
                                  sizing="stretch", layer="below", opacity=0.55))
    fig.update_layout(
        title=spec.title or None, height=spec.height, margin=dict(l=10, r=10, t=40 if spec.title else 10, b=10),
        xaxis_title=spec.axis_titles[0], yaxis_title=spec.axis_titles[1],
        legend=dict(itemsizing="constant", orientation="h", yanchor="top", y=-0.12, x=0),
        dragmode="pan", hovermode="closest", clickmode="event+select", uirevision="latent-map",
        plot_bgcolor="white")
    fig.update_xaxes(showgrid=True, gridcolor="#eeeeee", zeroline=True, zerolinecolor="#cccccc")
    fig.update_yaxes(showgrid=True, gridcolor="#eeeeee", zeroline=True, zerolinecolor="#cccccc")
    if spec.equal_axes:
        fig.update_yaxes(scaleanchor="x", scaleratio=1)
    return fig


def prior_circle_overlays(projected: bool) -> list[Overlay]:
    """The prior's 1- and 2-sigma circles (in PCA coordinates only approximately, since PCA recentres)."""
    note = " (approx. in PCA axes)" if projected else ""
    overlays = []
    for n, dash in ((1, "dash"), (2, "dot")):
        circle = prior_circle(n)
        overlays.append(Overlay(circle[:, 0], circle[:, 1], f"prior {n}σ{note}", colour="#555555", dash=dash))
    return overlays


def bar_chart(values: np.ndarray, title: str, y_title: str, labels: list[str] | None = None,
              colour: str = "#4E79A7", height: int = 260) -> go.Figure:
    labels = labels or [f"z{i + 1}" for i in range(len(values))]
    fig = go.Figure(go.Bar(x=labels, y=values, marker_color=colour,
                           hovertemplate="%{x}: %{y:.3f}<extra></extra>"))
    fig.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=40, b=10), yaxis_title=y_title,
                      plot_bgcolor="white")
    return fig


def curves(series: dict[str, tuple[list[float], list[float]]], title: str, y_title: str,
           height: int = 300) -> go.Figure:
    fig = go.Figure()
    for name, (x, y) in series.items():
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers", name=name))
    fig.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=40, b=10), xaxis_title="epoch",
                      yaxis_title=y_title, plot_bgcolor="white", hovermode="x unified")
    fig.update_xaxes(showgrid=True, gridcolor="#eeeeee")
    fig.update_yaxes(showgrid=True, gridcolor="#eeeeee")
    return fig


def rate_distortion(betas: list[float], kl: list[float], reconstruction: list[float], height: int = 360) -> go.Figure:
    """Held-out KL (rate) against reconstruction (distortion), one marker per beta, joined in beta order."""
    fig = go.Figure(go.Scatter(
        x=kl, y=reconstruction, mode="lines+markers+text", text=[f"β={b:g}" for b in betas],
        textposition="top right", marker=dict(size=11, color="#C8374B"), line=dict(color="#999999", dash="dot"),
        hovertemplate="β=%{text}<br>KL %{x:.2f} nats<br>reconstruction %{y:.2f} nats<extra></extra>"))
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=30, b=10), plot_bgcolor="white",
                      xaxis_title="rate: KL(q(z|x) ‖ p(z)), nats per image",
                      yaxis_title="distortion: −log p(x|z), nats per image")
    fig.update_xaxes(showgrid=True, gridcolor="#eeeeee")
    fig.update_yaxes(showgrid=True, gridcolor="#eeeeee")
    return fig
