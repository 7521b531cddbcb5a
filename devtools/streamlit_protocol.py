"""A Streamlit client without a browser: Streamlit's own websocket protocol, as the browser speaks it.

What the browser (Streamlit 1.67's frontend, captured from Chromium with Playwright's websocket frame events and
decoded with the installed protobufs) does, and this module does the same:

- It connects to ``/_stcore/stream`` with the subprotocols ``["streamlit", <XSRF token or
  "PLACEHOLDER_AUTH_TOKEN">]`` and the page's origin, and sends one ``BackMsg.rerun_script`` with the link's query
  string (without "?"), no widget states, no page script hash, no page name, no cached hashes, and the context info
  (timezone, offset, locale, the page URL without its query, not embedded, colour scheme).
- A widget event (here a ``st.components.v2`` component's trigger) is one more ``rerun_script``: the query string
  and page script hash the server last announced (``page_info_changed``, ``navigation``), the ``fragment_id`` of
  the element that fired, every mounted widget's state (default values, as nobody touched them; the browser lists
  them in the order they mounted, this client in page order, and the server reads them by id) plus the trigger,
  ``$$STREAMLIT_INTERNAL_KEY_<element id>__events`` with ``json_trigger_value``
  ``[{"event":"<name>","value":{...}}]``, and the hashes of the messages it keeps in its ForwardMsg cache.
- The ForwardMsg cache: a message marked ``metadata.cacheable`` is kept by hash; the server then sends a
  ``ref_hash`` in its place while the browser says it holds it. After each finished run (not one ended early for a
  rerun) the run count goes up and entries unused for more than ``maxCachedMessageAge`` runs are dropped (after a
  fragment run, only entries of that fragment).

Nothing here runs JavaScript: what a component's script would do (fetch a URL, send an event) is the caller's.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from streamlit.components.v2.bidi_component.main import _make_trigger_id
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.Element_pb2 import Element
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

STREAM_PATH = "/_stcore/stream"
# What the frontend sends as its XSRF token when the page has no _streamlit_xsrf cookie.
NO_XSRF_TOKEN = "PLACEHOLDER_AUTH_TOKEN"
# The context info Chromium sent from this machine (headless, TZ unset, English locale).
BROWSER_CONTEXT = {"timezone": "UTC", "timezone_offset": 0, "locale": "en-US", "is_embedded": False,
                   "color_scheme": "light"}
# Elements that hold no state the browser sends back until they are pressed (trigger values).
TRIGGER_ONLY_WIDGETS = frozenset({"button", "download_button", "bidi_component"})


# --- what the browser sends -----------------------------------------------------------------------------------

def compact_json(value) -> str:
    """JSON as JavaScript's JSON.stringify writes it (no spaces)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def default_widget_state(element: Element) -> WidgetState | None:
    """The state the browser reports for a widget nobody has touched (None: it reports none).

    Only the widget kinds the explorer's pages mount; another kind raises, so that a page that gains one is noticed
    rather than sent without it.
    """
    kind = element.WhichOneof("type")
    if kind in TRIGGER_ONLY_WIDGETS:
        return None
    widget = getattr(element, kind)
    state = WidgetState(id=widget.id)
    if kind == "checkbox":
        state.bool_value = widget.value if widget.set_value else widget.default
    elif kind == "selectbox":
        state.string_value = widget.raw_value if widget.set_value else widget.options[widget.default]
    elif kind == "button_group" and not widget.set_value:
        state.string_array_value.data.extend(widget.options[i].content for i in widget.default)
    elif kind == "file_uploader":
        state.file_uploader_state_value.SetInParent()
    else:
        raise NotImplementedError(f"the browser's default state of a {kind} widget is not modelled here")
    return state


def is_widget(element: Element) -> bool:
    kind = element.WhichOneof("type")
    return kind is not None and bool(getattr(getattr(element, kind), "id", ""))


def rerun_message(query_string: str, page_url: str) -> BackMsg:
    """A ``rerun_script`` with what every one of the browser's holds, the query string and the context info: as it
    stands, the first message of a browser that opens ``page_url`` with ``query_string``."""
    message = BackMsg()
    rerun = message.rerun_script
    rerun.query_string = query_string
    rerun.widget_states.SetInParent()
    rerun.context_info.url = page_url
    for name, value in BROWSER_CONTEXT.items():
        setattr(rerun.context_info, name, value)
    return message



