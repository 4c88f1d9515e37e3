"""My digits: saving, listing, deleting, renaming, export and import, and refusing hostile files."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from core.data import mydigits
from core.data.mnist import ALL_DIGITS, Split, Task
from core.data.mydigits import InvalidDigits, RefusedFile
from core.spec.config import TrainConfig


def a_digit(value: int = 200) -> np.ndarray:
    image = np.zeros((28, 28), dtype=np.uint8)
    image[6:22, 12:16] = value
    return image


def a_canvas() -> np.ndarray:
    canvas = np.zeros((280, 280, 4), dtype=np.uint8)
    canvas[60:220, 120:160, :3] = 255
    canvas[..., 3] = 255
    return canvas


def test_a_saved_digit_is_listed_with_its_label_image_and_canvas():
    digit = mydigits.save_digit("class 7B", 7, a_digit(), a_canvas())
    [found] = mydigits.list_sets()
    assert found.name == "class 7B" and len(found) == 1
    assert found.digits[0] == digit and digit.label == 7
    assert np.array_equal(found.image(digit.id), a_digit())
    canvas = found.canvas(digit.id)
    assert canvas.shape == (280, 280) and canvas[100, 130] == 255 and canvas[10, 10] == 0
    assert found.counts()[7] == 1 and sum(found.counts().values()) == 1


def test_float_images_in_0_1_are_stored_as_uint8():
    image = torch.zeros(1, 28, 28)
    image[0, 10, 10] = 1.0
    image[0, 11, 11] = 0.5
    digit = mydigits.save_digit("mine", 3, image)
    stored = mydigits.load_set("mine").image(digit.id)
    assert stored[10, 10] == 255 and stored[11, 11] == 128 and stored.sum() == 255 + 128


def test_tensors_return_images_and_labels_in_saving_order():
    for label in (4, 1, 4):
        mydigits.save_digit("mine", label, a_digit(label * 10 + 50))
    images, labels = mydigits.load_set("mine").tensors()
    assert images.dtype == torch.uint8 and images.shape == (3, 28, 28)
    assert labels.tolist() == [4, 1, 4] and int(images[1].max()) == 60


def test_delete_relabel_rename_and_delete_set():
    first = mydigits.save_digit("mine", 1, a_digit())
    second = mydigits.save_digit("mine", 2, a_digit())
    mydigits.delete_digit("mine", first.id)
    digit_set = mydigits.load_set("mine")
    assert [d.id for d in digit_set.digits] == [second.id]
    assert not (digit_set.folder / f"{first.id}.png").exists()
    mydigits.relabel_digit("mine", second.id, 8)
    assert mydigits.load_set("mine").digits[0].label == 8
    renamed = mydigits.rename_set("mine", "Ada's digits".replace("'", ""))
    assert [s.name for s in mydigits.list_sets()] == [renamed.name]
    mydigits.delete_set(renamed.name)
    assert mydigits.list_sets() == []


def test_renaming_onto_a_taken_name_is_refused():
    mydigits.save_digit("one", 1, a_digit())
    mydigits.save_digit("two", 2, a_digit())
    with pytest.raises(InvalidDigits, match="already a set named 'two'"):
        mydigits.rename_set("one", "two")


@pytest.mark.parametrize("name", ["", " ", "../up", ".hidden", "a/b", "x" * 41, "tab\there"])
def test_names_that_could_be_paths_or_nothing_are_refused(name):
    with pytest.raises(InvalidDigits, match="name"):
        mydigits.save_digit(name, 1, a_digit())


@pytest.mark.parametrize("label", [-1, 10, 3.0, "7", True, None])
def test_labels_must_be_digits(label):
    with pytest.raises(InvalidDigits, match="label"):
        mydigits.save_digit("mine", label, a_digit())


def test_a_save_killed_before_the_index_leaves_the_set_as_it_was(monkeypatch):
    kept = mydigits.save_digit("mine", 5, a_digit())
    real_write = mydigits.write_file

    def dies_on_the_index(path, data):
        if path.name == mydigits.INDEX_FILE:
            raise OSError("killed")
        return real_write(path, data)

    with monkeypatch.context() as patch, pytest.raises(OSError, match="killed"):
        patch.setattr(mydigits, "write_file", dies_on_the_index)
        mydigits.save_digit("mine", 6, a_digit())
    digit_set = mydigits.load_set("mine")
    assert [d.id for d in digit_set.digits] == [kept.id]  # the half-saved digit is not listed
    assert digit_set.tensors()[0].shape == (1, 28, 28)


def test_a_damaged_index_is_a_clear_error_and_the_set_is_not_listed():
    mydigits.save_digit("mine", 5, a_digit())
    (mydigits.sets_dir() / "mine" / mydigits.INDEX_FILE).write_text("{not json")
    with pytest.raises(InvalidDigits, match="not valid JSON"):
        mydigits.load_set("mine")
    assert mydigits.list_sets() == []


def test_export_and_import_round_trip_every_pixel():
    for label in range(3):
        mydigits.save_digit("mine", label, a_digit(100 + label), a_canvas())
    data = mydigits.export_set_bytes("mine")
    imported = mydigits.import_set(io.BytesIO(data), name="copy")
    original = mydigits.load_set("mine")
    assert [d.label for d in imported.digits] == [0, 1, 2]
    assert torch.equal(imported.tensors()[0], original.tensors()[0])
    first = original.digits[0].id
    assert np.array_equal(imported.canvas(first), original.canvas(first))


def test_importing_onto_an_existing_name_is_refused():
    mydigits.save_digit("mine", 1, a_digit())
    with pytest.raises(InvalidDigits, match="already a set named 'mine'"):
        mydigits.import_set(mydigits.export_set_bytes("mine"))


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _index(*digits: dict) -> bytes:
    return json.dumps({"format_version": 1, "name": "x", "digits": list(digits)}).encode()


DIGIT_ID = "d00001-abcdef"
ENTRY = {"id": DIGIT_ID, "label": 3, "created": "2026-12-01T10:00:00"}


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ({"index.json": _index(ENTRY), "../d00001-abcdef.png": _png(a_digit())}, "outside"),
        ({"index.json": _index(ENTRY), f"{DIGIT_ID}.png": _png(a_digit()), "x.pkl": b"\x80"}, "not part"),
        ({f"{DIGIT_ID}.png": _png(a_digit())}, "no index.json"),
        ({"index.json": _index(ENTRY)}, "holds no image"),
        ({"index.json": _index(ENTRY), f"{DIGIT_ID}.png": b"GIF89a not a png"}, "not a readable image"),
        ({"index.json": _index(ENTRY), f"{DIGIT_ID}.png": _png(np.zeros((30, 30), np.uint8))}, "must be 28"),
        ({"index.json": _index({**ENTRY, "label": 12}), f"{DIGIT_ID}.png": _png(a_digit())}, "label"),
        ({"index.json": _index({**ENTRY, "id": "../../etc"}), f"{DIGIT_ID}.png": _png(a_digit())}, "valid id"),
        ({"index.json": b"[1, 2]"}, "no list of digits"),
        ({"index.json": _index(ENTRY, ENTRY), f"{DIGIT_ID}.png": _png(a_digit())}, "listed twice"),
    ],
)  # fmt: skip
def test_hostile_set_files_are_refused_before_anything_is_stored(members, message):
    with pytest.raises(RefusedFile, match=message):
        mydigits.import_set(io.BytesIO(_zip(members)), name="hostile")
    assert mydigits.list_sets() == []


def test_a_canvas_bigger_than_any_drawing_is_refused_from_its_header():
    # a 5,000 × 5,000 PNG of zeros is a few KB; decoding it would take 25 MB
    image = Image.new("L", (5_000, 5_000))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    members = {
        "index.json": _index(ENTRY),
        f"{DIGIT_ID}.png": _png(a_digit()),
        f"{DIGIT_ID}-canvas.png": buffer.getvalue(),
    }
    with pytest.raises(RefusedFile, match="the limit is 560"):
        mydigits.import_set(io.BytesIO(_zip(members)), name="bomb")


def test_a_file_that_is_not_a_zip_is_refused():
    with pytest.raises(RefusedFile, match="not a readable zip"):
        mydigits.import_set(io.BytesIO(b"\x80\x04pickle"), name="pickled")


def test_a_set_is_full_at_its_limit(monkeypatch):
    monkeypatch.setattr(mydigits, "MAX_DIGITS_PER_SET", 2)
    mydigits.save_digit("mine", 1, a_digit())
    mydigits.save_digit("mine", 2, a_digit())
    with pytest.raises(InvalidDigits, match="limit"):
        mydigits.save_digit("mine", 3, a_digit())


def _task(classes=ALL_DIGITS) -> Task:
    images = torch.zeros(5, 28, 28, dtype=torch.uint8)
    split = Split(images, torch.zeros(5, dtype=torch.int64), torch.arange(5))
    return Task(tuple(classes), split, split, split)


def test_my_digits_join_the_training_split_repeated_and_mapped_to_the_task():
    for label in (3, 7, 5):
        mydigits.save_digit("mine", label, a_digit())
    task = mydigits.with_my_digits(_task((3, 7)), "mine", repeat=4)
    assert len(task.train) == 5 + 2 * 4  # the 5 is not one of the task's digits
    assert task.train.labels[5:].tolist() == [0, 1] * 4
    assert (task.train.indices[5:] == -1).all() and len(task.test) == 5


def test_a_missing_set_in_training_fails_with_the_field_named():
    with pytest.raises(ValueError, match="my_digits: there is no set"):
        mydigits.with_my_digits(_task(), "nobody", repeat=2)


def test_the_config_keeps_my_digits_and_checks_them():
    config = TrainConfig.from_dict(
        {**TrainConfig().to_dict(), "my_digits": "mine", "my_digits_repeat": 5}
    )
    assert config.my_digits == "mine" and config.my_digits_repeat == 5
    with pytest.raises(ValueError, match="my_digits"):
        TrainConfig(my_digits="../x").validate()
    with pytest.raises(ValueError, match="my_digits_repeat"):
        TrainConfig(my_digits_repeat=0).validate()
