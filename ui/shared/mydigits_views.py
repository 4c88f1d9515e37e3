"""My digits in the pages: save a drawing (Draw), browse a set (Data), score and fine-tune (Evaluate).

The sets themselves live in core.data.mydigits; this module only draws them. A page choosing a set
shares the choice through one session key, so the set saved to on the Draw page is the one the
Data and Evaluate pages open on.
"""

from __future__ import annotations

import streamlit as st

from core.data import mydigits
from core.data.mydigits import DEFAULT_SET, InvalidDigits, RefusedFile
from core.train.finetune import FINE_TUNE_STEPS, fine_tune, score_set
from ui.charts import evaluation_figures
from ui.charts.figures import CHART_CONFIG
from ui.shared import state, widgets
from ui.shared.words import with_article

SET_KEY = "my-digits-set"  # the set this session works with, on every page
FLASH_KEY = "my-digits-flash"  # a message to show after the rerun that follows a change
TUNED_KEY = "my-digits-tuned"
GRID_COLUMNS = 10
GALLERY_SIZE = 24
EXPORT_SUFFIX = ".digits.zip"


def set_names() -> list[str]:
    """Return the names of every set of my digits, oldest name order (as listed)."""
    return [digit_set.name for digit_set in mydigits.list_sets(state.data_dir())]


def chosen_set_name(existing: bool = True) -> str:
    """Return this session's set: the last one chosen (or typed, unless existing), else the first."""
    names = set_names()
    chosen = st.session_state.get(SET_KEY)
    if chosen in names or (chosen and not existing):
        return chosen
    return names[0] if names else DEFAULT_SET


def set_picker(key: str, label: str = "Set of my digits", allow_new: bool = False) -> str | None:
    """Show a select box of the sets (with a new name allowed if allow_new); return the choice."""
    names = set_names()
    current = chosen_set_name(existing=not allow_new)
    options = names if current in names else [current, *names]
    choice = st.selectbox(
        label,
        options,
        index=options.index(current),
        key=key,
        accept_new_options=allow_new,
        help="Type a new name to start a new set." if allow_new else None,
    )
    if choice:
        st.session_state[SET_KEY] = choice
    return choice


def flash(message: str) -> None:
    """Keep a message for the next run of the page (the change reruns it)."""
    st.session_state[FLASH_KEY] = message


def show_flash() -> None:
    """Show, once, the message a change left for this run."""
    if message := st.session_state.pop(FLASH_KEY, None):
        st.toast(message, icon=":material/check_circle:")


# --- Draw page -----------------------------------------------------------------------------


def save_drawing_row(digit, canvas, predicted: int, on_saved) -> None:
    """Offer to save the drawing under its true label: one click on the digit it really is."""
    with st.container(border=True):
        top, pick = st.columns([3, 2], vertical_alignment="bottom")
        top.markdown("**Save to my digits** — click the digit this really is")
        with pick:
            name = set_picker("draw-save-set", label="Set", allow_new=True)
        with st.container(key="draw-save-digits"):  # two rows of five on a phone (widgets.py)
            buttons = st.columns(10)
        for label, cell in enumerate(buttons):
            if cell.button(
                str(label),
                key=f"draw-save-{label}",
                type="primary" if label == predicted else "secondary",
                width="stretch",
                help=_save_help(label, predicted),
            ):
                _save(name, label, digit, canvas, on_saved)


def _save_help(label: int, predicted: int) -> str:
    return "Save as the model's answer" if label == predicted else f"It was {with_article(label)}"


def _save(name: str | None, label: int, digit, canvas, on_saved) -> None:
    try:
        mydigits.save_digit(name or DEFAULT_SET, label, digit, canvas, state.data_dir())
        count = len(mydigits.load_set(name or DEFAULT_SET, state.data_dir()))
    except (InvalidDigits, OSError) as exc:
        st.error(f"The drawing was not saved: {exc}")
        return
    flash(
        f"Saved as {with_article(label)} in “{name or DEFAULT_SET}” "
        f"({count} {'digit' if count == 1 else 'digits'}). Draw the next one!"
    )
    on_saved()
    st.rerun()


# --- Data page -----------------------------------------------------------------------------


