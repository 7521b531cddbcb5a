"""What the server and the browser components say to each other, defined once.

Each payload a component receives and each event it sends is a frozen dataclass here; web/contract.js holds their
JSDoc twins, written from these classes by ``python -m devtools.contract_js`` (tests/core/test_component_contract.py
fails while the file is out of date). A payload reaches the browser as ``to_data()``, nested dataclasses as nested
objects, None as null; an event arrives as JSON and becomes its dataclass in latent_explorer/events.py, or nothing.
No Streamlit here: the contract is plain data.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

MAX_LASSO_VERTICES = 2000
MAX_IMAGE_MARKS = 400  # latent_explorer/thumbnails.py: the most images one view of the map shows as marks
BACKGROUND_TILES = 22  # the decoder background's tiles per side, decoded in the browser or on the server


class Payload:
    def to_data(self) -> dict:
        return asdict(self)


# --- parts of payloads ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PackArray(Payload):
    """One array of a pack the browser holds (latent_explorer/pack.py)."""

    pack: str                             # the pack's id
    array: str                            # the array's name in it


@dataclass(frozen=True)
class RegionData(Payload):
    """A selected region of the map, in map coordinates."""

    shape: str                            # "box" (two opposite corners) or "lasso" (a polygon)
    vertices: list[list[float]]           # [[x, y], ...]


@dataclass(frozen=True)
class ProbeData(Payload):
    """A person's own picture, encoded by the active models (latent_explorer/probe.py)."""

    id: str                               # the picture's content hash
    name: str
    active: bool                          # the card shows it
    mu: dict[str, list[float]]            # kind -> μ of the picture
    sigma: list[float] | None             # the VAE's σ, None without a VAE


@dataclass(frozen=True)
class PictureOnMap(Payload):
    """A picture laid over the map's data coordinates."""

    uri: str                              # a data: URI
    extent: list[list[float]]             # [[x0, x1], [y0, y1]] it covers


@dataclass(frozen=True)
class MapLayers(Payload):
    """Drawn under the points (latent_explorer/map_layers.py)."""

    density: PictureOnMap                 # q(z), shaded
    prior_circles: list[int]              # the prior's nσ circles
    holes: str                            # their outlines as one SVG path, "" for none
    hole_fraction: float                  # of prior draws landing in a hole


@dataclass(frozen=True)
class AxesProjection(Payload):
    """Two latent axes as the map's axes (view "active")."""

    mean: list[float]
    components: list[list[float]]         # (2, latent size)
    names: list[str]                      # the two dimensions' names


@dataclass(frozen=True)
class Replay(Payload):
    """The training replay's frames (latent_explorer/replay.py), while it is open."""

    pack: str
    epochs: list[int]


@dataclass(frozen=True)
class ColourBy(Payload):
    """The held-out points coloured by a per-point quantity (latent_explorer/colouring.py) on a colour bar."""

    pack: str                             # the pack with the values
    array: str                            # their array in it
    quantity: str                         # colouring.POINT_QUANTITIES' key
    label: str                            # how a point's tooltip names it
    title: str                            # the colour bar's title
    colorscale: str                       # a Plotly colour scale's name
    cmin: float
    cmax: float


@dataclass(frozen=True)
class OverlayData(Payload):
    """A mark of the page on the map (latent_explorer/page_maps.py Overlay)."""

    name: str
    points: list[list[float]]             # [[x, y], ...]
    colour: str                           # "#rrggbb"
    mode: str                             # "lines", "markers" or "lines+markers"
    dash: str                             # "solid", "dash" or "dot"
    size: int                             # a marker's size, CSS pixels
    symbol: str                           # "circle" or "star"


@dataclass(frozen=True)
class CardTiles(Payload):
    """Which tile of CardServer.pixels shows what; None where the card has no such picture."""

    original: int | None = None
    neighbours: list[list[float]] | None = None  # [[index, distance, tile], ...], nearest first
    vae: int | None = None                # the VAE's reconstruction, where the browser cannot decode it
    ae: int | None = None                 # the AE's, likewise
    draws: list[int] | None = None        # the posterior draws' tiles, likewise
    location: int | None = None           # the decode of a clicked spot


@dataclass(frozen=True)
class CardServer(Payload):
    """The images only the server has, for one subject of the card: an image, a spot or a person's picture."""

    pixels: str                           # raw grey tiles (N, H, W), base64
    tiles: CardTiles
    index: int | None = None
    location: list[float] | None = None
    probe: str | None = None              # ProbeData.id


# --- what each component receives ------------------------------------------------------------------------------

