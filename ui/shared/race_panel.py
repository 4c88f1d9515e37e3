"""Races in the app: the Train page's Race controls, and the Evaluate page's Races and Cost tabs."""

from __future__ import annotations

import copy
import statistics
from collections import defaultdict

import streamlit as st

from core.runs.store import InvalidRun, load_run, new_run_id
from core.spec.compute import FLOPS_PER_MULTIPLY_ADD_TRAINED
from core.spec.config import OPTIMIZERS, SCHEDULES, TrainConfig
from core.spec.models import ACTIVATIONS, ModelSpec
from core.spec.task import NORMALIZATIONS
from core.train import timebudget
from core.train.race import (
    SEEDS_LIMITS,
    SPREAD,
    VARIANTS_LIMITS,
    plan_race,
    results_of,
    variant_of,
    verdict,
)
from ui.charts import figures
from ui.charts.figures import CHART_CONFIG
from ui.charts.race_figures import (
    Band,
    CostPoint,
    band_figure,
    band_of,
    cost_figure,
    race_scores_figure,
)
from ui.charts.shared_figures import run_version
from ui.shared import session, state, widgets
from ui.shared.choices import BATCH_SIZES, LEARNING_RATES, WEIGHT_DECAYS
from ui.shared.pages import EVALUATE_PAGE

DEFAULT_SEEDS = 5
RACE_KEY = "race_started"  # the session's latest race id
LOSS_SMOOTHING = 0.9  # as the comparison's step curves
# what a variant may change on the page, and the values offered (2 to 4 are picked)
VARIANT_CHOICES: dict[str, list] = {
    "optimizer": list(OPTIMIZERS),
    "activation": [a for a in ACTIVATIONS if a != "identity"],
    "lr": LEARNING_RATES,
    "batch_size": BATCH_SIZES[1:],
    "schedule": list(SCHEDULES),
    "normalization": list(NORMALIZATIONS),
    "weight_decay": WEIGHT_DECAYS,
    "epochs": [1, 2, 3, 5, 10, 20],
}
VARIANT_NAMES = {
    "optimizer": "Optimizer",
    "activation": "Activation (every layer)",
    "lr": "Learning rate",
    "batch_size": "Batch size",
    "schedule": "Schedule",
    "normalization": "Normalisation",
    "weight_decay": "Weight decay",
    "epochs": "Epochs",
}


def _current_value(setting: str, spec: ModelSpec, config: TrainConfig):
    if setting == "activation":
        layers = [*spec.conv, *spec.dense]
        return layers[0].activation if layers else "relu"
    return getattr(config, setting)


def _default_values(setting: str, current) -> list:
    options = VARIANT_CHOICES[setting]
    other = next((v for v in options if v != current), current)
    return [current, other] if current in options else options[:2]


def race_controls(
    spec: ModelSpec, config: TrainConfig, name: str, problem: str | None, estimate: float | None
) -> None:
    """Draw the Train page's Race box: seeds, or variants of one setting, queued as one group."""
    with st.expander("Race: several seeds, or variants head to head", icon=":material/flag:"):
        st.caption(
            "One run says little: the same settings land 0.1–0.2 points apart from seed to seed. "
            "A race trains each variant over the same seeds and compares the spreads."
        )
        mode = st.radio(
            "Race",
            ["Seeds", "Variants"],
            horizontal=True,
            key="race_mode",
            label_visibility="collapsed",
        )
        seeds = st.slider("Seeds per variant", *SEEDS_LIMITS, value=DEFAULT_SEEDS, key="race_seeds")
        variants = None
        if mode == "Variants":
            setting = st.selectbox(
                "Setting to vary",
                list(VARIANT_CHOICES),
                format_func=VARIANT_NAMES.get,
                key="race_setting",
            )
            current = _current_value(setting, spec, config)
            values = st.multiselect(
                f"Values ({VARIANTS_LIMITS[0]} to {VARIANTS_LIMITS[1]})",
                VARIANT_CHOICES[setting],
                default=_default_values(setting, current),
                max_selections=VARIANTS_LIMITS[1],
                format_func=lambda v: f"{v:g}" if isinstance(v, float) else str(v),
                key=f"race_values_{setting}",
            )
            variants = [{setting: value} for value in values]
        count = seeds * (len(variants) if variants else 1)
        try:
            plan = plan_race(spec, config, seeds, variants) if problem is None else None
            why = problem
        except ValueError as exc:
            plan, why = None, str(exc)
        if plan is not None and estimate is not None:
            st.caption(race_estimate_text(count, estimate, state.registry().max_concurrent))
        if why:
            st.caption(f"Cannot race yet: {why}")
        if st.button("Start race", icon=":material/flag:", disabled=plan is None, key="start_race"):
            _start(plan, name)
        _race_status()


