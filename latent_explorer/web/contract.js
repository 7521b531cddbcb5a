// Written by `python -m devtools.contract_js` from latent_explorer/contract.py: edit that file, not this one.
// What the server sends each component (payloads) and what the components send back (events).
// --- payloads

/**
 * One array of a pack the browser holds (latent_explorer/pack.py).
 * @typedef {Object} PackArray
 * @property {string} pack the pack's id
 * @property {string} array the array's name in it
 */

/**
 * A selected region of the map, in map coordinates.
 * @typedef {Object} RegionData
 * @property {string} shape "box" (two opposite corners) or "lasso" (a polygon)
 * @property {number[][]} vertices [[x, y], ...]
 */

/**
 * A person's own picture, encoded by the active models (latent_explorer/probe.py).
 * @typedef {Object} ProbeData
 * @property {string} id the picture's content hash
 * @property {string} name
 * @property {boolean} active the card shows it
 * @property {Object<string, number[]>} mu kind -> μ of the picture
 * @property {?number[]} sigma the VAE's σ, None without a VAE
 */

/**
 * A picture laid over the map's data coordinates.
 * @typedef {Object} PictureOnMap
 * @property {string} uri a data: URI
 * @property {number[][]} extent [[x0, x1], [y0, y1]] it covers
 */

/**
 * Drawn under the points (latent_explorer/map_layers.py).
 * @typedef {Object} MapLayers
 * @property {PictureOnMap} density q(z), shaded
 * @property {number[]} prior_circles the prior's nσ circles
 * @property {string} holes their outlines as one SVG path, "" for none
 * @property {number} hole_fraction of prior draws landing in a hole
 */

/**
 * Two latent axes as the map's axes (view "active").
 * @typedef {Object} AxesProjection
 * @property {number[]} mean
 * @property {number[][]} components (2, latent size)
 * @property {string[]} names the two dimensions' names
 */

/**
 * The training replay's frames (latent_explorer/replay.py), while it is open.
 * @typedef {Object} Replay
 * @property {string} pack
 * @property {number[]} epochs
 */

/**
 * The held-out points coloured by a per-point quantity (latent_explorer/colouring.py) on a colour bar.
 * @typedef {Object} ColourBy
 * @property {string} pack the pack with the values
 * @property {string} array their array in it
 * @property {string} quantity colouring.POINT_QUANTITIES' key
 * @property {string} label how a point's tooltip names it
 * @property {string} title the colour bar's title
 * @property {string} colorscale a Plotly colour scale's name
 * @property {number} cmin
 * @property {number} cmax
 */

/**
 * A mark of the page on the map (latent_explorer/page_maps.py Overlay).
 * @typedef {Object} OverlayData
 * @property {string} name
 * @property {number[][]} points [[x, y], ...]
 * @property {string} colour "#rrggbb"
 * @property {string} mode "lines", "markers" or "lines+markers"
 * @property {string} dash "solid", "dash" or "dot"
 * @property {number} size a marker's size, CSS pixels
 * @property {string} symbol "circle" or "star"
 */

/**
 * Which tile of CardServer.pixels shows what; None where the card has no such picture.
 * @typedef {Object} CardTiles
 * @property {?number} original
 * @property {?number[][]} neighbours [[index, distance, tile], ...], nearest first
 * @property {?number} vae the VAE's reconstruction, where the browser cannot decode it
 * @property {?number} ae the AE's, likewise
 * @property {?number[]} draws the posterior draws' tiles, likewise
 * @property {?number} location the decode of a clicked spot
 */

/**
 * The images only the server has, for one subject of the card: an image, a spot or a person's picture.
 * @typedef {Object} CardServer
 * @property {string} pixels raw grey tiles (N, H, W), base64
 * @property {CardTiles} tiles
 * @property {?number} index
 * @property {?number[]} location
 * @property {?string} probe ProbeData.id
 */

