"""What a run's files may hold: every field of summary.json and metrics.json, and the weights' header.

One table per file says each field's type, range and whether it must be there. Import
(core.runs.archive.import_run) and the damage scan (core.runs.listing.run_damage) both check against it, so a
run that any page lists is a run every page can draw; anything else is refused, or listed as
damaged, with the file, the field and the value named. The tables are made of the rules of
core.runs.rules; the replay's two files have their own (core.runs.replay_schema).
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timedelta, timezone
from typing import BinaryIO

from core.analysis.calibration import TEMPERATURE_RANGE
from core.data.datasets import DATASETS
from core.runs.replay_schema import MAX_REPLAY_FRAMES  # noqa: F401 (core.train.replay reads it here)
from core.runs.rules import (
    FINITE,
    FLAG,
    FRACTION,
    NUMBER,
    WHOLE,
    InvalidRun,
    Rule,
    check_fields,
    is_non_negative,
    is_number,
    is_text,
    is_whole,
    nullable,
    required,
    shown,
)

FORMAT_VERSION = 1
MAX_NAME_CHARS = 200
MAX_TEXT_CHARS = 200  # device, data source, a version: a few words
MAX_LAYERS = 64  # gradient norms per step: one per weighted layer, far fewer in any network
# an id is one folder name: no separators, no "..", no NUL, not hidden, at most 128 characters
RUN_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
STATUSES = ("finished", "stopped", "interrupted", "imported")
# A created date in the future would sort first, and so be every new session's default run,
# until the clock caught up. It is refused rather than clamped: the damage scan reads folders
# in place and cannot rewrite them, and one rule for both keeps them agreeing. A day of slack
# covers a clock that is off by hours, or a date written in local time without an offset.
FUTURE_SLACK = timedelta(days=1)
# safetensors itself allows 100 MB of header; a Digit Lab network's takes about 2 KB
MAX_HEADER_BYTES = 2**20
DTYPE_BYTES = {
    **{"F64": 8, "F32": 4, "F16": 2, "BF16": 2},
    **{"I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1},
}


# --- what a value may be ------------------------------------------------------------------


def _run_id(value) -> bool:
    return isinstance(value, str) and RUN_ID_PATTERN.fullmatch(value) is not None


def _past_date(value) -> bool:
    if not isinstance(value, str) or len(value) > 40:
        return False
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return False
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when <= datetime.now(timezone.utc) + FUTURE_SLACK


def _digits(value) -> bool:
    return (
        isinstance(value, list)
        and 0 < len(value) <= 10
        and all(is_whole(d) and d <= 9 for d in value)
        and len(set(value)) == len(value)
    )


def _versions(value) -> bool:
    return (
        isinstance(value, dict)
        and len(value) <= 20
        and all(is_text(MAX_TEXT_CHARS)(k) and is_text(MAX_TEXT_CHARS)(v) for k, v in value.items())
    )


def _norms(value) -> bool:
    return value is None or (
        isinstance(value, list) and len(value) <= MAX_LAYERS and all(map(is_non_negative, value))
    )


TEXT = Rule(is_text(MAX_TEXT_CHARS), f"text of at most {MAX_TEXT_CHARS} characters")
NAME = Rule(is_text(MAX_NAME_CHARS), f"text of at most {MAX_NAME_CHARS} characters")


def check_run_name(name: str) -> None:
    """Raise ValueError naming the field when a run's name could not be saved in its summary."""
    if not NAME.accepts(name):
        raise ValueError(
            f"name: a run's name is text of at most {MAX_NAME_CHARS} characters "
            f"(this one has {len(name) if isinstance(name, str) else 'no text'})"
        )


# --- the files' tables ---------------------------------------------------------------------

