"""How one server process serves many visitors: latent_explorer/shared.py (a value of a workspace computed once
however many visitors ask, dropped with it) and latent_explorer/serving.py (the busy notice, malloc's settings)."""

from __future__ import annotations

import gc
from concurrent.futures import ThreadPoolExecutor

from core_helpers import REPO_ROOT

from latent_explorer import shared
from vae_core import load_checkpoint, load_dataset
from vae_core.workspace import Workspace


def digits_workspace() -> Workspace:
    pair = load_checkpoint(REPO_ROOT / "latent_explorer" / "assets" / "digits-latent2.pt")
    return Workspace(pair, load_dataset(pair.dataset, download=False), label="digits")


def test_a_crowd_asking_for_one_value_gets_one_object_computed_once_per_key():
    ws = digits_workspace()
    computed = []

    def card(index: int) -> dict:
        computed.append(index)
        return {"index": index}

    with ThreadPoolExecutor(8) as pool:
        first = list(pool.map(lambda k: shared.per_workspace(ws, "card", 7, lambda: card(7)), range(50)))
    assert all(value is first[0] for value in first)  # whoever computed it first, one value is kept
    assert shared.per_workspace(ws, "card", 7, lambda: card(7)) is first[0]
    assert shared.per_workspace(ws, "card", 8, lambda: card(8)) == {"index": 8}
    assert shared.per_workspace(ws, "other", 7, lambda: "another kind") == "another kind"
    assert computed.count(8) == 1 and 1 <= computed.count(7) <= 8  # at most one per thread that raced


def test_the_values_go_with_their_workspace():
    gc.collect()
    before = len(shared._values)
    ws = digits_workspace()
    shared.per_workspace(ws, "card", 1, lambda: "kept")
    assert len(shared._values) == before + 1
    del ws
    gc.collect()
    assert len(shared._values) == before


def test_a_newcomer_is_told_when_many_others_are_opening_the_app_at_once():
    from latent_explorer import serving

    with serving.opening() as others:
        assert others == 0 and serving.busy_message(others) is None
        with serving.opening() as second:
            assert second == 1
    crowd = [serving.opening() for _ in range(serving.BUSY_OPENINGS)]
    for visitor in crowd:
        visitor.__enter__()
    with serving.opening() as others:
        message = serving.busy_message(others)
    for visitor in crowd:
        visitor.__exit__(None, None, None)
    assert others == serving.BUSY_OPENINGS and message.startswith(f"Busy: {serving.BUSY_OPENINGS} other visitors")
    with serving.opening() as others:
        assert others == 0  # every opening that ended was counted out


def test_the_server_keeps_freed_memory_returnable_to_the_system(monkeypatch):
    from latent_explorer import serving

    calls = []

    class FakeLibc:
        def mallopt(self, parameter, value):
            calls.append((parameter, value))
            return 1

    monkeypatch.setattr(serving.ctypes, "CDLL", lambda name: FakeLibc())
    assert serving._keep_freed_memory_returnable()
    assert calls == [(serving.M_ARENA_MAX, 2), (serving.M_MMAP_THRESHOLD, 1 << 20)]
    monkeypatch.setattr(serving.ctypes, "CDLL", lambda name: (_ for _ in ()).throw(OSError("no C library")))
    assert not serving._keep_freed_memory_returnable()  # another C library: nothing to tune, nothing fails


def test_at_most_a_few_runs_execute_at_once_and_a_nested_run_keeps_its_place(monkeypatch):
    import threading

    from latent_explorer import serving

    monkeypatch.setattr(serving, "_run_slots", threading.BoundedSemaphore(2))
    inside, most, lock = 0, 0, threading.Lock()
    release = threading.Event()

    def visitor_run() -> None:
        nonlocal inside, most
        with serving.run_slot(), serving.run_slot():  # a page's run drawing its fragment: one place
            with lock:
                inside += 1
                most = max(most, inside)
            release.wait(10)
            with lock:
                inside -= 1

    crowd = [threading.Thread(target=visitor_run) for _ in range(6)]
    for visitor in crowd:
        visitor.start()
    for _ in range(200):
        with lock:
            if inside == 2:
                break
        threading.Event().wait(0.01)
    with lock:
        assert inside == 2  # two run; the four others wait, blocked, for a place
    release.set()
    for visitor in crowd:
        visitor.join(10)
    assert most == 2 and inside == 0
    assert serving._run_slots.acquire(blocking=False) and serving._run_slots.acquire(blocking=False)  # all returned
