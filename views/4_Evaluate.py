"""Evaluate: how good is a saved run, which digits does it confuse, how does it compare?"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.data.mnist import DataUnavailable
from core.runs.store import InvalidRun, has_checkpoint
from core.spec.models import network_text
from ui.charts import evaluation_figures
from ui.charts.figures import CHART_CONFIG
from ui.charts.shared_figures import run_version, shared_figure
from ui.evaluate import export_buttons, run_import
from ui.shared import guard, guide, mydigits_views, race_panel, state, widgets
from ui.shared.pages import EVALUATE_PAGE, TRAIN_PAGE
from ui.shared.words import with_article
from ui.train import train_panel

GALLERY_SIZE = 24
COMPARE_DEFAULT = 3
RESULT_COLUMNS = ("test_accuracy", "test_loss", "seconds", "epochs_completed", "parameters")


def calibration_text(summary: dict, temperature: float) -> str:
    """Return the line on how honest the run's confidence is (core.analysis.calibration)."""
    where = summary.get("calibrated_on", "held-out digits")
    where = "validation digits" if where == "validation" else where
    before, after = summary.get("ece_before"), summary.get("ece_after")
    errors = (
        f"; calibration error on the test set {before:.2%} → {after:.2%}"
        if before is not None and after is not None
        else ""
    )
    return (
        f"Confidence calibrated: every probability shown is tempered by T = {temperature:.2f} "
        f'(fit on the {where}){errors}. A calibration error of 1% means its "90% sure" is '
        "right about 89 to 91 times in 100."
    )


def headline(summary: dict, evaluation) -> None:
    """Show the run's test scores and what it cost."""
    cols = st.columns(5)
    cols[0].metric("Test accuracy", f"{evaluation.accuracy:.2%}")
    cols[1].metric(
        "Test loss",
        f"{evaluation.loss:.4f}",
        help="The cross-entropy of the probabilities shown: the network's, tempered by its "
        "calibration where it has one.",
    )
    cols[2].metric(
        "Mistakes", f"{int(evaluation.confusion.sum() - evaluation.confusion.trace()):,}"
    )
    cols[3].metric("Parameters", widgets.number_or_dash(summary.get("parameters"), "{:,}"))
    cols[4].metric(
        "Training time",
        widgets.number_or_dash(summary.get("seconds"), "{:.0f} s"),
        help=f"{widgets.number_or_dash(summary.get('epochs_completed'))} epochs on "
        f"{widgets.escape_markdown(str(summary.get('device', '?')))}",
    )
    if (temperature := summary.get("temperature")) is not None:
        st.caption(calibration_text(summary, temperature))
    if summary.get("status") == "interrupted":
        note, action = st.columns([4, 1], vertical_alignment="center")
        note.caption(
            f"This run was {widgets.interrupted_text(summary)}: these are the scores of the "
            "model saved after that epoch."
        )
        path = Path(summary["path"])
        refused = train_panel.continue_refused(summary, path) if has_checkpoint(path) else None
        if refused:
            note.caption(f"Continue training: {refused}.")
        elif has_checkpoint(path) and action.button(
            "Continue training", icon=":material/resume:", key="eval-continue"
        ):
            train_panel.continue_training(path)
            st.switch_page(TRAIN_PAGE)


def scores_tab(version: tuple, evaluation, dataset, test_images) -> None:
    """Per-class accuracy and the confusion matrix, whose clicked cell shows its digits;
    version names the run's files."""
    names = dataset.labels(evaluation.classes)
    left, right = st.columns([2, 3])
    with left:
        st.markdown(f"**Accuracy per {'digit' if dataset.name == 'mnist' else 'class'}**")
        st.plotly_chart(
            shared_figure(
                (*version, "per-class accuracy"),
                lambda: evaluation_figures.per_class_accuracy_figure(
                    evaluation.per_class_accuracy, names, evaluation.accuracy
                ),
            ),
            config=CHART_CONFIG,
        )
        counts = evaluation.confusion.sum(dim=1).tolist()
        st.dataframe(
            {
                dataset.item: names,
                f"test {dataset.item}s": counts,
                "recall": [f"{v:.2%}" for v in evaluation.recall],
                "precision": [f"{v:.2%}" for v in evaluation.precision],
                "F1": [f"{v:.3f}" for v in evaluation.f1],
            },
            hide_index=True,
            height=min(400, 36 * (len(counts) + 1) + 3),
        )
    with right:
        title, choice = st.columns([1, 2], vertical_alignment="center")
        title.markdown("**Confusion matrix**")
        mode = choice.radio(
            "Confusion matrix",
            ["counts", "row-normalised"],
            horizontal=True,
            key="eval-normalised",
            label_visibility="collapsed",
            help="Row-normalised: each row shows where the digits of that class went.",
        )
        event = st.plotly_chart(
            shared_figure(
                (*version, "confusion", mode),
                lambda: evaluation_figures.confusion_matrix_figure(
                    evaluation.confusion, names, normalized=mode == "row-normalised"
                ),
            ),
            config=CHART_CONFIG,
            on_select="rerun",
            selection_mode="points",
            key=f"eval-confusion-{version[0]}-{mode}",
        )
        clicked = [p for p in (event.selection.points if event else []) if "customdata" in p]
        if not clicked:
            st.caption(f"Click a cell to see its {dataset.item}s here.")
    if clicked:
        true_index, predicted_index = (int(v) for v in clicked[0]["customdata"])
        classes = evaluation.classes
        cell_gallery(
            evaluation, test_images, dataset, classes[true_index], classes[predicted_index]
        )


