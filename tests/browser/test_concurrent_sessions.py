"""Ten visitors on one server at once: clicking, sliding, one of them training. No exception, no cross-talk.

Playwright's sync API drives every page from this one thread, so each round first fires one action
in every browser (the server then works on all ten sessions at the same time) and only then waits
for, and checks, each page's own result. The rounds are bounded; the test stops by itself.
"""

from __future__ import annotations

import pytest

from devtools.browser import (
    active_models_label,
    alert,
    click_at,
    editor_slider,
    editor_z,
    isolated_data_points,
    map_to_page,
    open_train,
    set_number,
    wait_for_app,
    wait_for_map,
)

pytestmark = pytest.mark.browser

VISITORS = 10
ROUNDS = 3
TRAIN_WAIT_S = 300


def position_on(page, point: dict) -> dict:
    """Where this held-out image is drawn on this page's map, in page pixels."""
    px, py = map_to_page(page, point["x"], point["y"])
    return {"px": px, "py": py}


def inspect_heading(page, index: int, label: str):
    return page.get_by_role("heading", name=f"Image #{index} · {label}", exact=True)


def test_ten_concurrent_sessions_keep_their_own_models_and_views(new_visitor, assert_no_exceptions):
    visitors = [new_visitor() for _ in range(VISITORS)]
    trainer, explorers = visitors[0], visitors[1:]

    train_page = open_train(trainer)
    shipped = active_models_label(train_page)
    set_number(train_page, "Latent size", 3)
    set_number(train_page, "Hidden size", 32)
    set_number(train_page, "Epochs", 3)
    train_page.get_by_role("button", name="Train", exact=True).click()

    for visitor in explorers:  # all ten sessions start while the training runs
        visitor.page.goto(visitor.server.url + "/", wait_until="commit")
    for visitor in explorers:
        wait_for_app(visitor.page, visitor.page.get_by_role("heading", name="Explore the latent space"))
        wait_for_map(visitor.page)

    # Every map is the same shipped digits map, so one set of well separated points serves them all.
    points = isolated_data_points(explorers[0].page, len(explorers) + ROUNDS - 1, min_gap_px=6.0)
    for round_ in range(ROUNDS):
        chosen = points[round_:round_ + len(explorers)]  # each visitor a different point, every round
        for visitor, point in zip(explorers, chosen):
            here = position_on(visitor.page, point)  # each page's own layout
            click_at(visitor.page, here["px"], here["py"])
        for visitor, point in zip(explorers, chosen):
            wait_for_app(visitor.page, inspect_heading(visitor.page, point["custom"], point["name"]))
        for visitor, point in zip(explorers, chosen):
            # Still this visitor's own point after everyone else's clicks were served.
            assert inspect_heading(visitor.page, point["custom"], point["name"]).is_visible()
            assert f"point={point['custom']}" in visitor.page.url
            assert_no_exceptions(visitor.page)

    # Each explorer opens its point in the editor and nudges z1 by a different number of steps.
    for visitor in explorers:
        visitor.page.get_by_role("button", name="Open in editor").click()
    expected = {}
    for steps, visitor in enumerate(explorers, start=1):
        page = visitor.page
        wait_for_app(page, page.get_by_role("heading", name="Edit latent features"))
        wait_for_app(page, lambda page=page: editor_z(page) != "")
        expected[visitor.name] = round(float(editor_slider(page, "z1").input_value()) + 0.05 * steps, 2)
    for steps, visitor in enumerate(explorers, start=1):
        editor_slider(visitor.page, "z1").focus()
        for _ in range(steps):
            visitor.page.keyboard.press("ArrowRight")
    for visitor in explorers:
        page = visitor.page
        target = f"{min(expected[visitor.name], 4.0):.2f}"
        wait_for_app(page, lambda page=page, target=target: editor_z(page).split(",")[0] == target)
        wait_for_app(page, lambda page=page, target=target: f"z={float(target):.3f}," in page.url.replace("%2C", ","))
        assert_no_exceptions(page)

    # The trainer's model becomes the trainer's only; nobody else's sidebar changes.
    wait_for_app(train_page, alert(train_page, "Training finished"), timeout_s=TRAIN_WAIT_S)
    trained = active_models_label(train_page)
    assert trained != shipped and trained.endswith("(yours)")
    for visitor in explorers:
        visitor.page.reload()
        wait_for_app(visitor.page, visitor.page.get_by_role("heading", name="Edit latent features"))
        assert active_models_label(visitor.page) == shipped
        options = visitor.page.get_by_test_id("stSidebar").get_by_role("combobox", name="Models")
        assert "this session" not in options.input_value()
    assert_no_exceptions(train_page)