# summary.json, as core.train.run.RunWriter.summary, core.runs.statedict and core.runs.store.save_run write it
SUMMARY: dict[str, Rule] = {
    "format_version": required(
        Rule(lambda v: is_whole(v) and v == FORMAT_VERSION, str(FORMAT_VERSION))
    ),
    "run_id": required(
        Rule(
            _run_id,
            "a run id: letters, digits, '.', '_' and '-' "
            "(at most 128, starting with a letter or digit)",
        )
    ),
    "name": NAME,
    "status": Rule(lambda v: isinstance(v, str) and v in STATUSES, f"one of {', '.join(STATUSES)}"),
    "created": Rule(_past_date, "a date and time (ISO 8601) not in the future"),
    "test_accuracy": nullable(FRACTION),  # null: saved mid-training, or imported without MNIST
    "test_loss": nullable(NUMBER),
    "val_accuracy": nullable(FRACTION),
    "seconds": nullable(NUMBER),
    "seconds_per_epoch": nullable(NUMBER),
    "epochs_completed": WHOLE,
    "steps": WHOLE,
    "device": TEXT,
    "parameters": WHOLE,
    "classes": Rule(_digits, "distinct digits 0..9, at least one"),
    "data_source": TEXT,
    "versions": Rule(_versions, "an object of texts (at most 20)"),
    "imported_from": NAME,
    "multiply_adds": WHOLE,  # per sample; older runs lack this field and the next four
    "samples_seen": WHOLE,
    "training_flops": WHOLE,
    "race": Rule(_run_id, "a race id: letters, digits, '.', '_' and '-'"),
    "variant": NAME,
    "dataset": Rule(lambda v: v in DATASETS, f"one of {', '.join(DATASETS)}"),  # older: mnist
    "fine_tuned_from": Rule(_run_id, "a run id"),  # core.train.finetune: the run it started from
    "my_digits_accuracy": nullable(FRACTION),  # on the set of my digits it was tuned on
    # honest confidence (core.analysis.calibration): the temperature every probability shown is
    # tempered by, what it was fit on, and the calibration error on the test set before and after
    "temperature": Rule(
        lambda v: is_number(v) and TEMPERATURE_RANGE[0] <= v <= TEMPERATURE_RANGE[1],
        f"a number from {TEMPERATURE_RANGE[0]} to {TEMPERATURE_RANGE[1]}",
    ),
    "calibrated_on": TEXT,
    "ece_before": nullable(FRACTION),
    "ece_after": nullable(FRACTION),
    # the hash of its visitor's secret: who may continue it (core.train.ownership)
    "owner_key": Rule(
        lambda v: isinstance(v, str) and re.fullmatch(r"[0-9a-f]{64}", v) is not None,
        "64 hexadecimal digits",
    ),
}

# metrics.json holds one table per kind of event, column by column: {"steps": {"loss": [...]}}
STEP_COLUMNS: dict[str, Rule] = {
    "step": required(WHOLE),
    "epoch": required(WHOLE),
    "loss": required(NUMBER),
    "lr": required(FINITE),
    "samples_per_s": FINITE,  # older runs lack this column and the next
    "grad_norms": Rule(_norms, f"null or a list of at most {MAX_LAYERS} numbers ≥ 0"),
}
EPOCH_COLUMNS: dict[str, Rule] = {
    "epoch": required(WHOLE),
    "step": required(WHOLE),
    "train_loss": required(NUMBER),
    "train_accuracy": required(FRACTION),
    "val_loss": required(NUMBER),
    "val_accuracy": required(FRACTION),
    "seconds": required(FINITE),
    "complete": FLAG,
}
# the rate and momentum set while training (core.train.steering); older runs have no such table
SETTINGS_COLUMNS: dict[str, Rule] = {
    "step": required(WHOLE),
    "lr": required(FINITE),
    "momentum": required(FRACTION),
    "previous_lr": nullable(FINITE),
    "previous_momentum": nullable(FRACTION),
}
METRICS = {"steps": STEP_COLUMNS, "epochs": EPOCH_COLUMNS, "settings_changes": SETTINGS_COLUMNS}


def check_summary(summary: dict) -> dict:
    """Return summary.json's fields if each is of its type and in its range, else raise InvalidRun."""
    check_fields("summary.json", summary, SUMMARY, "a run's summary")
    return summary