def data_section() -> None:
    """Show the sets of my digits: counts, a grid per label, delete, rename, export, import."""
    show_flash()
    st.header("My digits")
    sets = {digit_set.name: digit_set for digit_set in mydigits.list_sets(state.data_dir())}
    if not sets:
        st.info(
            "No digits of your own yet. On the **Draw** page, draw a digit and click the digit "
            "it really is to save it here — or import a set below."
        )
        import_box()
        return
    with st.columns([2, 3])[0]:
        name = set_picker("data-set")
    digit_set = sets[name]
    counts = digit_set.counts()
    st.caption(
        f"{len(digit_set)} {'digit' if len(digit_set) == 1 else 'digits'} · "
        + " · ".join(f"{label}: {count}" for label, count in counts.items())
    )
    browse, manage = st.tabs(["Digits", "Manage the set"])
    with browse:
        _browse(digit_set)
    with manage:
        _manage(digit_set)


def _browse(digit_set) -> None:
    labels = [label for label, count in digit_set.counts().items() if count]
    if not labels:
        st.info("This set is empty: save drawings to it from the **Draw** page.")
        return
    label = st.segmented_control(
        "Digit", labels, default=labels[0], key=f"data-my-label-{digit_set.name}"
    )
    label = labels[0] if label is None else label
    digits = [d for d in digit_set.digits if d.label == label]
    images = [digit_set.image(d.id) for d in digits]
    widgets.show_digit_grid(
        images,
        [f"#{int(d.id[1:6])}" for d in digits],
        columns=GRID_COLUMNS,
        what=f"of your {label}s, numbered",
    )
    pick, action = st.columns([3, 1], vertical_alignment="bottom")
    chosen = pick.selectbox(
        "Digit to delete",
        [d.id for d in digits],
        format_func=lambda digit_id: f"#{int(digit_id[1:6])} ({with_article(label)})",
        key=f"data-my-delete-{digit_set.name}-{label}",
    )
    if action.button("Delete", icon=":material/delete:", key="data-my-delete", width="stretch"):
        try:
            mydigits.delete_digit(digit_set.name, chosen, state.data_dir())
        except (InvalidDigits, OSError) as exc:
            st.error(f"Not deleted: {exc}")
            return
        flash(f"Deleted digit #{int(chosen[1:6])} from “{digit_set.name}”.")
        st.rerun()


def _manage(digit_set) -> None:
    rename, export = st.columns(2, gap="large")
    with rename:
        new_name = st.text_input("New name", value=digit_set.name, key="data-my-rename")
        if st.button("Rename", key="data-my-rename-button"):
            try:
                renamed = mydigits.rename_set(digit_set.name, new_name, state.data_dir())
            except (InvalidDigits, OSError) as exc:
                st.error(f"Not renamed: {exc}")
            else:
                st.session_state[SET_KEY] = renamed.name
                flash(f"Renamed to “{renamed.name}”.")
                st.rerun()
        if st.button("Delete the whole set", icon=":material/delete_forever:", key="data-my-drop"):
            st.session_state["data-my-confirm"] = digit_set.name
        if st.session_state.get("data-my-confirm") == digit_set.name:
            st.warning(f"Delete all {len(digit_set)} digits of “{digit_set.name}”?")
            if st.button("Yes, delete it", type="primary", key="data-my-drop-yes"):
                mydigits.delete_set(digit_set.name, state.data_dir())
                st.session_state.pop("data-my-confirm", None)
                st.session_state.pop(SET_KEY, None)
                flash(f"Deleted “{digit_set.name}”.")
                st.rerun()
    with export:
        st.download_button(
            "Export the set",
            data=lambda: mydigits.export_set_bytes(digit_set.name, state.data_dir()),
            file_name=f"{digit_set.name}{EXPORT_SUFFIX}",
            mime="application/zip",
            icon=":material/download:",
            key="data-my-export",
            help="One zip: the index and each digit's images as PNG. Import it on another Digit Lab.",
        )
        import_box()


def import_box() -> None:
    """Offer to import an exported set; say plainly why a file is refused."""
    upload = st.file_uploader(
        "Import a set",
        type=["zip"],
        key="data-my-import",
        help=f"A set exported by Digit Lab (…{EXPORT_SUFFIX}), up to "
        f"{mydigits.MAX_EXPORT_BYTES // mydigits.MiB} MiB.",
    )
    if upload is None:
        return
    name = st.text_input("Store it as", value=upload.name.removesuffix(EXPORT_SUFFIX)[:40])
    if st.button("Import", key="data-my-import-button", icon=":material/upload:"):
        try:
            imported = mydigits.import_set(upload, name, state.data_dir())
        except RefusedFile as exc:
            st.error(f"This file was not imported: {exc}")
        except (InvalidDigits, OSError) as exc:
            st.error(f"Not imported: {exc}")
        else:
            st.session_state[SET_KEY] = imported.name
            flash(f"Imported {len(imported)} digits as “{imported.name}”.")
            st.rerun()


