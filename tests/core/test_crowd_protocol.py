"""The crowd benchmark's pure parts: the protocol client's messages and cache, the card's completeness, the figures.

No server here: what the browser sends was captured from Chromium (devtools/streamlit_protocol.py says what), and
`python -m benchmarks.crowd --check-chromium` compares the client with Chromium on a running server.
"""

from __future__ import annotations

import json

import pytest
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.Element_pb2 import Element
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from benchmarks.crowd import card_complete, comparable, component_files, percentile, summary
from devtools.streamlit_protocol import (
    MessageCache,
    Mounted,
    ProtocolSession,
    component_event,
    default_widget_state,
    rerun_message,
    urls_under,
)


def test_percentiles_interpolate_between_ranks_as_numpy_does():
    values = [0.4, 0.1, 0.3, 0.2]
    assert percentile(values, 50) == pytest.approx(0.25)
    assert percentile(values, 95) == pytest.approx(0.385)
    assert percentile([7.0], 95) == 7.0
    assert summary(values) == {"n": 4, "p50": pytest.approx(0.25), "p95": pytest.approx(0.385), "max": 0.4}
    assert summary([]) is None


def card(index, *, selected=None, neighbours=2, listed=2, pixels="AAAA"):
    tiles = {"original": 0, "neighbours": [[j, 0.1, j + 1] for j in range(listed)]}
    return {"selected": index if selected is None else selected, "neighbours": neighbours,
            "server": {"index": index, "location": None, "probe": None, "pixels": pixels, "tiles": tiles}}


def test_a_card_is_complete_with_the_points_original_and_every_neighbour():
    assert card_complete(card(5), 5)
    assert not card_complete(card(5), 6)
    assert not card_complete(card(5, selected=6), 5)
    assert not card_complete(card(5, listed=1), 5)
    assert not card_complete(card(5, pixels=""), 5)
    assert not card_complete({"selected": 5, "neighbours": 2, "server": None}, 5)


def test_the_files_a_component_fetches_come_from_urls_and_the_packs_file():
    mounted = Mounted("id", "", {"id": "abc", "file": "packs/abc.lxp.gz"}, "pack_carrier.js")
    assert component_files("latent-explorer.pack", mounted) == [
        "/_stcore/bidi-components/latent-explorer.pack/packs/abc.lxp.gz"]
    nested = Mounted("id", "", {"id": "abc", "url": "/_stcore/bidi-components/x/a.bin",
                                "more": [{"url": "/elsewhere"}, {"url": "/_stcore/bidi-components/x/b.bin"}]}, "x.js")
    assert sorted(component_files("x", nested)) == ["/_stcore/bidi-components/x/a.bin",
                                                   "/_stcore/bidi-components/x/b.bin"]
    assert urls_under(b"raw pack bytes", "/_stcore/") == []


def test_the_opening_message_is_the_browsers():
    message = rerun_message("model=fashion-mnist&point=123", "http://127.0.0.1:8501/")
    rerun = message.rerun_script
    assert rerun.query_string == "model=fashion-mnist&point=123"
    assert rerun.page_script_hash == "" and rerun.fragment_id == "" and not rerun.cached_message_hashes
    assert rerun.HasField("widget_states") and not rerun.widget_states.widgets
    assert (rerun.context_info.url, rerun.context_info.locale) == ("http://127.0.0.1:8501/", "en-US")


def test_a_component_event_is_its_trigger_with_compact_json():
    state = component_event("$$ID-abc-latent_map", "point", {"index": 8070, "seq": 1796600110250})
    assert state.id == "$$STREAMLIT_INTERNAL_KEY_$$ID-abc-latent_map__events"
    assert state.json_trigger_value == '[{"event":"point","value":{"index":8070,"seq":1796600110250}}]'


def test_untouched_widgets_report_their_defaults():
    toggle = Element()
    toggle.checkbox.id, toggle.checkbox.default = "t", True
    assert default_widget_state(toggle).bool_value is True
    picker = Element()
    picker.selectbox.id = "s"
    picker.selectbox.options.extend(["Class", "KL"])
    picker.selectbox.raw_value, picker.selectbox.set_value = "KL", True
    assert default_widget_state(picker).string_value == "KL"
    group = Element()
    group.button_group.id = "g"
    group.button_group.options.add().content = "AE"
    group.button_group.options.add().content = "VAE"
    group.button_group.default.append(1)
    assert list(default_widget_state(group).string_array_value.data) == ["VAE"]
    button = Element()
    button.button.id = "b"
    assert default_widget_state(button) is None
    slider = Element()
    slider.slider.id = "z1"
    with pytest.raises(NotImplementedError):
        default_widget_state(slider)


