"""Draw: a digit drawn with the mouse, the model's guess as you draw, and what the model saw."""

from __future__ import annotations

import streamlit as st
from streamlit_drawable_canvas import st_canvas

from core.data.mnist import DataUnavailable
from core.draw.preprocess import Reading, read_drawing
from core.draw.quicktrain import QUICK_EPOCHS, QUICK_NAME, find_quick_run, quick_spec_config
from core.runs.ready import ready_run_id
from core.runs.store import InvalidRun
from core.train import timebudget
from ui.shared import guard, guide, inside_views, mydigits_views, session, state, talk, widgets
from ui.shared.pages import DRAW_PAGE
from ui.train import follow_panel

CANVAS_SIZE = 280
TALK_CANVAS_SIZE = 440  # on a projector (issue 24: at least 420 px)
STROKE_WIDTH = 20  # at CANVAS_SIZE; the brush grows with the canvas, so a digit looks the same
# white ink on black; the reader is told the background, so ink over the border is still ink
CANVAS_BACKGROUND = (0, 0, 0)
INK_COLOUR = "#FFFFFF"
# why a drawing holds no digit, in the words the page uses (core.draw.preprocess.Reading.problem)
NO_DIGIT = {
    "speck": "That is a dot, not a digit yet: draw the whole digit.",
    "covered": (
        "The square is {share:.0%} ink: there is no digit shape left to read. "
        "Press **Clear** and draw one digit, with black around it."
    ),
}
QUICK_JOB_KEY = "draw-quick-job"
CANVAS_VERSION_KEY = "draw-canvas-version"
# the canvas's strokes (its fabric.js JSON), kept when the page is left: Streamlit forgets the
# state of a widget that a run does not draw, and the canvas came back empty from another page
DRAWING_KEY = "draw-strokes"
RESTORE_KEY = "draw-restore"  # what the canvas starts with on this visit of the page
# the canvas's pixels as last sent: a restored canvas shows its strokes but sends nothing
# until the next stroke, so the page reads these meanwhile
IMAGE_KEY = "draw-image"
QUICK_ERROR_KEY = "draw-quick-error"  # why the last quick-train click was refused


def quick_job():
    """Return this session's quick-train job, if it started one (other sessions' stay private)."""
    registry = state.registry()
    job = registry.get(st.session_state.get(QUICK_JOB_KEY) or "")
    if job is None:
        me = session.session_id()
        job = next(
            (j for j in registry.jobs() if j.name == QUICK_NAME and j.active and j.owner == me),
            None,
        )
    return job


def start_quick_train() -> None:
    """Queue the quick-train (button callback), unless one is already on its way."""
    if (job := quick_job()) is not None and job.active:
        return
    spec, config = quick_spec_config()
    try:
        job = state.registry().submit(
            spec,
            config,
            name=QUICK_NAME,
            data_dir=str(state.data_dir()),
            runs_dir=str(state.runs_dir()),
            # owned: the sidebar touches it while this tab is open, and it stops when the tab
            # closes
            owner=session.session_id(),
        )
    except ValueError as exc:  # refused (the time limit, the memory budget): said by the button
        st.session_state[QUICK_ERROR_KEY] = str(exc)
        return
    st.session_state.pop(QUICK_ERROR_KEY, None)
    st.session_state[QUICK_JOB_KEY] = job.run_id


def settle_quick_job() -> None:
    """Once this session's quick-train has ended, make its run active or say what went wrong."""
    job = state.registry().get(st.session_state.get(QUICK_JOB_KEY) or "")
    if job is None or job.active:
        return
    st.session_state.pop(QUICK_JOB_KEY)
    if job.state == "finished" and job.run_dir is not None:
        state.set_active_run(job.run_dir)
        st.toast("Your drawing model is ready: draw a digit!", icon=":material/check_circle:")
    elif job.state == "failed":
        st.error(f"The quick training failed: {job.error}")
    else:
        st.warning("The quick training was stopped before it finished.")


