"""What a run's replay (snapshots of the network while it trained) may hold: every field of
replay.json, and the tensors of replay.safetensors that replay.json and the network describe.

core.runs.replay_files reads and writes the two files and checks them against these tables;
a run saved before replays were recorded has neither.
"""

from __future__ import annotations

from core.runs.rules import WHOLE, InvalidRun, Rule, check_fields, is_whole, required

REPLAY_FORMAT_VERSION = 1
MAX_REPLAY_FRAMES = 32  # core.train.replay records at most this many; a replay of 0 is none
MAX_REPLAY_TILES = 64  # first-layer units kept per frame, as the pages show them
MAX_REPLAY_POINTS = 2000  # projected test digits per frame
MAX_REPLAY_DIGITS = 64  # test digits whose probabilities are kept
MAX_TEST_INDEX = 10_000  # MNIST has 10,000 test digits
# replay.json: which frames, of which digits (their positions in the MNIST test set)
REPLAY_META: dict[str, Rule] = {
    "format_version": required(
        Rule(lambda v: is_whole(v) and v == REPLAY_FORMAT_VERSION, str(REPLAY_FORMAT_VERSION))
    ),
    "steps": required(
        Rule(
            lambda v: _whole_list(v, MAX_REPLAY_FRAMES) and v and v == sorted(set(v)),
            f"1..{MAX_REPLAY_FRAMES} increasing step numbers",
        )
    ),
    "epochs": required(
        Rule(
            lambda v: _whole_list(v, MAX_REPLAY_FRAMES) and v == sorted(v),
            f"at most {MAX_REPLAY_FRAMES} epoch numbers, in order",
        )
    ),
    "probe_indices": required(
        Rule(
            lambda v: _whole_list(v, MAX_REPLAY_POINTS, MAX_TEST_INDEX) and len(v) >= 2,
            f"2..{MAX_REPLAY_POINTS} test digit positions below {MAX_TEST_INDEX:,}",
        )
    ),
    "digit_indices": required(
        Rule(
            lambda v: _whole_list(v, MAX_REPLAY_DIGITS, MAX_TEST_INDEX),
            f"at most {MAX_REPLAY_DIGITS} test digit positions below {MAX_TEST_INDEX:,}",
        )
    ),
    "tiles_total": required(WHOLE),
}


def _whole_list(value, length: int, below: int | None = None) -> bool:
    return (
        isinstance(value, list)
        and len(value) <= length
        and all(is_whole(v) and (below is None or v < below) for v in value)
    )


def check_replay_meta(meta: dict) -> dict:
    """Return replay.json's fields if each is as a run writes it, else raise InvalidRun."""
    check_fields("replay.json", meta, REPLAY_META, "a replay")
    if len(meta["epochs"]) != len(meta["steps"]):
        raise InvalidRun(
            f"replay.json: {len(meta['epochs'])} epochs for {len(meta['steps'])} steps; "
            "each frame needs both"
        )
    return meta


def replay_tensors(
    meta: dict, classes: int, tile_shape: tuple[int, int]
) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Return the dtype and shape of each tensor replay.safetensors must hold, given replay.json."""
    frames, points = len(meta["steps"]), len(meta["probe_indices"])
    digits, tiles = len(meta["digit_indices"]), min(meta["tiles_total"], MAX_REPLAY_TILES)
    return {
        "weights": ("I8", (frames, tiles, *tile_shape)),  # each tile scaled to ±127
        "weight_scales": ("F32", (frames, tiles)),  # a tile's largest |weight|
        "coords": ("F16", (frames, points, 2)),
        "explained": ("F32", (frames, 2)),
        "labels": ("I64", (points,)),
        "confusion": ("I32", (frames, classes, classes)),
        "probabilities": ("F16", (frames, digits, classes)),
        "digits": ("U8", (digits, 28, 28)),
        "digit_labels": ("I64", (digits,)),
    }


def check_replay_tensors(
    found: dict[str, tuple[str, tuple[int, ...]]], expected: dict[str, tuple[str, tuple[int, ...]]]
) -> None:
    """Raise InvalidRun unless replay.safetensors holds exactly the expected tensors."""
    if set(found) != set(expected):
        missing, extra = sorted(set(expected) - set(found)), sorted(set(found) - set(expected))
        what = f"missing {', '.join(missing)}" if missing else f"unexpected {extra[0][:80]}"
        raise InvalidRun(f"replay.safetensors does not hold a replay's tensors ({what})")
    for name, (dtype, shape) in expected.items():
        if found[name] != (dtype, shape):
            raise InvalidRun(
                f"replay.safetensors: {name} is {found[name][0]} {found[name][1]}, expected "
                f"{dtype} {shape} (as replay.json and the network describe it)"
            )
