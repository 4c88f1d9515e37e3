"""Lessons: a link that fixes chosen settings, showing some of them locked and hiding others.

Two query parameters name what a lesson fixes, `~`-separated like a shared link's layers:

    ?preset=seed-mlp-128&lr=0.1&lock=network~optimizer&hide=batch_size~schedule~augment

The names are TrainConfig's fields (`lr`, `epochs`, `augment`...) and `network` for the whole
ModelSpec; `device` is not one, as it belongs to the machine that opens the link. A locked
setting is shown but cannot be changed; a hidden one is not shown and is fixed all the same.
Their values are the link's (its preset plus what it lists). A talk step carries the same two
lists in one text, `lock=network~lr;hide=schedule`. Pure: the pages' side is ui.shared.lesson.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields

from core.spec.config import TrainConfig
from core.spec.models import ModelSpec
from core.spec.quote import quoted

NETWORK = "network"
LOCK_PARAM = "lock"
HIDE_PARAM = "hide"
PARAMS = (LOCK_PARAM, HIDE_PARAM)
SEPARATOR = "~"  # left as is in a URL; "," is read too, as people type it
PART_SEPARATOR = ";"  # between lock= and hide= in a talk step
NOT_FIXABLE = {"device": "the device belongs to the machine that opens the link"}
NAMES = (NETWORK, *(f.name for f in fields(TrainConfig) if f.name not in NOT_FIXABLE))


@dataclass(frozen=True)
class Lesson:
    """Which settings a lesson fixes: locked ones are shown disabled, hidden ones not drawn."""

    locked: frozenset[str] = frozenset()
    hidden: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.locked or self.hidden)

    def fixed(self) -> list[str]:
        """Return every name the lesson fixes, locked or hidden, in vocabulary order."""
        return [name for name in NAMES if name in self.locked or name in self.hidden]

    def to_params(self) -> dict[str, str]:
        """Return the query parameters naming this lesson (none when it fixes nothing)."""
        params = {}
        for param, names in ((LOCK_PARAM, self.locked), (HIDE_PARAM, self.hidden)):
            if names:
                params[param] = SEPARATOR.join(name for name in NAMES if name in names)
        return params

    def to_text(self) -> str:
        """Return the lesson as a talk step writes it: 'lock=network~lr;hide=schedule'."""
        return PART_SEPARATOR.join(f"{key}={value}" for key, value in self.to_params().items())


def parse_names(param: str, text: str) -> tuple[frozenset[str], list[str]]:
    """Return the known names in a '~'-separated list, and one message per name refused."""
    names, problems = set(), []
    for name in filter(None, (part.strip() for part in re.split(r"[~,]", text))):
        if name in NAMES:
            names.add(name)
        elif name in NOT_FIXABLE:
            problems.append(
                f"{param}: {quoted(name)} cannot be fixed by a lesson: {NOT_FIXABLE[name]}"
            )
        else:
            problems.append(
                f"{param}: {quoted(name)} is not a setting; use one of {', '.join(NAMES)}"
            )
    return frozenset(names), problems


def from_params(params: Mapping[str, str]) -> tuple[Lesson, list[str]]:
    """Return the lesson the query parameters describe, and one message per name refused."""
    locked, lock_problems = parse_names(LOCK_PARAM, params.get(LOCK_PARAM, ""))
    hidden, hide_problems = parse_names(HIDE_PARAM, params.get(HIDE_PARAM, ""))
    return Lesson(locked, hidden), lock_problems + hide_problems


def from_text(text: str) -> tuple[Lesson, list[str]]:
    """Return the lesson of a talk step ('lock=network~lr;hide=schedule'), and what was refused."""
    params, problems = {}, []
    for part in filter(None, (part.strip() for part in text.split(PART_SEPARATOR))):
        key, equals, value = part.partition("=")
        if not equals or key.strip() not in PARAMS:
            problems.append(f"{quoted(part)} reads as neither lock=<names> nor hide=<names>")
            continue
        key = key.strip()
        params[key] = f"{params[key]}{SEPARATOR}{value}" if key in params else value
    lesson, name_problems = from_params(params)
    return lesson, problems + name_problems


def impose(
    lesson: Lesson,
    lesson_spec: ModelSpec,
    lesson_config: TrainConfig,
    spec: ModelSpec,
    config: TrainConfig,
) -> list[str]:
    """Put the lesson's values back into spec and config; return the names that had changed."""
    changed = []
    for name in lesson.fixed():
        if name == NETWORK:
            if spec.to_dict() != lesson_spec.to_dict():
                # in place: a page holds on to the spec it is drawing
                for field in fields(ModelSpec):
                    value = copy.deepcopy(getattr(lesson_spec, field.name))
                    setattr(spec, field.name, value)
                changed.append(name)
        elif getattr(config, name) != getattr(lesson_config, name):
            setattr(config, name, copy.deepcopy(getattr(lesson_config, name)))
            changed.append(name)
    return changed