def cacheable(digest: str, fragment: str = "") -> tuple[ForwardMsg, bytes]:
    message = ForwardMsg(hash=digest)
    message.metadata.cacheable = True
    message.delta.new_element.markdown.body = "x" * 10
    message.delta.fragment_id = fragment
    return message, message.SerializeToString()


def test_the_message_cache_keeps_cacheable_messages_and_resolves_references():
    cache = MessageCache()
    message, encoded = cacheable("a")
    cache.resolve(message, encoded)
    reference = ForwardMsg(ref_hash="a")
    reference.metadata.delta_path.extend([0, 3])
    resolved = cache.resolve(reference, reference.SerializeToString())
    assert resolved.delta.new_element.markdown.body == "x" * 10
    assert list(resolved.metadata.delta_path) == [0, 3]
    with pytest.raises(LookupError):
        cache.resolve(ForwardMsg(ref_hash="unknown"), b"")


def test_the_message_cache_forgets_what_runs_no_longer_use_fragment_runs_only_their_own():
    cache = MessageCache()
    cache.resolve(*cacheable("page"))
    cache.resolve(*cacheable("card", fragment="f"))
    for _ in range(3):  # three fragment runs of "f" that send neither again
        cache.run_finished(max_age=2, fragment_ids=["f"])
    assert cache.hashes() == ["page"]
    cache.run_finished(max_age=2, fragment_ids=[])
    assert cache.hashes() == []


def test_sent_messages_compare_without_the_clock_and_the_widgets_order():
    first, second = BackMsg(), BackMsg()
    for message, order, seq in ((first, ("b", "a"), 1), (second, ("a", "b"), 2)):
        for name in order:
            message.rerun_script.widget_states.widgets.add(id=name, bool_value=True)
        message.rerun_script.widget_states.widgets.append(component_event("m", "point", {"index": 4, "seq": seq}))
    assert comparable(first) == comparable(second)
    events = json.loads(second.rerun_script.widget_states.widgets[-1].json_trigger_value)
    assert events[0]["value"]["seq"] == 2


def delta(path: list[int], fill, fragment: str = "") -> ForwardMsg:
    message = ForwardMsg()
    message.metadata.delta_path.extend(path)
    message.delta.fragment_id = fragment
    fill(message.delta.new_element)
    return message


def test_a_session_follows_the_page_as_the_browser_does():
    seen = []
    session = ProtocolSession("http://127.0.0.1:8501", lambda name, mounted, at: seen.append((name, mounted)))
    navigation = ForwardMsg()
    navigation.navigation.page_script_hash = "explore"
    session._handle(navigation, 0.0)
    info = ForwardMsg()
    info.page_info_changed.query_string = "model=fashion-mnist&point=7"
    session._handle(info, 0.0)

    def toggle(element):
        element.checkbox.id = "t"

    def card_element(element):
        element.bidi_component.id, element.bidi_component.component_name = "$$ID-c-inspect_card", "lx.card"
        element.bidi_component.json = json.dumps({"selected": 7})

    def failure(element):
        element.exception.type, element.exception.message = "ValueError", "no such point"

    for message in (delta([0, 1], toggle), delta([0, 2], card_element, fragment="f"), delta([0, 3], failure)):
        session._handle(message, 1.0)
    finished = ForwardMsg(script_finished=ForwardMsg.FINISHED_SUCCESSFULLY)
    session._handle(finished, 2.0)

    assert (session.page_script_hash, session.query_string) == ("explore", "model=fashion-mnist&point=7")
    assert list(session.widgets) == [(0, 1), (0, 2)]  # a component is a widget too (of triggers only)
    assert seen[0][0] == "lx.card" and seen[0][1].data == {"selected": 7} and seen[0][1].fragment_id == "f"
    assert session.counts.exceptions == ["ValueError: no such point"]
    assert [run.status for run in session.finished] == [ForwardMsg.FINISHED_SUCCESSFULLY]