def component_event(element_id: str, event: str, value: dict) -> WidgetState:
    """A v2 component's event, as the browser's trigger widget state."""
    return WidgetState(id=_make_trigger_id(element_id, "events"),
                       json_trigger_value=compact_json([{"event": event, "value": value}]))


# --- what the server sends --------------------------------------------------------------------------------------

class MessageCache:
    """The browser's ForwardMsg cache (frontend ForwardMsgCache): cacheable messages by hash, aged by runs."""

    def __init__(self):
        self.messages: dict[str, tuple[bytes, int, str]] = {}  # hash -> (encoded, run count last used, fragment)
        self.run_count = 0

    def resolve(self, message: ForwardMsg, encoded: bytes) -> ForwardMsg:
        """Keep a cacheable message; replace a reference by the message it names (its metadata, the reference's)."""
        if message.WhichOneof("type") == "ref_hash":
            cached = self.messages.get(message.ref_hash)
            if cached is None:
                raise LookupError(f"the server referred to a message this client does not hold: {message.ref_hash}")
            self.messages[message.ref_hash] = (cached[0], self.run_count, cached[2])
            resolved = ForwardMsg.FromString(cached[0])
            resolved.metadata.CopyFrom(message.metadata)
            return resolved
        if message.metadata.cacheable and message.hash:
            previous = self.messages.get(message.hash)
            self.messages[message.hash] = (previous[0] if previous else encoded, self.run_count,
                                           message.delta.fragment_id if message.HasField("delta") else "")
        return message

    def run_finished(self, max_age: int, fragment_ids: list[str]) -> None:
        self.run_count += 1
        for digest, (_, used, fragment) in list(self.messages.items()):
            if fragment_ids and fragment not in fragment_ids:
                continue
            if self.run_count - used > max_age:
                del self.messages[digest]

    def hashes(self) -> list[str]:
        return list(self.messages)


def component_data(element: Element):
    """A v2 component's data: the decoded JSON, the raw bytes, or None for other kinds of data."""
    component = element.bidi_component
    kind = component.WhichOneof("data")
    if kind == "json":
        return json.loads(component.json)
    if kind == "bytes":
        return component.bytes
    if kind == "mixed":
        return json.loads(component.mixed.json)
    return None


def urls_under(data, prefix: str) -> list[str]:
    """Every string held by a "url" key anywhere in decoded JSON data that starts with ``prefix``."""
    found, todo = [], [data]
    while todo:
        value = todo.pop()
        if isinstance(value, dict):
            url = value.get("url")
            if isinstance(url, str) and url.startswith(prefix):
                found.append(url)
            todo += value.values()
        elif isinstance(value, list):
            todo += value
    return found


# --- a session --------------------------------------------------------------------------------------------------

@dataclass
class Mounted:
    """A component element the page holds: its id, fragment, latest data and the path of its script."""

    element_id: str
    fragment_id: str
    data: object
    js_source_path: str


@dataclass(frozen=True)
class RunFinished:
    status: int                       # ForwardMsg.ScriptFinishedStatus
    received_at: float                # time.perf_counter()
    websocket_bytes: int              # received on this session so far, this message included


@dataclass
class SessionCounts:
    websocket_bytes: int = 0          # message payloads received (what Chromium's frame events report)
    exceptions: list[str] = field(default_factory=list)


