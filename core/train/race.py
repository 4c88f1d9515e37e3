"""Races: one network's settings over several seeds, or a few variants head to head.

A race is planned here (which runs, with which settings), its runs share a race id in their
summaries, and its result is read back from them: per variant the mean and spread of the test
accuracy, and a winner only when the spreads do not overlap.
"""

from __future__ import annotations

import copy
import math
import statistics
from dataclasses import dataclass, fields

from core.spec.config import TrainConfig, field_kinds, parse_field_text
from core.spec.models import ACTIVATIONS, ModelSpec

SEEDS_LIMITS = (2, 10)  # seeds per variant: one is not a race, more than ten is a sweep
VARIANTS_LIMITS = (2, 4)  # variants head to head; one variant is a race over seeds
# settings a variant may change: every training setting but the seed (the race sets it), and
# the activation of every layer at once (sigmoid against ReLU)
NETWORK_SETTINGS = ("activation",)
RACE_SETTINGS = (
    tuple(f.name for f in fields(TrainConfig) if f.name not in ("seed", "augment", "device"))
    + NETWORK_SETTINGS
)
SPREAD = "±1 standard deviation over seeds"  # what the interval around a mean is


@dataclass(frozen=True)
class RaceEntry:
    """One run of a race: its variant, seed and settings."""

    variant: str
    seed: int
    spec: ModelSpec
    config: TrainConfig


@dataclass(frozen=True)
class VariantResult:
    """A variant's final test accuracies over its seeds, and their summary."""

    variant: str
    accuracies: tuple[float, ...]

    @property
    def seeds(self) -> int:
        return len(self.accuracies)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.accuracies)

    @property
    def std(self) -> float:
        """Sample standard deviation (n − 1); 0 for a single seed."""
        return statistics.stdev(self.accuracies) if self.seeds > 1 else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        return self.mean - self.std, self.mean + self.std


def parse_setting(text: str) -> tuple[str, object]:
    """Return (name, value) from 'name=value', typed as the setting's field; ValueError if not."""
    name, sep, raw = text.partition("=")
    name, raw = name.strip(), raw.strip()
    if not sep or not name:
        raise ValueError(f"setting: {text!r} is not name=value")
    if name not in RACE_SETTINGS:
        raise ValueError(f"setting: {name!r} is not one of {', '.join(RACE_SETTINGS)}")
    return name, parse_field_text(name, raw, field_kinds(TrainConfig).get(name, "str"))


def apply_settings(
    spec: ModelSpec, config: TrainConfig, settings: dict
) -> tuple[ModelSpec, TrainConfig]:
    """Return copies of spec and config with settings applied, validated; ValueError if not valid."""
    spec, config = copy.deepcopy(spec), copy.deepcopy(config)
    for name, value in settings.items():
        if name == "activation":
            if value not in ACTIVATIONS:
                raise ValueError(f"activation: {value!r} is not one of {', '.join(ACTIVATIONS)}")
            for layer in [*spec.conv, *spec.dense]:
                layer.activation = value
        elif name in RACE_SETTINGS:
            setattr(config, name, value)
        else:
            raise ValueError(f"setting: {name!r} is not one of {', '.join(RACE_SETTINGS)}")
    return spec.validate(), config.validate()


def variant_label(settings: dict) -> str:
    """Return a variant's name from what it changes: 'optimizer=sgd, lr=0.1'."""
    return ", ".join(f"{name}={_shown(value)}" for name, value in settings.items()) or "as set"


def _shown(value) -> str:
    if isinstance(value, list):
        return "".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _check_count(name: str, count: int, limits: tuple[int, int]) -> None:
    low, high = limits
    if isinstance(count, bool) or not isinstance(count, int) or not low <= count <= high:
        raise ValueError(f"{name}: {count!r} is outside the allowed range {low}..{high}")


def plan_race(
    spec: ModelSpec, config: TrainConfig, seeds: int, variants: list[dict] | None = None
) -> list[RaceEntry]:
    """Return the runs of a race: every variant (or the settings as they are) at seeds seeds.

    The seeds are config.seed, config.seed + 1, …: the same for every variant, so that a
    variant's difference is not a difference of luck.
    """
    _check_count("seeds", seeds, SEEDS_LIMITS)
    if variants:
        _check_count("variants", len(variants), VARIANTS_LIMITS)
        labels = [variant_label(v) for v in variants]
        if len(set(labels)) < len(labels):
            raise ValueError("variants: two variants are the same; make each one different")
    else:
        variants, labels = [{}], [variant_label({})]
    entries = []
    for label, settings in zip(labels, variants, strict=True):
        v_spec, v_config = apply_settings(spec, config, settings)
        for offset in range(seeds):
            seed_config = copy.deepcopy(v_config)
            seed_config.seed = (config.seed + offset) % (2**31)
            entries.append(RaceEntry(label, seed_config.seed, v_spec, seed_config))
    return entries


def variant_of(summary: dict) -> str:
    """Return the variant a race run's summary names ('as set' for a race over seeds alone)."""
    return summary.get("variant") or variant_label({})


def results_of(summaries: list[dict]) -> list[VariantResult]:
    """Return each variant's result from the race's finished runs' summaries, in order seen."""
    accuracies: dict[str, list[float]] = {}
    for summary in summaries:
        accuracy = summary.get("test_accuracy")
        if summary.get("status") != "finished" or accuracy is None or not math.isfinite(accuracy):
            continue
        accuracies.setdefault(variant_of(summary), []).append(accuracy)
    return [VariantResult(name, tuple(values)) for name, values in accuracies.items()]


def verdict(results: list[VariantResult]) -> str:
    """Name the winner if its interval lies above every other's, else say there is no clear one."""
    if len(results) < 2:
        return ""
    seeds = min(r.seeds for r in results)
    best = max(results, key=lambda r: r.mean)
    if seeds >= 2 and all(best.interval[0] > r.interval[1] for r in results if r is not best):
        return f"{best.variant} wins: its mean ± std lies above every other variant's"
    return f"no clear difference at {seeds} seeds"