def race_estimate_text(count: int, seconds_each: float, at_once: int) -> str:
    """Return the race's caption: how many runs, how many at once, and about how long."""
    if at_once <= 1:
        how, seconds = "one after another", seconds_each * count
    else:  # a cluster: rounds of at_once runs, each round as long as one run
        how, seconds = f"{min(at_once, count)} at a time", seconds_each * -(-count // at_once)
    return (
        f"{count} runs, {how}: about {timebudget.duration_text(seconds)} in all "
        "(estimated from this setting's run)."
    )


def _start(plan, name: str) -> None:
    race = new_run_id(f"race-{name}")
    runs = [
        {
            "spec": copy.deepcopy(entry.spec),
            "config": copy.deepcopy(entry.config),
            "name": name,
            "data_dir": str(state.data_dir()),
            "runs_dir": str(state.runs_dir()),
            "race": race,
            "variant": entry.variant,
        }
        for entry in plan
    ]
    try:
        jobs = state.registry().submit_all(runs, owner=session.session_id())
    except ValueError as exc:  # the memory or time budget refused a run: none is queued
        st.error(f"Cannot start the race: {exc}", icon=":material/error:")
        return
    st.session_state[RACE_KEY] = race
    session.remember_job(jobs[0])
    st.rerun()


def _race_status() -> None:
    race = st.session_state.get(RACE_KEY)
    if not race:
        return
    jobs = [j for j in state.registry().active() if j.request.race == race]
    running = sum(1 for j in jobs if j.state in ("running", "paused", "stopping"))
    queued = len(jobs) - running
    done = sum(1 for s in state.saved_runs() if s.get("race") == race)
    st.markdown(f"**Your race:** {done} runs saved, {running} training, {queued} queued.")
    if done:
        st.page_link(
            EVALUATE_PAGE, label="See the race on Evaluate → Races", icon=":material/flag:"
        )


# --- Evaluate: the Races tab ----------------------------------------------------------------


def races_of(runs: list[dict]) -> dict[str, list[dict]]:
    """Return the saved runs grouped by race id, newest race first."""
    races: dict[str, list[dict]] = defaultdict(list)
    for summary in runs:  # newest first already
        if summary.get("race"):
            races[summary["race"]].append(summary)
    return dict(races)


@st.cache_resource(max_entries=4, show_spinner="Reading the race's curves…")
def _race_bands(versions: tuple[tuple[str, float, str], ...]) -> tuple[list[Band], list[Band]]:
    # one race's curves for every session: its runs' files change only when a run is added
    loss: dict[str, list] = defaultdict(list)
    accuracy: dict[str, list] = defaultdict(list)
    for path, _, variant in versions:
        try:
            run = load_run(path, state.runs_dir())
        except (InvalidRun, OSError):
            continue
        losses = figures.moving_average([s.loss for s in run.steps], LOSS_SMOOTHING)
        loss[variant].append(([s.step for s in run.steps], losses))
        epochs = [e for e in run.epochs if e.val_accuracy == e.val_accuracy]
        if len(epochs) >= 2:
            accuracy[variant].append(([e.epoch for e in epochs], [e.val_accuracy for e in epochs]))
    return (
        [band_of(v, curves) for v, curves in loss.items() if curves],
        [band_of(v, curves) for v, curves in accuracy.items() if curves],
    )


def _race_label(race: str, members: list[dict]) -> str:
    name = members[-1].get("name", "race")
    variants = {m.get("variant") for m in members}
    kind = f"{len(variants)} variants" if len(variants) > 1 else "seeds"
    return f"{name} · {kind} · {len(members)} runs · {str(members[-1].get('created', ''))[:16]}"


def races_tab(runs: list[dict]) -> None:
    """Show a race: each variant's mean curves with their spread, scores per seed, the verdict."""
    races = races_of(runs)
    if not races:
        st.info(
            "No races yet. On the **Train** page, open **Race** to train the same settings over "
            "several seeds, or two to four variants head to head; the result appears here."
        )
        return
    race = st.selectbox(
        "Race", list(races), format_func=lambda r: _race_label(r, races[r]), key="eval-race"
    )
    members = list(reversed(races[race]))  # oldest first: the order they were queued in
    results = results_of(members)
    if not results:
        st.info("None of this race's runs has finished yet.")
        return
    message = verdict(results)
    if message.startswith("no clear"):
        st.info(f"**{message.capitalize()}**: the variants' mean ± std intervals overlap.")
    elif message:
        st.success(f"**{message}**", icon=":material/flag:")
    st.plotly_chart(race_scores_figure(results), config=CHART_CONFIG)
    st.dataframe(
        [
            {
                "variant": r.variant,
                "seeds": r.seeds,
                "mean": f"{r.mean:.2%}",
                "std": f"{r.std:.2%}",
                "lowest": f"{min(r.accuracies):.2%}",
                "highest": f"{max(r.accuracies):.2%}",
                "seconds per run": widgets.number_or_dash(
                    _mean_seconds(members, r.variant), "{:.1f}"
                ),
            }
            for r in results
        ],
        hide_index=True,
    )
    versions = tuple(
        (*run_version(m["path"]), variant_of(m)) for m in members if m.get("status") == "finished"
    )
    loss_bands, accuracy_bands = _race_bands(versions)
    st.caption(
        f"Lines: the mean over seeds; shaded: from the lowest to the highest seed. Scores: {SPREAD}."
    )
    left, right = st.columns(2) if accuracy_bands else (st.container(), None)
    left.plotly_chart(
        band_figure(loss_bands, "step", "training loss (smoothed)"),
        config=CHART_CONFIG,
    )
    if right is not None:
        right.plotly_chart(
            band_figure(accuracy_bands, "epoch", "validation accuracy", percent=True, whole_x=True),
            config=CHART_CONFIG,
        )


def _mean_seconds(members: list[dict], variant: str) -> float | None:
    seconds = [m["seconds"] for m in members if variant_of(m) == variant and m.get("seconds")]
    return statistics.fmean(seconds) if seconds else None


# --- Evaluate: the Cost tab -----------------------------------------------------------------


def cost_tab(runs: list[dict]) -> None:
    """Plot every saved run's test accuracy against its training FLOPs and its parameters."""
    scored = [
        s
        for s in runs
        if isinstance(s.get("test_accuracy"), (int, float)) and s.get("status") == "finished"
    ]
    if not scored:
        st.info("No finished runs yet: train one on the **Train** page.")
        return
    st.caption(
        f"Training FLOPs ≈ {FLOPS_PER_MULTIPLY_ADD_TRAINED} × multiply-adds per digit × digits "
        "seen (2 per multiply-add forward, the backward pass twice the forward). Diamonds: the "
        "Pareto front, the runs no other run beats on both accuracy and cost."
    )
    with_flops = [s for s in scored if s.get("training_flops")]
    left, right = st.columns(2)
    left.plotly_chart(
        cost_figure(
            [
                CostPoint(widgets.run_label(s), s["training_flops"], s["test_accuracy"])
                for s in with_flops
            ],
            "training FLOPs (log)",
        ),
        config=CHART_CONFIG,
    )
    right.plotly_chart(
        cost_figure(
            [
                CostPoint(widgets.run_label(s), s["parameters"], s["test_accuracy"])
                for s in scored
                if s.get("parameters")
            ],
            "parameters (log)",
        ),
        config=CHART_CONFIG,
    )
    if len(with_flops) < len(scored):
        left.caption(
            f"{len(scored) - len(with_flops)} older runs are left out of this plot: they were "
            "saved before Digit Lab recorded training FLOPs."
        )