# --- Evaluate page -------------------------------------------------------------------------


def evaluate_tab(run, mnist_accuracy: float | None) -> None:
    """Score the run on a set of my digits beside its MNIST score; offer a fine-tune."""
    show_flash()
    if state.dataset_of(run).name != "mnist":
        st.info(
            f"Your own digits are digits: this run was trained on {state.dataset_of(run).title}."
        )
        return
    if not set_names():
        st.info(
            "No digits of your own yet: save some from the **Draw** page (draw, then click "
            "the digit it really is), then score any run on them here."
        )
        return
    name = set_picker("eval-my-set")
    try:
        digit_set = mydigits.load_set(name, state.data_dir())
        score = score_set(run, digit_set)
    except InvalidDigits as exc:
        st.warning(str(exc))
        return
    evaluation = score.evaluation
    cols = st.columns(4)
    cols[0].metric("On my digits", f"{evaluation.accuracy:.1%}")
    cols[1].metric("On MNIST's test set", widgets.percent_or_dash(mnist_accuracy))
    cols[2].metric("Digits scored", f"{len(score.images):,}")
    cols[3].metric("Mistakes", f"{int(evaluation.confusion.sum() - evaluation.confusion.trace())}")
    if score.skipped:
        st.caption(
            f"{score.skipped} digits are left out: this run does not tell their labels apart."
        )
    left, right = st.columns([2, 3])
    left.plotly_chart(
        evaluation_figures.per_class_accuracy_figure(
            evaluation.per_class_accuracy,
            evaluation.classes,
            evaluation.accuracy,
            counts=evaluation.class_counts(),  # a digit not in the set: no bar
        ),
        config=CHART_CONFIG,
        key="eval-my-per-class",
    )
    right.plotly_chart(
        evaluation_figures.confusion_matrix_figure(
            evaluation.confusion, evaluation.classes, normalized=False
        ),
        config=CHART_CONFIG,
        key="eval-my-confusion",
    )
    _my_mistakes(score)
    fine_tune_box(run, digit_set)


def _my_mistakes(score) -> None:
    evaluation = score.evaluation
    wrong = (evaluation.predictions != evaluation.labels).nonzero().flatten().tolist()
    if not wrong:
        st.success("Every one of these digits is read right.")
        return
    st.markdown("**The ones it got wrong**")
    shown = wrong[:GALLERY_SIZE]
    captions = []
    for row in shown:
        true = evaluation.classes[int(evaluation.labels[row])]
        top = widgets.top_probabilities(evaluation.probabilities[row], evaluation.classes, 2)
        captions.append(f"{with_article(true)}: **{top[0][0]}** {top[0][1]:.0%}")
    widgets.digit_gallery(score.images[shown], captions, columns=8, size=84)


def fine_tune_box(run, digit_set) -> None:
    """Fine-tune the run on the set in seconds, and show both accuracies before and after."""
    with st.container(border=True):
        st.markdown("**Fine-tune on my digits**")
        st.caption(
            f"{FINE_TUNE_STEPS} steps starting from this run, each batch a quarter your digits "
            "(slightly varied every time) and three quarters MNIST, so it learns your hand "
            "without forgetting MNIST. Saved as a new run; this one stays as it is."
        )
        if st.button("Fine-tune", icon=":material/tune:", key="eval-my-tune", type="primary"):
            with st.spinner("Fine-tuning…"):
                try:
                    result = fine_tune(run, digit_set, state.mnist(), state.runs_dir())
                except (InvalidDigits, ValueError, RuntimeError, OSError) as exc:
                    st.error(f"The fine-tune did not run: {exc}")
                    return
            st.session_state[TUNED_KEY] = result
            state.set_active_run(result.run_dir)
            st.rerun()
        result = st.session_state.get(TUNED_KEY)
        if result is not None and str(result.run_dir) == str(run.path):
            st.success(
                f"Fine-tuned in {result.seconds:.1f} s on {result.digits} of your digits; "
                "the new run is now the active model."
            )
            st.dataframe(
                {
                    "": ["MNIST test set", "my digits (tuned on)"],
                    "before": [f"{result.mnist_before:.2%}", f"{result.mine_before:.1%}"],
                    "after": [f"{result.mnist_after:.2%}", f"{result.mine_after:.1%}"],
                },
                hide_index=True,
            )
            st.caption(
                "The my-digits score after tuning is on the digits it learnt from: save a few "
                "new ones to a second set to see how it reads digits it never saw."
            )