/**
 * What the latent map receives on every run. Every event carries ``seq``, echoed back here as ``ack``.
 * @typedef {Object} MapData
 * @property {string} pack id of the pack with the codes, labels and decoders
 * @property {string} kind "vae" or "ae": whose codes are drawn
 * @property {string} view "z" (latent size 2), "pca", "tsne" or "active" (two latent axes)
 * @property {boolean} decodes every spot of this view is a code: the lens and a click decode there
 * @property {?PackArray} points t-SNE only: the coordinates, else the codes projected
 * @property {string[]} axis_titles
 * @property {number[][]} extent [[x0, x1], [y0, y1]]: the whole map
 * @property {boolean} equal_axes one unit as long across as up (every linear view)
 * @property {string} view_key a new key resets zoom and pan
 * @property {number} height at most, CSS pixels
 * @property {string[]} colours the class palette, "#rrggbb"
 * @property {string} highlight the selection's posterior and draws, "#rrggbb"
 * @property {?number} selected the inspected image
 * @property {?number[]} location a decoded spot [x, y]
 * @property {?RegionData} region
 * @property {boolean} posterior draw q(z|x) of the selection
 * @property {boolean} background tile the decoder's output under the points
 * @property {?number[][]} eps the draws' noise, the same for every image
 * @property {number} ack the sequence number of the last event the server handled
 * @property {?ProbeData} probe
 * @property {?string} decode_url where the browser cannot decode: the lens's decodes (decode_route.py)
 * @property {?PictureOnMap} server_background the decoder background, likewise
 * @property {number} max_lasso_vertices a longer lasso is thinned to this many before it is sent
 * @property {?string} region_members which points the region takes: ``components.member_bits``
 * @property {number} image_marks zoomed in to at most this many visible points, they become images
 * @property {number} background_tiles the decoder background's tiles per side
 * @property {string} marks
 * @property {boolean} webgl False once this browser said it cannot draw WebGL
 * @property {?MapLayers} layers
 * @property {?AxesProjection} projection two latent axes (view "active"), else the pack's
 * @property {?Replay} replay
 * @property {?ColourBy} colour_by None: by class
 * @property {?OverlayData[]} overlays
 * @property {boolean} interactive False: a map to look at, without inspect, lens, regions or keys
 * @property {?string} title
 * @property {?number} point_opacity the held-out points', where the page's marks must stand out
 */

/**
 * What the inspect card receives.
 * @typedef {Object} CardData
 * @property {string} pack id of the pack with the codes, labels and decoders
 * @property {string[]} kinds the models shown, the main one first
 * @property {Object<string, string>} titles kind -> its title ("VAE", "AE")
 * @property {?number} selected the inspected image
 * @property {?number[]} location a decoded spot [x, y]
 * @property {string} location_kind whose decoder the spot is decoded by
 * @property {?number[][]} eps the posterior draws' noise
 * @property {number} neighbours how many nearest neighbours the server lists (their places, until then)
 * @property {?CardServer} server
 * @property {string} hint shown while nothing is selected
 * @property {number} ack the sequence number of the last event the server handled
 * @property {?ProbeData} probe
 * @property {?string} location_label how the heading names a decoded spot on two of many axes, else z = (…)
 * @property {?ColourBy} colour the map's colour_by: the card says the point's value
 */

/**
 * What the latent editor receives.
 * @typedef {Object} EditorData
 * @property {string} pack id of the pack with the decoders
 * @property {string} kind whose decoder the sliders drive
 * @property {number[]} z the latent vector, snapped to ``step``
 * @property {number} z_version a new version moves the sliders, even to the same z
 * @property {number} limit each slider's range is ±limit
 * @property {number} step a slider's step, and the grid every z is snapped to
 * @property {number[]} sweep the traversal strips' values of the swept dimension
 * @property {number} traversal_rows strips for the first this many dimensions
 * @property {string} title the decoder's title
 * @property {string[]} colours the class palette of the pad's dots
 * @property {number} ack the sequence number of the last event the server handled
 * @property {?string} decode_url where the browser cannot decode: the decodes and strips (decode_route.py)
 */

/**
 * What the drawing pad receives.
 * @typedef {Object} PadData
 * @property {number[]} size [height, width] of the drawing it sends
 */

// --- events

/**
 * The map's or the card's: an image to inspect.
 * @typedef {Object} PointEvent
 * @property {number} index
 * @property {number} seq
 */

/**
 * The map's: a click on empty space, in map coordinates.
 * @typedef {Object} LocationEvent
 * @property {number} x
 * @property {number} y
 * @property {number} seq
 */

/**
 * The map's: a box or lasso drawn, or the selection cleared (shape null, no vertices).
 * @typedef {Object} RegionEvent
 * @property {?string} shape "box" or "lasso"
 * @property {number[][]} vertices a box's two opposite corners, a lasso's polygon
 * @property {number} seq
 */

/**
 * The map's: the star of a person's own picture was clicked.
 * @typedef {Object} ProbeEvent
 * @property {number} seq
 */

/**
 * The map's: the visible points whose original images it lacks (at most MAX_IMAGE_MARKS).
 * @typedef {Object} ThumbnailsEvent
 * @property {number[]} indices
 * @property {number} request counts the requests, so a repeated one is a new value
 */

/**
 * The map's: this browser cannot draw WebGL.
 * @typedef {Object} WebglEvent
 * @property {boolean} available
 */

/**
 * The editor's: a slider or the pad let go at z.
 * @typedef {Object} ZEvent
 * @property {number[]} z
 * @property {number} seq
 */

/**
 * The drawing pad's, after every stroke.
 * @typedef {Object} DrawingEvent
 * @property {string} pixels raw grey bytes at PadData.size, base64
 * @property {number} seq
 */

export {};