def cell_gallery(evaluation, test_images, dataset, true_digit: int, predicted_digit: int) -> None:
    """Show the test digits of one confusion-matrix cell, the most telling first."""
    name = dataset.label
    index_of = {digit: i for i, digit in enumerate(evaluation.classes)}
    cell = evaluation.pair(index_of[true_digit], index_of[predicted_digit])
    shown = cell.indices[:GALLERY_SIZE]
    if true_digit == predicted_digit:
        # the hardest correct answers teach more than the easiest
        shown = cell.indices[::-1][:GALLERY_SIZE]
        st.caption(
            f"{cell.count:,} test {dataset.item}s labelled **{name(true_digit)}** were recognised; "
            "the least confident first. Under each: the model's top three guesses."
        )
    elif not cell.count:
        st.info(f"No {name(true_digit)} was taken for {with_article(name(predicted_digit))}.")
        return
    else:
        st.caption(
            f"{cell.count:,} test {dataset.item}s labelled **{name(true_digit)}** were predicted "
            f"as **{name(predicted_digit)}**; the most confident mistakes first. "
            "Under each: the model's top three guesses."
        )
    captions = []
    for row in shown:
        top = widgets.top_probabilities(evaluation.probabilities[row], evaluation.classes, 3)
        captions.append(
            "  \n".join(
                f"**{name(d)}** {p:.0%}" if i == 0 else f"{name(d)} {p:.0%}"
                for i, (d, p) in enumerate(top)
            )
        )
    alts = [
        f"Test {dataset.item} #{int(row)}, labelled {name(true_digit)}; the model's guesses: "
        + widgets.plain_text(caption)
        for row, caption in zip(shown, captions)
    ]
    widgets.digit_gallery(test_images[shown], captions, columns=8, size=84, alts=alts)


def mistakes_tab(run_id: str, evaluation, test_images, dataset) -> None:
    """The most-confused pairs, and a gallery of the digits behind one cell."""
    name = dataset.label
    pairs = evaluation.most_confused(top=10)
    if not pairs:
        st.success("No mistakes on the test set: nothing to show here.")
        return
    total_per_class = evaluation.confusion.sum(dim=1).tolist()
    index_of = {digit: i for i, digit in enumerate(evaluation.classes)}
    left, right = st.columns([2, 5])
    with left:
        st.markdown("**Most-confused pairs**")
        st.dataframe(
            {
                "true": [name(p.true_digit) for p in pairs],
                "predicted": [name(p.predicted_digit) for p in pairs],
                "count": [p.count for p in pairs],
                "of true": [
                    f"{p.count / max(total_per_class[index_of[p.true_digit]], 1):.1%}"
                    for p in pairs
                ],
            },
            hide_index=True,
        )
    with right:
        worst = pairs[0]
        digits = list(evaluation.classes)
        pick_true, pick_predicted = st.columns(2)
        true_digit = pick_true.selectbox(
            f"True {dataset.item}",
            digits,
            index=digits.index(worst.true_digit),
            format_func=name,
            key=f"eval-true-{run_id}",
        )
        predicted_digit = pick_predicted.selectbox(
            "Predicted as",
            digits,
            index=digits.index(worst.predicted_digit),
            format_func=name,
            key=f"eval-predicted-{run_id}",
        )
        cell_gallery(evaluation, test_images, dataset, true_digit, predicted_digit)


