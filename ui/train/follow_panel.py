"""Follow the training with a drawn digit: its probabilities from the weights of the moment.

The Draw page keeps the digit last drawn in session state (fragments rerun alone, so they read
it from there); the panel scores it with each new ModelSnapshot of the followed job through the
session's core.draw.follow.DigitFollower, and draws the bars and every class's probability over the
training steps. The Train page shows the same panel beside its curves, for the digit last drawn
on the Draw page. When the job ends, the saved run's network scores the last point and the
history stays until another digit or another training comes.
"""

from __future__ import annotations

import streamlit as st

from core.data.datasets import DEFAULT_DATASET, get_dataset
from core.draw.follow import DigitFollower, digit_key
from core.events import ModelSnapshot
from core.runs.store import InvalidRun
from core.spec.models import parameter_count
from core.train.follow import MAX_PARAMETERS, followable
from core.train.job import Job
from ui.charts import evaluation_figures, palette
from ui.charts.figures import CHART_CONFIG
from ui.charts.live_chart import Trace, live_lines
from ui.shared import session, state, talk, widgets
from ui.shared.pages import DRAW_PAGE

DIGIT_KEY = "_follow_digit"  # the digit last drawn on the Draw page: (1, 28, 28) or None
FOLLOWER_KEY = "_follow_follower"
FOLLOWED_KEY = "_follow_job"
PINNED_KEY = "_follow_pinned"  # a job picked by hand: followed even after it ends
TICK_SECONDS = 0.5  # the trainer sends its weights every 0.5 s: each tick can show a new one
# the digits' colours (palette.DIGITS), with a dark gold for yellow: a thin yellow line on
# white vanishes on a projector
LINE_COLORS = ["#B8860B" if c == palette.YELLOW else c for c in palette.DIGITS]
ENDED = {"finished": "finished", "stopped": "was stopped", "failed": "failed"}


def remember_digit(digit) -> None:
    """Keep the digit the Draw page has just read (None for an empty canvas) for the panels."""
    st.session_state[DIGIT_KEY] = digit


def drawn_digit():
    """Return the digit last drawn on the Draw page, or None."""
    return st.session_state.get(DIGIT_KEY)


def _follower() -> DigitFollower:
    if FOLLOWER_KEY not in st.session_state:
        st.session_state[FOLLOWER_KEY] = DigitFollower()
    return st.session_state[FOLLOWER_KEY]


def _shows_history(job: Job) -> bool:
    """Return whether the panel still shows an ended job's history: until another digit comes."""
    follower = st.session_state.get(FOLLOWER_KEY)
    if follower is None or follower.run_id != job.run_id or not len(follower.history):
        return False
    digit = drawn_digit()
    return digit is None or digit_key(digit) == follower.digit


def followable_jobs() -> list[Job]:
    """Return the trainings this tab can follow: its own running ones and the one its URL
    names; and the one it followed last, once ended, while its history is of the digit drawn."""
    registry = state.registry()
    jobs = [j for j in session.session_jobs() if j.state != "queued" and _drawable(j)]
    for run_id in (session.wanted_run_id(), st.session_state.get(FOLLOWED_KEY)):
        job = registry.get(run_id) if run_id else None
        if job is None or job in jobs or job.state == "queued" or not _drawable(job):
            continue
        if job.active or (run_id == st.session_state.get(FOLLOWED_KEY) and _shows_history(job)):
            jobs.append(job)
    return jobs


def _drawable(job: Job) -> bool:
    # a network of photos of clothes (Fashion-MNIST) has nothing to say about a drawn digit
    return get_dataset(getattr(job.config, "dataset", DEFAULT_DATASET)).drawable


def chosen_job(jobs: list[Job]) -> Job | None:
    """Return the job to follow: one picked by hand, else the one followed so far while it
    trains, else the newest training, else the one followed so far (it has ended: the panel
    says so and keeps its history)."""
    by_id = {job.run_id: job for job in jobs}
    if (pinned := by_id.get(st.session_state.get(PINNED_KEY))) is not None:
        return pinned
    followed = by_id.get(st.session_state.get(FOLLOWED_KEY))
    if followed is not None and followed.active:
        return followed
    running = [j for j in jobs if j.active]
    return max(running, key=lambda j: j.created) if running else followed


def _pick(key: str) -> None:
    st.session_state[FOLLOWED_KEY] = st.session_state[PINNED_KEY] = st.session_state[key]


def history_chart(key: str, steps, probabilities, classes, height: int, legend: bool) -> None:
    """Draw a line per class of its probability over the training steps, the leading one bold.

    A ui.charts.live_chart chart: each tick sends the browser only the new points (a whole figure
    through st.plotly_chart measured ~50 ms a tick to build for 10 lines of 400 points).
    """
    top = int(probabilities[-1].argmax())
    traces = [
        Trace(
            str(digit),
            steps,
            probabilities[:, index],
            color=LINE_COLORS[int(digit) % 10],
            width=4.5 if index == top else 1.5,
            dash=None if index == top else palette.SERIES_DASHES[index % 6],
            mode="lines+markers" if len(steps) == 1 else "lines",
            hovertemplate=f"digit {digit}, step %{{x:,}}: %{{y:.1%}}<extra></extra>",
        )
        for index, digit in enumerate(classes)
    ]
    layout = dict(
        font=dict(size=round(13 * talk.font_scale())),
        margin=dict(l=50, r=16, t=30, b=40),
        showlegend=legend,
        xaxis=dict(title=dict(text="training step"), tickformat=",", rangemode="tozero"),
        yaxis=dict(title=dict(text="probability"), range=[0, 1.05], tickformat=".0%"),
        legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0, title=dict(text="digit ")),
    )
    live_lines(key, traces, layout, height=height)