class ProtocolSession:
    """One browser tab, as far as the server can tell, over Streamlit's websocket.

    ``on_component(name, mounted, received_at)`` is called for every component delta, in order of arrival.
    """

    def __init__(self, base_url: str, on_component: Callable[[str, Mounted, float], None] | None = None):
        self.base_url = base_url.rstrip("/")
        self.on_component = on_component
        self.cache = MessageCache()
        self.counts = SessionCounts()
        self.widgets: dict[tuple[int, ...], Element] = {}  # delta path -> widget element, as the page holds them
        self.components: dict[str, Mounted] = {}  # component name ("latent-explorer.card") -> the latest element
        self.query_string = ""
        self.page_script_hash = ""
        self.max_cached_message_age = 2
        self.sent: list[BackMsg] = []
        self.finished: list[RunFinished] = []
        self.closed_by_server: str | None = None
        self._closing = False
        self._connection = None
        self._reader: asyncio.Task | None = None
        self._changed = asyncio.Condition()

    async def open(self, query_string: str, open_timeout_s: float) -> None:
        parts = urlsplit(self.base_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        origin = f"{parts.scheme}://{parts.netloc}"
        # No pings of our own (a browser sends none; the server's are answered), no size limit (the pack).
        self._connection = await connect(f"{scheme}://{parts.netloc}{parts.path}{STREAM_PATH}",
                                         subprotocols=["streamlit", NO_XSRF_TOKEN], origin=origin,
                                         max_size=None, open_timeout=open_timeout_s, ping_interval=None)
        self._reader = asyncio.create_task(self._read())
        await self._send(rerun_message(query_string, self.base_url + "/"))

    async def send_event(self, component: str, event: str, value: dict) -> None:
        """A component's event: a rerun of its fragment, with every widget's state and the hashes held."""
        mounted = self.components[component]
        message = rerun_message(self.query_string, self.base_url + "/")
        rerun = message.rerun_script
        rerun.page_script_hash = self.page_script_hash
        rerun.fragment_id = mounted.fragment_id
        rerun.widget_states.widgets.extend(
            state for _, element in sorted(self.widgets.items())
            if (state := default_widget_state(element)) is not None)
        rerun.widget_states.widgets.append(component_event(mounted.element_id, event, value))
        rerun.cached_message_hashes.extend(self.cache.hashes())
        await self._send(message)

    async def _send(self, message: BackMsg) -> None:
        self.sent.append(message)
        await self._connection.send(message.SerializeToString())

    async def wait_for(self, condition: Callable[[], bool], timeout_s: float) -> bool:
        """Until ``condition()`` holds (checked after every message); False when the time is up or the server left."""
        deadline = time.monotonic() + timeout_s
        async with self._changed:
            while not condition():
                left = deadline - time.monotonic()
                if left <= 0 or self.closed_by_server is not None:
                    return condition()
                try:
                    await asyncio.wait_for(self._changed.wait(), left)
                except TimeoutError:
                    return condition()
        return True

    async def close(self) -> None:
        self._closing = True
        if self._connection is not None:
            await self._connection.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)

    async def _read(self) -> None:
        try:
            async for encoded in self._connection:
                received_at = time.perf_counter()
                self.counts.websocket_bytes += len(encoded)
                self._handle(self.cache.resolve(ForwardMsg.FromString(encoded), encoded), received_at)
                async with self._changed:
                    self._changed.notify_all()
        except ConnectionClosed as closed:
            if not self._closing:
                self.closed_by_server = f"connection closed: {closed}"
        except Exception as error:  # a message this client cannot follow ends the session, visibly
            self.closed_by_server = f"{type(error).__name__}: {error}"
        finally:
            if self.closed_by_server is None and not self._closing:
                self.closed_by_server = "the server closed the connection"
            async with self._changed:
                self._changed.notify_all()

    def _handle(self, message: ForwardMsg, received_at: float) -> None:
        kind = message.WhichOneof("type")
        if kind == "new_session":
            self.max_cached_message_age = message.new_session.config.max_cached_message_age
            self.page_script_hash = message.new_session.page_script_hash
        elif kind == "navigation":
            self.page_script_hash = message.navigation.page_script_hash or self.page_script_hash
        elif kind == "page_info_changed":
            self.query_string = message.page_info_changed.query_string
        elif kind == "delta" and message.delta.WhichOneof("type") == "new_element":
            self._element(message, received_at)
        elif kind == "script_finished":
            status = message.script_finished
            if status != ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                self.cache.run_finished(self.max_cached_message_age, list(message.metadata.run.fragment_ids))
            self.finished.append(RunFinished(status, received_at, self.counts.websocket_bytes))

    def _element(self, message: ForwardMsg, received_at: float) -> None:
        element = message.delta.new_element
        path = tuple(message.metadata.delta_path)
        kind = element.WhichOneof("type")
        if kind == "exception":
            self.counts.exceptions.append(f"{element.exception.type}: {element.exception.message}"[:500])
        if is_widget(element):
            self.widgets[path] = element
        else:
            self.widgets.pop(path, None)
        if kind == "bidi_component":
            mounted = Mounted(element.bidi_component.id, message.delta.fragment_id, component_data(element),
                              element.bidi_component.js_source_path)
            self.components[element.bidi_component.component_name] = mounted
            if self.on_component is not None:
                self.on_component(element.bidi_component.component_name, mounted, received_at)