def _check_table(table: str, columns, rules: dict[str, Rule]) -> None:
    where = f"metrics.json: {table}"
    if not isinstance(columns, dict):
        raise InvalidRun(f"{where} must be an object of columns")
    if not columns:
        return  # no events of this kind
    for name, values in columns.items():
        if name not in rules:
            raise InvalidRun(f"{where}: {shown(name)[1:-1]} is not a column of {table}")
        if not isinstance(values, list):
            raise InvalidRun(f"{where}.{name} must be a list")
    for name, rule in rules.items():
        if rule.required and name not in columns:
            raise InvalidRun(f"{where}: the {name} column is missing")
    if len({len(values) for values in columns.values()}) > 1:
        raise InvalidRun(f"{where}: the columns differ in length")
    for name, values in columns.items():
        check = rules[name]
        for row, value in enumerate(values):
            if not check.accepts(value):
                check.check(f"{where}.{name}[{row}]", value)


def _check_norm_counts(norms: list) -> None:
    # the gradient-norm chart draws one line per layer: every sampled step must have them all
    counts = {len(row) for row in norms if row}
    if len(counts) > 1:
        first = next(len(row) for row in norms if row)
        row = next(i for i, values in enumerate(norms) if values and len(values) != first)
        raise InvalidRun(
            f"metrics.json: steps.grad_norms[{row}]: {shown(norms[row])} must be "
            f"{first} numbers, as many as the others"
        )


def check_metrics(metrics: dict) -> dict:
    """Return metrics.json's tables if every column and value is as a run writes it, else raise InvalidRun."""
    for table in metrics:
        if table not in METRICS:
            raise InvalidRun(
                f"metrics.json: {shown(table)[1:-1]} is not a table of a run's metrics"
            )
    for table, rules in METRICS.items():
        _check_table(table, metrics.get(table, {}), rules)
    _check_norm_counts(metrics.get("steps", {}).get("grad_norms", []))
    return metrics


# --- model.safetensors: its header, read without its tensors --------------------------------


def _bad_weights(why: str, file_name: str = "model.safetensors") -> InvalidRun:
    return InvalidRun(f"{file_name} is not a valid safetensors file ({why})")


def weights_header(
    file: BinaryIO, size: int, file_name: str = "model.safetensors"
) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Return each tensor's dtype and shape from a safetensors file of size bytes, reading only its header."""
    prefix = file.read(8)
    if len(prefix) < 8:
        raise _bad_weights("it is too short to hold a header", file_name)
    length = int.from_bytes(prefix, "little")
    if length > min(MAX_HEADER_BYTES, size - 8):
        raise _bad_weights(f"its header claims {length:,} bytes", file_name)
    try:
        header = json.loads(file.read(length).decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # bad UTF-8 or JSON, or nested too deep
        raise _bad_weights(f"its header is not JSON: {str(exc)[:80]}", file_name) from exc
    if not isinstance(header, dict):
        raise _bad_weights("its header is not an object", file_name)
    data_bytes = size - 8 - length
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        tensors[name] = _tensor_entry(name, entry, data_bytes, file_name)
    return tensors


def _tensor_entry(name: str, entry, data_bytes: int, file_name: str) -> tuple[str, tuple[int, ...]]:
    def bad(why: str) -> InvalidRun:
        return _bad_weights(f"{name[:80]}{why}", file_name)

    if not isinstance(entry, dict):
        raise bad(" is not described by an object")
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if dtype not in DTYPE_BYTES:
        raise bad(f" has an unknown dtype {shown(dtype)}")
    if not isinstance(shape, list) or not all(map(is_whole, shape)):
        raise bad(" has no valid shape")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(map(is_whole, offsets))):
        raise bad(" has no valid data offsets")
    begin, end = offsets
    # the tensor's bytes must be in the file: a shape that matches is then backed by real data
    if not begin <= end <= data_bytes or end - begin != math.prod(shape) * DTYPE_BYTES[dtype]:
        raise bad("'s data offsets do not fit its shape or the file")
    return dtype, tuple(shape)