@dataclass(frozen=True)
class MapData(Payload):
    """What the latent map receives on every run. Every event carries ``seq``, echoed back here as ``ack``."""

    pack: str                             # id of the pack with the codes, labels and decoders
    kind: str                             # "vae" or "ae": whose codes are drawn
    view: str                             # "z" (latent size 2), "pca", "tsne" or "active" (two latent axes)
    decodes: bool                         # every spot of this view is a code: the lens and a click decode there
    points: PackArray | None              # t-SNE only: the coordinates, else the codes projected
    axis_titles: list[str]
    extent: list[list[float]]             # [[x0, x1], [y0, y1]]: the whole map
    equal_axes: bool                      # one unit as long across as up (every linear view)
    view_key: str                         # a new key resets zoom and pan
    height: int                           # at most, CSS pixels
    colours: list[str]                    # the class palette, "#rrggbb"
    highlight: str                        # the selection's posterior and draws, "#rrggbb"
    selected: int | None                  # the inspected image
    location: list[float] | None          # a decoded spot [x, y]
    region: RegionData | None
    posterior: bool                       # draw q(z|x) of the selection
    background: bool                      # tile the decoder's output under the points
    eps: list[list[float]] | None         # the draws' noise, the same for every image
    ack: int                              # the sequence number of the last event the server handled
    probe: ProbeData | None
    decode_url: str | None = None         # where the browser cannot decode: the lens's decodes (decode_route.py)
    server_background: PictureOnMap | None = None  # the decoder background, likewise
    max_lasso_vertices: int = MAX_LASSO_VERTICES  # a longer lasso is thinned to this many before it is sent
    region_members: str | None = None     # which points the region takes: ``components.member_bits``
    image_marks: int = MAX_IMAGE_MARKS    # zoomed in to at most this many visible points, they become images
    background_tiles: int = BACKGROUND_TILES  # the decoder background's tiles per side
    # Zoomed in, the points show their "originals" (a page that answers the map's thumbnails event) or their
    # "reconstructions" (decoded in the browser; any page).
    marks: str = "reconstructions"
    webgl: bool = True                    # False once this browser said it cannot draw WebGL
    layers: MapLayers | None = None
    projection: AxesProjection | None = None  # two latent axes (view "active"), else the pack's
    replay: Replay | None = None
    colour_by: ColourBy | None = None     # None: by class
    overlays: list[OverlayData] | None = None
    interactive: bool = True              # False: a map to look at, without inspect, lens, regions or keys
    title: str | None = None
    point_opacity: float | None = None    # the held-out points', where the page's marks must stand out


@dataclass(frozen=True)
class CardData(Payload):
    """What the inspect card receives."""

    pack: str                             # id of the pack with the codes, labels and decoders
    kinds: list[str]                      # the models shown, the main one first
    titles: dict[str, str]                # kind -> its title ("VAE", "AE")
    selected: int | None                  # the inspected image
    location: list[float] | None          # a decoded spot [x, y]
    location_kind: str                    # whose decoder the spot is decoded by
    eps: list[list[float]] | None         # the posterior draws' noise
    neighbours: int                       # how many nearest neighbours the server lists (their places, until then)
    server: CardServer | None
    hint: str                             # shown while nothing is selected
    ack: int                              # the sequence number of the last event the server handled
    probe: ProbeData | None
    location_label: str | None = None     # how the heading names a decoded spot on two of many axes, else z = (…)
    colour: ColourBy | None = None        # the map's colour_by: the card says the point's value


@dataclass(frozen=True)
class EditorData(Payload):
    """What the latent editor receives."""

    pack: str                             # id of the pack with the decoders
    kind: str                             # whose decoder the sliders drive
    z: list[float]                        # the latent vector, snapped to ``step``
    z_version: int                        # a new version moves the sliders, even to the same z
    limit: float                          # each slider's range is ±limit
    step: float                           # a slider's step, and the grid every z is snapped to
    sweep: list[float]                    # the traversal strips' values of the swept dimension
    traversal_rows: int                   # strips for the first this many dimensions
    title: str                            # the decoder's title
    colours: list[str]                    # the class palette of the pad's dots
    ack: int                              # the sequence number of the last event the server handled
    decode_url: str | None                # where the browser cannot decode: the decodes and strips (decode_route.py)


@dataclass(frozen=True)
class PadData(Payload):
    """What the drawing pad receives."""

    size: list[int]                       # [height, width] of the drawing it sends


# --- what the components send -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PointEvent:
    """The map's or the card's: an image to inspect."""

    index: int
    seq: int


@dataclass(frozen=True)
class LocationEvent:
    """The map's: a click on empty space, in map coordinates."""

    x: float
    y: float
    seq: int


@dataclass(frozen=True)
class RegionEvent:
    """The map's: a box or lasso drawn, or the selection cleared (shape null, no vertices)."""

    shape: str | None                     # "box" or "lasso"
    vertices: list[list[float]]           # a box's two opposite corners, a lasso's polygon
    seq: int


@dataclass(frozen=True)
class ProbeEvent:
    """The map's: the star of a person's own picture was clicked."""

    seq: int


@dataclass(frozen=True)
class ThumbnailsEvent:
    """The map's: the visible points whose original images it lacks (at most MAX_IMAGE_MARKS)."""

    indices: list[int]
    request: int                          # counts the requests, so a repeated one is a new value


@dataclass(frozen=True)
class WebglEvent:
    """The map's: this browser cannot draw WebGL."""

    available: bool


@dataclass(frozen=True)
class ZEvent:
    """The editor's: a slider or the pad let go at z."""

    z: list[float]
    seq: int


@dataclass(frozen=True)
class DrawingEvent:
    """The drawing pad's, after every stroke."""

    pixels: str                           # raw grey bytes at PadData.size, base64
    seq: int


PAYLOADS = (PackArray, RegionData, ProbeData, PictureOnMap, MapLayers, AxesProjection, Replay, ColourBy,
            OverlayData, CardTiles, CardServer, MapData, CardData, EditorData, PadData)
EVENTS = (PointEvent, LocationEvent, RegionEvent, ProbeEvent, ThumbnailsEvent, WebglEvent, ZEvent, DrawingEvent)
