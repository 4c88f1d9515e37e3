"""What a field of a run's files may hold, in words a person reads: a test of the value, and a
Rule that names the file, the field and the value when the test fails.

The tables of core.runs.schema (summary.json, metrics.json) and core.runs.replay_schema
(replay.json) are made of these rules.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace


class InvalidRun(ValueError):
    """A folder or file is not a valid Digit Lab run; the message says why."""


# --- what a value may be ------------------------------------------------------------------


def is_whole(value) -> bool:
    """Return whether value is a whole number ≥ 0 (not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def is_number(value) -> bool:
    """Return whether value is an int or a float (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_non_negative(value) -> bool:
    """Return whether value is a number ≥ 0, or NaN."""
    # NaN fails every comparison: it is let through on purpose (a run without validation)
    return is_number(value) and not value < 0


def is_fraction(value) -> bool:
    """Return whether value is a number in 0..1, or NaN."""
    return is_number(value) and (0 <= value <= 1 or math.isnan(value))


def is_finite_non_negative(value) -> bool:
    """Return whether value is a finite number ≥ 0."""
    return is_number(value) and math.isfinite(value) and value >= 0


def is_text(limit: int) -> Callable[[object], bool]:
    """Return the test of a text of at most limit characters."""
    return lambda value: isinstance(value, str) and len(value) <= limit


@dataclass(frozen=True)
class Rule:
    """What one field may hold: a test, the words for it, and whether it must be there."""

    accepts: Callable[[object], bool]
    says: str
    required: bool = False
    nullable: bool = False

    def check(self, where: str, value) -> None:
        """Raise InvalidRun naming where, the value and what it must be, unless it is accepted."""
        if value is None and self.nullable:
            return
        if not self.accepts(value):
            null = ", or null" if self.nullable else ""
            raise InvalidRun(f"{where}: {shown(value)} must be {self.says}{null}")


def shown(value) -> str:
    """Return value as a message shows it: its repr, cut to 80 characters."""
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:77]}..."


WHOLE = Rule(is_whole, "a whole number ≥ 0")
NUMBER = Rule(is_non_negative, "a number ≥ 0 or NaN")  # NaN: not measured (no validation set)
FRACTION = Rule(is_fraction, "a fraction in 0..1 or NaN")
FINITE = Rule(is_finite_non_negative, "a number ≥ 0")
FLAG = Rule(lambda v: isinstance(v, bool), "true or false")


def required(rule: Rule) -> Rule:
    """Return the rule for a field that must be there."""
    return replace(rule, required=True)


def nullable(rule: Rule) -> Rule:
    """Return the rule for a field that may also be null (not known when the file was written)."""
    return replace(rule, nullable=True)


def check_fields(file: str, fields: dict, rules: dict[str, Rule], kind: str) -> None:
    """Raise InvalidRun unless each of a JSON file's fields follows its rule, the required ones
    are there and no other is (kind names what the file holds: "a run's summary")."""
    # the known fields first: a file of a later format says so before its new fields do
    for name, rule in rules.items():
        if name in fields:
            rule.check(f"{file}: {name}", fields[name])
        elif rule.required:
            raise InvalidRun(f"{file}: {name} is missing")
    for name in fields:
        if name not in rules:
            raise InvalidRun(f"{file}: {shown(name)[1:-1]} is not a field of {kind}")
