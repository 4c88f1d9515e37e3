"""The room's pages through AppTest: the presenter opens and closes a room; a phone's page says
clearly what is wrong with a code, and shows one prompt and nothing of the presenter's."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.room.store import RoomStore
from ui.room import hub

APP = str(Path(__file__).resolve().parent.parent / "app.py")
ROOM, JOIN = "views/8_Room.py", "views/7_Join.py"


@pytest.fixture(autouse=True)
def fresh_store():
    """Each test gets a store over its own rooms folder (conftest points DIGITLAB_ROOMS there)."""
    hub.store.clear()
    yield
    hub.store.clear()


def texts(at: AppTest, kind: str) -> str:
    return "\n".join(str(element.value) for element in getattr(at, kind))


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def test_the_presenter_opens_a_room_and_closes_it(data_dir):
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.switch_page(ROOM).run()
    assert not at.exception
    button(at, "Open a room").click().run()
    assert not at.exception, [e.value for e in at.exception]
    [room] = RoomStore().rooms()
    assert room.is_open(room.opened_at) and room.code in texts(at, "markdown")
    assert "Teach it our handwriting" in [b.label for b in at.button]
    # no drawings yet: the wall says where they will appear
    assert "No drawings yet" in texts(at, "info")
    button(at, "Close the room").click().run()
    assert not at.exception
    assert RoomStore().room(room.code).closed
    assert [b.label for b in at.button if b.label == "Open a room"]


def test_a_phone_without_a_code_is_asked_for_one_and_a_wrong_code_is_explained(data_dir):
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.switch_page(JOIN).run()
    assert not at.exception
    assert "Room code" in [t.label for t in at.text_input]
    at.query_params["room"] = "QQQQQ"
    at.run()
    assert not at.exception
    assert "There is no room with that code" in texts(at, "error")
    at.query_params["room"] = "x" * 5000  # a hand-made link: refused in words, not repeated
    at.run()
    assert "There is no room with that code" in texts(at, "error")
    assert "x" * 100 not in texts(at, "error")


def test_a_phone_in_a_room_sees_a_prompt_a_canvas_and_nothing_of_the_presenters(data_dir):
    room = RoomStore().open_room("presenter")
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.query_params["room"] = room.code.lower()  # typed in lower case: still the room
    at.switch_page(JOIN).run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Draw a" in texts(at, "markdown")
    assert [b.label for b in at.button] == ["Send", "Clear"]
    assert not at.sidebar.children or not list(at.sidebar)  # no sidebar: nothing to reach
    # Send with nothing drawn says what to do, and sends nothing
    button(at, "Send").click().run()
    assert "Draw the digit first" in texts(at, "warning")
    assert RoomStore().drawings(room.code) == []


def test_a_closed_room_tells_the_phone_so(data_dir):
    store = RoomStore()
    room = store.open_room("presenter")
    store.close(room.code, "presenter")
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.query_params["room"] = room.code
    at.switch_page(JOIN).run()
    assert not at.exception
    assert "This room has closed" in texts(at, "error")


def test_while_the_presenter_trains_the_phones_read_with_the_weights_of_the_moment(data_dir):
    import time

    import torch

    from ui.shared import state

    at = AppTest.from_file(APP, default_timeout=60).run()
    at.switch_page(ROOM).run()
    button(at, "Open a room").click().run()
    [room] = RoomStore().rooms()
    assert hub.reader(room, None) is None  # no model, no training: nothing reads yet
    at.switch_page("views/3_Train.py").run()
    next(w for w in at.number_input if w.label == "Epochs").set_value(30)
    at.run()
    button(at, "Start training").click().run()
    job = state.registry().get(at.session_state["job"])
    try:
        deadline = time.monotonic() + 60
        while (reader := hub.reader(room, None)) is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert reader is not None and reader.called.startswith("the network training now")
        probabilities = reader.score(torch.zeros(1, 28, 28))
        assert probabilities.shape == (10,) and abs(probabilities.sum() - 1) < 1e-4
    finally:
        job.stop()
        job.wait(60)


def test_a_hand_made_canvas_message_is_not_read_past_its_checks():
    import base64
    import io

    import numpy as np
    from PIL import Image

    from ui.room.canvas_message import canvas_pixels

    def message(image: Image.Image, objects=({"type": "path"},)) -> dict:
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        data = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
        return {"drawing": {"raw": {"objects": list(objects)}, "data": data}}

    stroke = np.zeros((320, 320, 4), np.uint8)
    stroke[..., 3] = 255
    stroke[100:220, 150:170, :3] = 255
    cases = {
        "drawn": message(Image.fromarray(stroke)),
        "no strokes": message(Image.fromarray(stroke), objects=()),
        "two channels": message(Image.fromarray(stroke[..., :2].copy(), mode="LA")),
        "too big": message(Image.new("RGBA", (1290, 8))),
        "not a picture": {"drawing": {"raw": {"objects": [{}]}, "data": "data:x;base64,AAAA"}},
        "not a dict": {"drawing": "nonsense"},
    }
    assert canvas_pixels(cases["drawn"], 1280).shape == (320, 320, 4)
    for name in cases.keys() - {"drawn"}:
        assert canvas_pixels(cases[name], 1280) is None, name