@st.fragment(run_every=0.5)
def quick_train_progress() -> None:
    """Show the quick-train's progress; when it ends, rerun the whole page to use the model."""
    job = quick_job()
    if job is None or not job.active:
        st.rerun()
    progress = job.progress()
    if job.state == "queued":
        position = state.registry().queue_position(job)
        st.info(f"Waiting for another training to finish (place {position} in the queue)…")
        return
    if not progress["total_steps"]:
        st.progress(0.0, text="Training a drawing model: getting the digits ready…")
        return
    eta = progress["eta_seconds"]
    text = f"Training a drawing model: step {progress['step']:,} of {progress['total_steps']:,}"
    if eta is not None:
        text += f", about {eta:.0f} s left"
    st.progress(min(progress["fraction"], 1.0), text=text)


def quick_train_duration() -> str:
    """Return about how long the quick-train takes here, from the time estimate of this machine."""
    spec, config = quick_spec_config()
    return timebudget.duration_text(timebudget.estimate_seconds(spec, config, state.runs_dir()))


def quick_train_offer(primary: bool) -> None:
    """Offer the one-click drawing model, or show its progress while it trains."""
    job = quick_job()
    if job is not None and job.active:
        quick_train_progress()
        return
    what = "model now" if primary else "drawing model"
    st.button(
        f"Train a {what} (~{quick_train_duration()})",
        on_click=start_quick_train,
        type="primary" if primary else "secondary",
        key="draw-quick-train",
        icon=":material/bolt:",
        help=f"The speedrun's small CNN trained for {QUICK_EPOCHS} epochs on all 60,000 digits "
        "with light augmentation (shifts, rotations, stroke thickness, bold strokes, serifs), "
        "so that drawn digits are recognised.",
    )
    if problem := st.session_state.get(QUICK_ERROR_KEY):
        st.error(f"Cannot train a drawing model: {problem}", icon=":material/error:")


def clear_canvas() -> None:
    # a new key gives a fresh, empty canvas
    st.session_state[CANVAS_VERSION_KEY] = st.session_state.get(CANVAS_VERSION_KEY, 0) + 1
    st.session_state[DRAWING_KEY] = st.session_state[IMAGE_KEY] = None


st.title("Draw")
st.html(widgets.PREDICTION_CSS)
mydigits_views.show_flash()
if not state.current_dataset().drawable:
    # sketches of clothes are far from Fashion-MNIST's photos: a guess would mislead a room
    st.info(
        f"Drawing is for digits. {state.current_dataset().title} holds photos of clothes and "
        "shoes, which a mouse sketch does not resemble: switch the dataset to MNIST on the "
        "**Data** page to draw.",
        icon=":material/draw:",
    )
    st.stop()
settle_quick_job()
runs = state.runs_of_current_dataset()
# a training of this tab's: the canvas is scored with its weights of the moment
follow_jobs = follow_panel.followable_jobs()
if not runs and not follow_jobs:
    st.info(
        "No trained model yet. Train one here in one click — it takes about "
        f"{quick_train_duration()} — or train your own on the **Train** page."
    )
    quick_train_offer(primary=True)
    st.stop()

run = None
if runs:
    picker, offer = st.columns([3, 2], vertical_alignment="bottom")
    with picker:
        summary = widgets.run_picker("draw-run", label="Model")
    with offer:
        # the ready model (core/runs/ready.py) is a drawing model already: no need for another
        has_ready = any(r.get("run_id") == ready_run_id() for r in runs)
        if (find_quick_run(state.runs_dir()) is None and not has_ready) or quick_job() is not None:
            quick_train_offer(primary=False)
    try:
        run = state.cached_run(summary["path"])
    except (InvalidRun, OSError) as exc:
        st.error(f"This run cannot be loaded: {exc}")
        st.stop()
    except DataUnavailable as exc:  # pragma: no cover - loading a run does not read MNIST
        st.error(str(exc))
        st.stop()
else:
    st.info(
        "No saved model yet: draw a digit and watch the network that is training now learn it.",
        icon=":material/school:",
    )
    if quick_job() is not None:
        quick_train_offer(primary=False)