def _bars(probabilities, classes, height: int, key: str) -> None:
    fig = evaluation_figures.probability_figure(probabilities, classes, height=height)
    fig.update_xaxes(dtick=1)  # every digit named, in a narrow column too
    st.plotly_chart(fig, key=key, config=CHART_CONFIG)


def _status(job: Job, follower: DigitFollower, compact: bool) -> str:
    name = widgets.escape_markdown(job.name)
    progress = job.progress()
    if job.active:
        step = follower.step if follower.step is not None else progress["step"]
        if compact:  # beside the job's own progress bar
            return f"**Your digit**, scored with the weights of step {step:,}"
        total = progress["total_steps"]
        of = f" of {total:,}" if total else ""
        paused = " · paused" if job.state == "paused" else ""
        return f"Following **{name}** · weights of step {step:,}{of}{paused}"
    ended = ENDED.get(job.state, job.state)
    step = follower.finished_step if follower.finished_step is not None else progress["step"]
    return f"Training of **{name}** {ended} at step {step:,} — history kept"


def _finish(job: Job, follower: DigitFollower) -> None:
    """Once the job has ended, hand its saved network to the follower (for the last point)."""
    if job.active or job.run_dir is None:
        return
    try:
        run = state.cached_run(job.run_dir)
    except (InvalidRun, OSError):
        return  # the history stays as it is
    follower.finish(int(run.summary.get("steps") or job.progress()["step"]), run.model)


def follow_hint(job: Job) -> bool:
    """Draw the Train page's hint when there is no digit to follow yet; return whether it did.

    Drawn when the page runs, outside its polled part: redrawing the same words and link twice
    a second cost the browser more than the curves (a digit is drawn on the Draw page, which
    reruns the Train page when the visitor comes back).
    """
    if drawn_digit() is not None or not followable(job.spec):
        return False
    follower = _follower()
    follower.follow(job.run_id, job.spec, job.config)
    if len(follower.history):
        return False
    hint, link = st.columns([3, 1], vertical_alignment="center")
    hint.caption("Draw a digit on the **Draw** page to watch this network learn it here.")
    with link:
        st.page_link(DRAW_PAGE, label="Draw", icon=":material/draw:")
    return True


def follow_view(job: Job, key: str, compact: bool = False) -> None:
    """Score the drawn digit with the job's newest weights; draw the bars and the history."""
    classes = list(job.config.classes)
    if not followable(job.spec):
        st.caption(
            f"This network has {parameter_count(job.spec):,} parameters: too many to follow "
            f"a drawing live (at most {MAX_PARAMETERS:,})."
        )
        return
    st.session_state[FOLLOWED_KEY] = job.run_id
    follower = _follower()
    follower.follow(job.run_id, job.spec, job.config)
    _finish(job, follower)
    digit = drawn_digit()
    follower.update(job.snapshot(ModelSnapshot), digit)
    st.markdown(_status(job, follower, compact))
    if follower.latest is None or not len(follower.history):
        if digit is None:
            st.caption(
                "Draw a digit: it is scored with the network's weights of the moment, twice a "
                "second, so you can watch it go from guessing to knowing."
            )
        else:
            st.caption("Waiting for the network's first weights…")
        return
    steps, probabilities = follower.history.as_arrays()
    if compact:
        seen, bars, lines = st.columns([1, 3, 4])
        with seen:
            if digit is not None:  # the Train page has no canvas: show what is scored
                st.image(widgets.upscale_digit(digit, 56), width=56, caption="your digit")
        with bars:
            _bars(follower.latest, classes, 220, f"{key}-bars")
        with lines:  # too narrow for a legend: the bold line is the leading digit
            history_chart(f"{key}-history", steps, probabilities, classes, 220, legend=False)
        return
    answer, bars = st.columns([2, 3], vertical_alignment="center")
    with answer:
        st.markdown(widgets.prediction_html(follower.latest, classes), unsafe_allow_html=True)
    with bars:
        _bars(follower.latest, classes, 220, f"{key}-bars")
    history_chart(f"{key}-history", steps, probabilities, classes, 260, legend=True)
    if digit is None:
        st.caption("The canvas is empty: this is the history of your last digit.")


def _follow_chosen(key: str) -> None:
    jobs = followable_jobs()
    job = chosen_job(jobs)
    if job is None:
        st.caption("No training to follow any more.")
        return
    if len(jobs) > 1:
        st.session_state[f"{key}-job"] = job.run_id
        st.selectbox(
            "Follow",
            [j.run_id for j in jobs],
            format_func=lambda run_id: next(
                f"{j.name} · {j.state}" for j in jobs if j.run_id == run_id
            ),
            key=f"{key}-job",
            on_change=_pick,
            args=(f"{key}-job",),
        )
    follow_view(job, key)


def follow_live(key: str, live: bool) -> None:
    """Draw the Draw page's panel, redrawn every TICK_SECONDS while live (a job trains)."""
    st.fragment(_follow_chosen, run_every=TICK_SECONDS if live else None)(key)
