"""The room's store: codes, limits, prompts, hiding, and nothing lost across a restart."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.data import mydigits
from core.data.digitset import MAX_CANVAS_SIDE
from core.room.address import PUBLIC_URL_ENV, join_address
from core.room.codes import ALPHABET, LENGTH, WrongCodeLimiter, normalize_code
from core.room.limits import RoomLimits
from core.room.scores import held_out_ids
from core.room.store import RoomDrawing, RoomRefused, RoomStore


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def digit(value: int = 200) -> np.ndarray:
    image = np.zeros((28, 28), np.uint8)
    image[6:22, 12:16] = value
    return image


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def store(clock):
    return RoomStore(limits=RoomLimits(max_per_phone=3, max_per_room=5), clock=clock)


def send_one(store, clock, code, phone):
    clock.now += 5
    return store.send(code, phone, digit())


def test_a_room_has_a_short_unambiguous_code_and_only_its_presenter_closes_it(store):
    room = store.open_room("presenter-secret")
    assert len(room.code) == LENGTH and set(room.code) <= set(ALPHABET)
    assert normalize_code(f" {room.code[:2].lower()}-{room.code[2:]} ") == room.code
    assert store.owned_room("presenter-secret") == room
    assert store.owned_room("someone-else") is None
    with pytest.raises(RoomRefused, match="Only the presenter"):
        store.close(room.code, "someone-else")
    store.close(room.code, "presenter-secret")
    with pytest.raises(RoomRefused, match="closed"):
        store.check_code(room.code, "10.0.0.7")
    # the record holds a hash of the secret, never the secret
    assert "presenter-secret" not in (store.folder / f"{room.code}.json").read_text()


def test_a_room_closes_by_itself_after_its_hours(store, clock):
    room = store.open_room("s")
    assert store.check_code(room.code, "10.0.0.7") == room
    clock.now += 3600 * store.limits.hours_open + 1
    with pytest.raises(RoomRefused, match="closed"):
        store.check_code(room.code, "10.0.0.7")
    assert store.owned_room("s") is None


def test_wrong_codes_are_refused_then_rate_limited_per_address(store):
    store.open_room("s")
    for _ in range(store.limits.wrong_codes_per_minute):
        with pytest.raises(RoomRefused, match="no room with that code"):
            store.check_code("AAAAA", "10.0.0.7")
    with pytest.raises(RoomRefused, match="Too many wrong room codes"):
        store.check_code("AAAAA", "10.0.0.7")
    with pytest.raises(RoomRefused, match="no room with that code"):  # another phone is not
        store.check_code("not a code at all <script>", "10.0.0.8")


def test_the_limiter_forgets_after_a_minute_and_caps_everyone_together():
    clock = Clock()
    limiter = WrongCodeLimiter(per_address=2, in_all=3, clock=clock)
    limiter.wrong("a")
    limiter.wrong("a")
    assert limiter.blocked("a") and not limiter.blocked("b")
    limiter.wrong("b")
    assert limiter.blocked("c")  # three wrong codes in all this minute
    clock.now += 61
    assert not limiter.blocked("a") and not limiter.blocked("c")


def test_phones_are_limited_in_pace_and_count_and_told_why(store, clock):
    room = store.open_room("s")
    store.send(room.code, "phone-a", digit())
    with pytest.raises(RoomRefused, match="One drawing every 2 s"):
        store.send(room.code, "phone-a", digit())
    send_one(store, clock, room.code, "phone-a")
    send_one(store, clock, room.code, "phone-a")
    with pytest.raises(RoomRefused, match="sent 3 drawings"):
        send_one(store, clock, room.code, "phone-a")
    send_one(store, clock, room.code, "phone-b")
    send_one(store, clock, room.code, "phone-b")
    with pytest.raises(RoomRefused, match="holds 5 drawings"):
        send_one(store, clock, room.code, "phone-c")
    assert store.phones(room.code) == (2, 2)


def test_prompts_keep_the_room_balanced_and_each_drawing_gets_its_true_label(clock):
    store = RoomStore(limits=RoomLimits(max_per_room=200), clock=clock)
    room = store.open_room("s")
    sent = []
    for i in range(50):
        asked = store.prompt(room.code, f"phone-{i % 7}")
        assert store.prompt(room.code, f"phone-{i % 7}") == asked  # stable until drawn
        drawing = send_one(store, clock, room.code, f"phone-{i % 7}")
        assert drawing.label == asked
        sent.append(drawing)
    counts = np.bincount([d.label for d in sent], minlength=10)
    assert counts.max() - counts.min() <= 1, counts
    kept = mydigits.load_set(room.set_name)
    assert {d.id: d.label for d in kept.digits} == {d.id: d.label for d in sent}


def test_every_drawing_told_sent_survives_a_restart_and_hidden_ones_leave_the_set(store, clock):
    room = store.open_room("s")
    sent = [send_one(store, clock, room.code, f"phone-{i}") for i in range(4)]
    store.hide(room.code, "s", sent[1].id)
    with pytest.raises(RoomRefused, match="Only the presenter"):
        store.hide(room.code, "not-the-presenter", sent[2].id)
    # a torn last line (the process died while appending) costs nothing that was sent
    with open(store.folder / f"{room.code}.jsonl", "ab") as log:
        log.write(b'{"id": "d0')
    restarted = RoomStore(limits=store.limits, clock=clock)
    shown = restarted.drawings(room.code)
    assert [d.id for d in shown] == [d.id for d in reversed(sent) if d.id != sent[1].id]
    assert all(isinstance(d, RoomDrawing) and d.phone.startswith("phone-") for d in shown)
    assert sent[1].id not in {d.id for d in mydigits.load_set(room.set_name).digits}
    images = restarted.images(room.code, [d.id for d in shown])
    assert images.shape == (3, 28, 28) and images.dtype == np.uint8 and images.max() == 200


def test_a_drawing_in_the_set_without_its_line_is_still_on_the_wall(store, clock):
    room = store.open_room("s")
    drawing = send_one(store, clock, room.code, "phone")
    (store.folder / f"{room.code}.jsonl").unlink()  # as if the crash came between the two writes
    [shown] = store.drawings(room.code)
    assert (shown.id, shown.label) == (drawing.id, drawing.label)


def test_a_phones_canvas_is_kept_at_the_sets_size(store, clock):
    room = store.open_room("s")
    canvas = np.zeros((640, 640, 4), np.uint8)  # a phone's canvas at twice its CSS size
    canvas[200:400, 300:340, :3] = 255
    clock.now += 5
    drawing = store.send(room.code, "phone", digit(), canvas)
    kept = mydigits.load_set(room.set_name).canvas(drawing.id)
    assert kept.shape == (MAX_CANVAS_SIDE, MAX_CANVAS_SIDE) and kept.max() == 255


def test_a_fifth_of_each_digit_is_held_out_the_same_way_every_time():
    drawings = [RoomDrawing(f"d{i:05d}-x", i % 10, "p", 0.0) for i in range(100)]
    held = held_out_ids("K7Q2A", drawings)
    assert held == held_out_ids("K7Q2A", drawings)
    per_digit = np.bincount([d.label for d in drawings if d.id in held], minlength=10)
    assert list(per_digit) == [2] * 10
    assert held != held_out_ids("ACDEF", drawings)  # another room, another fifth


def test_limits_come_from_the_environment_and_are_checked():
    limits = RoomLimits.from_env({"DIGITLAB_ROOM_MAX_PER_PHONE": "12"})
    assert limits.max_per_phone == 12 and limits.seconds_between == 2.0
    assert json.loads(json.dumps(limits.to_dict()))["max_per_phone"] == 12
    with pytest.raises(ValueError, match="must be a number"):
        RoomLimits.from_env({"DIGITLAB_ROOM_SECONDS_BETWEEN": "soon"})
    with pytest.raises(ValueError, match="at most 2,000"):
        RoomLimits.from_env({"DIGITLAB_ROOM_MAX_PER_ROOM": "5000"})


def test_the_join_link_says_when_phones_cannot_reach_the_server(monkeypatch):
    monkeypatch.setattr("core.room.address.lan_address", lambda: "192.168.1.20")
    assert join_address("K7Q2A", 8501, None, {}).url == "http://192.168.1.20:8501/join?room=K7Q2A"
    assert join_address("K7Q2A", 8501, "0.0.0.0", {}).problem is None
    local = join_address("K7Q2A", 8501, "127.0.0.1", {})
    assert "only on this computer" in local.problem and "--server.address 0.0.0.0" in local.problem
    public = join_address("K7Q2A", 8501, "127.0.0.1", {PUBLIC_URL_ENV: "https://d.example.org/"})
    assert (public.url, public.problem) == ("https://d.example.org/join?room=K7Q2A", None)
    monkeypatch.setattr("core.room.address.lan_address", lambda: None)
    assert "on no network" in join_address("K7Q2A", 8501, None, {}).problem


def test_the_presenter_chooses_the_model_that_reads_the_room(store):
    room = store.open_room("s")
    assert store.set_model(room.code, "s", "/runs/a").model == "/runs/a"
    assert store.room(room.code).model == "/runs/a"
    with pytest.raises(RoomRefused, match="Only the presenter"):
        store.set_model(room.code, "phone", "/runs/b")


def room_of_drawings(store, clock, count: int):
    """Open a room and send count drawings of the digits it asks for, from five phones."""
    from core.draw.digitpaths import DIGIT_PATHS
    from core.draw.preprocess import to_mnist
    from core.draw.strokes import draw_path

    room = store.open_room("presenter")
    rng = np.random.default_rng(0)
    for i in range(count):
        phone = f"phone-{i % 5}"
        label = store.prompt(room.code, phone)
        drawing = draw_path(label, sorted(DIGIT_PATHS[label])[i % 2], rng)
        clock.now += 5
        store.send(room.code, phone, to_mnist(drawing)[0], drawing)
    return room


def test_teaching_is_a_training_job_from_the_rooms_model_without_the_held_out_fifth(
    data_dir, tmp_path, clock
):
    from core.data.mnist import make_task, shared_mnist
    from core.data.mydigits import with_my_digits
    from core.room.teach import ROOM_SHARE, teach_config, teach_name
    from core.runs.store import load_run
    from core.spec.presets import get_preset
    from core.train.jobs import JobRegistry
    from tests.conftest import train_tiny_run

    store = RoomStore(limits=RoomLimits(), clock=clock)
    room = room_of_drawings(store, clock, 40)
    drawings = store.drawings(room.code)
    held = held_out_ids(room.code, drawings)
    assert len(held) == 10  # two of each digit's four

    spec, config = get_preset("seed-mlp-128").fresh()
    config.epochs, config.train_fraction = 1, 0.05
    parent = load_run(train_tiny_run(tmp_path / "runs", data_dir, "parent", spec, config))
    taught = teach_config(parent.config, room.set_name, len(drawings) - len(held))
    # about a quarter of each batch is the room's (each drawing repeated), the rest MNIST
    task = make_task(shared_mnist(data_dir), tuple(taught.classes), taught.train_fraction,
                     taught.val_fraction)  # fmt: skip
    mixed = with_my_digits(task, room.set_name, taught.my_digits_repeat, skip=tuple(held))
    room_rows = len(mixed.train.labels) - len(task.train.labels)
    assert room_rows == 30 * taught.my_digits_repeat
    assert abs(room_rows / len(mixed.train.labels) - ROOM_SHARE) < 0.03

    taught.iterations = 40  # the test's length; the room's default is TEACH_STEPS
    registry = JobRegistry(executor="thread")
    job = registry.submit(
        parent.spec, taught, name=teach_name(room.code), data_dir=str(data_dir),
        runs_dir=str(tmp_path / "runs"), start_from=str(parent.path),
        skip_digits=tuple(sorted(held)),
    )  # fmt: skip
    fresh = registry.submit(parent.spec, taught, name="fresh", data_dir=str(data_dir),
                            runs_dir=str(tmp_path / "runs"))  # fmt: skip
    assert job.wait(120) and job.state == "finished", job.error
    assert fresh.wait(120) and fresh.state == "finished", fresh.error
    tuned, untaught = load_run(job.run_dir), load_run(fresh.run_dir)
    assert tuned.name == f"room-{room.code.lower()}"
    # it started from the parent's weights: its first loss is the trained network's, where
    # the same training from fresh weights starts at about log(10) = 2.3
    print(
        f"first loss: {tuned.steps.loss[0]:.2f} from the parent, "
        f"{untaught.steps.loss[0]:.2f} from fresh weights; parent's last "
        f"{parent.steps.loss[-1]:.2f}"
    )
    assert tuned.steps.loss[0] < untaught.steps.loss[0] - 0.4