canvas_column, answer_column = st.columns([5, 7], gap="large")
with canvas_column:
    # the canvas's toolbar (undo, redo, clear) floats above it on hover: leave it room
    st.caption("Draw one digit")
    size = TALK_CANVAS_SIZE if talk.active() else CANVAS_SIZE
    # the size in the key: a canvas of another size is a new one (a drawing is restored into it)
    canvas_key = f"draw-canvas-{st.session_state.get(CANVAS_VERSION_KEY, 0)}-{size}"
    if canvas_key not in st.session_state:  # a fresh canvas: back from another page, or cleared
        st.session_state[RESTORE_KEY] = st.session_state.get(DRAWING_KEY)
    canvas = st_canvas(
        fill_color="#000000",
        stroke_width=round(STROKE_WIDTH * size / CANVAS_SIZE),
        stroke_color=INK_COLOUR,
        background_color="#{:02x}{:02x}{:02x}".format(*CANVAS_BACKGROUND),
        update_streamlit=True,
        height=size,
        width=size,
        drawing_mode="freedraw",
        return_image_data=True,
        initial_drawing=st.session_state.get(RESTORE_KEY),
        key=canvas_key,
    )
    if canvas.json_data is not None:  # the canvas has sent its state (after a stroke)
        st.session_state[DRAWING_KEY] = canvas.json_data
        if not canvas.json_data.get("objects"):
            st.session_state[IMAGE_KEY] = None
        elif canvas.image_data is not None:
            st.session_state[IMAGE_KEY] = canvas.image_data
    st.button("Clear", on_click=clear_canvas, icon=":material/delete:", key="draw-clear")

drawing = st.session_state.get(IMAGE_KEY)
reading = (
    read_drawing(drawing, CANVAS_BACKGROUND) if drawing is not None else Reading(None, "empty")
)
digit = reading.digit
follow_panel.remember_digit(digit)  # the follow panels rerun alone: they read it from there
if run is not None:  # an ended job's history stays until a new digit: then the run answers
    follow_jobs = follow_panel.followable_jobs()

probabilities = None
with answer_column, guard.section("the prediction"):
    following = bool(follow_jobs) and (
        run is None
        or st.toggle(
            "Follow the training: your digit, scored as the network learns",
            value=True,
            key="draw-follow",
            help="Twice a second, with the weights of the moment; the chart keeps every "
            "digit's probability over the training steps. Off: the saved model above answers.",
        )
    )
    if digit is None and reading.problem in NO_DIGIT:
        st.warning(
            NO_DIGIT[reading.problem].format(share=reading.ink_fraction), icon=":material/draw:"
        )
    if following:
        follow_panel.follow_live("draw-follow", live=any(job.active for job in follow_jobs))
    elif digit is None and reading.problem not in NO_DIGIT:
        st.markdown(
            '<div class="dl-hint">Draw one digit on the black square: '
            "the prediction appears as you draw.</div>",
            unsafe_allow_html=True,
        )
        if len(run.classes) < 10:
            st.caption(f"This model tells apart {', '.join(map(str, run.classes))}.")
    elif digit is not None:
        probabilities = run.predict_proba(digit.unsqueeze(0))[0]
        novelty = state.novelty_of(summary["path"])
        not_digit = novelty is not None and bool(novelty.not_digits(run.model, digit[None])[0])
        answer, seen = st.columns([3, 2])
        with answer:
            st.markdown(
                widgets.prediction_html(probabilities, run.classes, not_digit=not_digit),
                unsafe_allow_html=True,
            )
        with seen:
            st.image(
                widgets.upscale_digit(digit, 112),
                width=112,
                alt="Your drawing as the model sees it: 28 by 28 pixels, scaled and centred "
                "like an MNIST digit.",
            )
            st.caption("What the model sees: 28×28, centred like MNIST")
        widgets.probability_bars(probabilities, run.classes, height=230, key="draw-bars")
        mydigits_views.save_drawing_row(
            digit, drawing, run.classes[int(probabilities.argmax())], on_saved=clear_canvas
        )

if probabilities is not None and st.toggle(
    "Inside the network: saliency and every layer's activations for this drawing",
    key="draw-inside",
    help="Recomputed after every stroke.",
):
    with guard.section("the inside view"):
        predicted = int(probabilities.argmax())
        views = inside_views.digit_views(run, digit, predicted)
        inside_views.digit_layers(views, key="draw-inside")
guide.next_step(DRAW_PAGE)