def compare_tab(runs: list[dict], current: dict) -> None:
    """Overlay several runs' curves and tabulate their settings and results."""
    by_path = {summary["path"]: summary for summary in runs}
    others = [path for path in by_path if path != current["path"]]
    chosen = st.multiselect(
        "Runs to compare",
        list(by_path),
        default=[current["path"], *others[: COMPARE_DEFAULT - 1]],
        format_func=lambda path: widgets.run_label(by_path[path]),
        key="eval-compare",
    )
    if not chosen:
        st.info("Choose one or more runs to compare.")
        return
    loaded = []
    for path in chosen:
        try:
            loaded.append(state.cached_run(path))
        except (InvalidRun, OSError) as exc:
            label = widgets.escape_markdown(widgets.run_label(by_path[path]))
            st.warning(f"{label} cannot be read: {exc}")
    names = [f"{run.name} ({run.run_id[-4:]})" for run in loaded]

    def epoch_series(metric: str) -> list[tuple[str, list, list]]:
        """One curve per run: validation values, or training ones for runs without validation."""
        series = []
        for name, run in zip(names, loaded):
            epochs = run.epochs
            split = "val" if any(_present(getattr(e, f"val_{metric}")) for e in epochs) else "train"
            values = [getattr(e, f"{split}_{metric}") for e in epochs]
            label = name if split == "val" else f"{name} (train)"
            series.append((label, [e.epoch for e in epochs], values))
        return series

    left, right = st.columns(2)
    # built on every rerun, not shared: keyed by a set of runs, every new run would add three
    left.plotly_chart(
        evaluation_figures.run_curves_figure(
            epoch_series("accuracy"), "epoch", "accuracy", percent=True, whole_x=True
        ),
        config=CHART_CONFIG,
    )
    right.plotly_chart(
        evaluation_figures.run_curves_figure(epoch_series("loss"), "epoch", "loss", whole_x=True),
        config=CHART_CONFIG,
    )
    steps = [
        (name, [s.step for s in run.steps], [s.loss for s in run.steps])
        for name, run in zip(names, loaded)
    ]
    st.plotly_chart(
        evaluation_figures.run_curves_figure(steps, "step", "training loss (smoothed)", smooth=0.9),
        config=CHART_CONFIG,
    )
    st.dataframe(
        [
            {
                "run": name,
                "test accuracy": widgets.percent_or_dash(run.summary.get("test_accuracy")),
                "test loss": widgets.number_or_dash(run.summary.get("test_loss"), "{:.4f}"),
                "digits": "all" if len(run.classes) == 10 else " ".join(map(str, run.classes)),
                "layers": network_text(run.spec),
                "optimizer": run.config.optimizer,
                "lr": run.config.lr,
                "batch": run.config.batch_size,
                "epochs": run.config.epochs,
                "schedule": run.config.schedule,
                "augment": "yes" if run.config.augment.enabled else "no",
                "parameters": widgets.number_or_dash(run.summary.get("parameters")),
                "seconds": widgets.number_or_dash(run.summary.get("seconds"), "{:.1f}"),
                "device": str(run.summary.get("device", widgets.MISSING)),
            }
            for name, run in zip(names, loaded)
        ],
        hide_index=True,
    )


def _present(value) -> bool:
    # runs without a validation set store NaN
    return isinstance(value, (int, float)) and value == value


def run_sections(summary: dict, runs: list[dict]) -> None:
    """The chosen run's scores, mistakes and comparison, each drawn on its own, then the Import tab."""
    result = None
    with guard.section("this run's scores"):
        try:
            result = state.cached_evaluation(summary["path"])
        except InvalidRun as exc:
            st.error(f"This run cannot be loaded: {exc}")
        except OSError as exc:  # its message would name the server's folders
            st.error(f"This run cannot be read: {exc.strerror or type(exc).__name__}")
        except DataUnavailable as exc:
            st.error(f"MNIST is not available, so the run cannot be tested: {exc}")
        if result is not None:
            headline(summary, result.evaluation)
    scores, mistakes, mine, compare, races, cost, transfer = st.tabs(
        ["Scores", "Mistakes", "My digits", "Compare runs", "Races", "Accuracy vs cost", "Import"]
    )
    if result is None:
        for tab in (scores, mistakes):
            tab.caption("Nothing to show for this run: it could not be scored (see above).")
    else:
        with scores, guard.section("the scores"):
            scores_tab(
                run_version(summary["path"]),
                result.evaluation,
                state.dataset_of(summary),
                result.test_images,
            )
        with mistakes, guard.section("the mistakes"):
            mistakes_tab(
                summary.get("run_id", ""),
                result.evaluation,
                result.test_images,
                state.dataset_of(summary),
            )
    with mine, guard.section("the scores on my digits"):
        try:
            run = state.cached_run(summary["path"])
        except (InvalidRun, OSError) as exc:
            st.caption(f"This run cannot be loaded: {exc}")
        else:
            mnist_accuracy = result.evaluation.accuracy if result is not None else None
            mydigits_views.evaluate_tab(run, mnist_accuracy)
    with compare, guard.section("the comparison"):
        compare_tab(runs, summary)
    with races, guard.section("the races"):
        race_panel.races_tab(runs)
    with cost, guard.section("accuracy against cost"):
        race_panel.cost_tab(runs)
    with transfer:
        with guard.section("the import"):
            run_import.import_section()
        with guard.section("the list of damaged runs"):
            run_import.damaged_runs_notice()


st.title("Evaluate")
runs = state.runs_of_current_dataset()
if not runs:
    run_import.damaged_runs_notice()
    st.info(
        "No saved runs yet. Train one on the **Train** page (seed-mlp-128 takes under a minute), "
        "or let the **Draw** page train a drawing model in one click. "
        "You can also import a run file below."
        if state.current_dataset().name == "mnist"
        else f"No runs on {state.current_dataset().title} yet: train one on the **Train** page "
        "(small-cnn suits it). The Data page switches back to MNIST and its runs."
    )
    with guard.section("the import"):
        run_import.import_section()
    st.stop()

top_left, top_right = st.columns([4, 5], vertical_alignment="bottom")
with top_left:
    summary = widgets.run_picker("eval-run", label="Run", runs=runs)
with top_right:
    export_buttons.export_buttons(summary)
run_sections(summary, runs)
guide.next_step(EVALUATE_PAGE)
