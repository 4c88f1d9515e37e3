"""Talk mode: large type, high contrast, no sidebar, and a presenter's bar one key away.

The bar holds a chosen sequence of presets, numbered 1, 2, 3... (a click or that key loads the
preset and opens Train), D for Draw and Esc to leave. The mode and its sequence live in the URL
(?talk=seed-3v7~seed-mlp-128~small-cnn), so a presenter can bookmark the talk's start.

A step may carry a lesson in brackets, the `lock=` and `hide=` of a lesson link (core.spec.lesson)
joined by `;`: `?talk=seed-3v7~small-cnn[lock=network~optimizer;hide=schedule]`. Presenting a
step loads its preset and follows its lesson, fixing the preset's values; a step without
brackets drops any lesson, so the audience's page is free again.
"""

from __future__ import annotations

import re
from typing import NamedTuple

import streamlit as st

from core.spec.lesson import Lesson, from_text
from core.spec.presets import PRESETS
from core.spec.quote import quoted
from ui.shared import build_state, lesson
from ui.shared.pages import DRAW_PAGE, TRAIN_PAGE

TALK_PARAM = "talk"
ACTIVE_KEY = "talk_mode"
SEQUENCE_KEY = "talk_sequence"
LESSONS_KEY = "talk_lessons"  # one core.spec.lesson.Lesson per step of the sequence, in order
PICKER_KEY = "talk_sequence_picker"
LOADED_KEY = "_talk_loaded"
LINK_PROBLEMS_KEY = "_talk_link_problems"  # what a talk link asked that could not be used
DEFAULT_SEQUENCE = ("seed-3v7", "seed-mlp-128", "small-cnn")
SEPARATOR = "~"
MAX_STEPS = 9  # keys 1..9
MAX_LISTED_PROBLEMS = 5  # a message stays short, however long the link
FONT_SCALE = 1.4  # charts' text: 13 px becomes 18, what a projector's back row reads (issue 24)

# Streamlit sizes its type in rem: a larger root font scales the whole page. Grey captions and
# thin separators vanish on a projector, so they go black and solid.
TALK_CSS = """
<style>
html { font-size: 21px; }
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"],
[data-testid="stExpandSidebarButton"] { display: none !important; }
[data-testid="stMain"] { color: #000; }
[data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] p { color: #111 !important; }
/* not inside buttons: a primary button's label stays white on the accent */
[data-testid="stMarkdownContainer"] p:not(button *),
[data-testid="stMarkdownContainer"] li:not(button *) { color: #000; }
[data-testid="stMetricValue"] { font-weight: 700; }
hr { border-bottom: 2px solid #000 !important; }
.dl-talk-bar { font-weight: 700; }
/* Streamlit's chart theme sizes tick labels in rem (0.75rem: 15.75 px here, some 11.8 px);
   the back row of a room needs 18 px (issue 24) */
.js-plotly-plot g.xtick text, .js-plotly-plot g.ytick text,
.js-plotly-plot g.x2tick text, .js-plotly-plot g.y2tick text { font-size: 18px !important; }
</style>
"""


class Step(NamedTuple):
    """One step of a talk: a preset, and the lesson that fixes some of its settings (or none)."""

    preset: str
    lesson: Lesson = Lesson()


# a preset's name, then its lesson in brackets; the lesson's own '~' stays inside the brackets
STEP_PATTERN = re.compile(r"([^~\[\]]+)(?:\[([^\]]*)\])?")


def parse_steps(text: str) -> tuple[list[Step], list[str]]:
    """Return the steps of a '~'-separated sequence, and one message per lesson name refused.

    Unknown presets are dropped (named in one message); '1', '' or no known preset at all mean the default sequence.
    """
    default = [Step(name) for name in DEFAULT_SEQUENCE]
    if text in ("", "1", "on", "true"):
        return default, []
    steps, problems, unknown = [], [], []
    for name, lesson_text in STEP_PATTERN.findall(text):
        if name not in PRESETS:
            unknown.append(name)
            continue
        step_lesson, refused = from_text(lesson_text)
        problems += [f"talk step {len(steps) + 1} ({name}): {problem}" for problem in refused]
        steps.append(Step(name, step_lesson))
    if unknown:  # named in one line, however many: a link can carry thousands
        named = ", ".join(quoted(name) for name in unknown[:3])
        more = f" and {len(unknown) - 3:,} more" if len(unknown) > 3 else ""
        problems.insert(0, f"not presets, left out: {named}{more}")
    if len(steps) > MAX_STEPS:
        problems.append(f"{len(steps):,} steps: the first {MAX_STEPS} are kept (keys 1 to 9)")
    return steps[:MAX_STEPS] or default, problems


def parse_sequence(text: str) -> list[str]:
    """Return the known presets named in a '~'-separated list ('1' or '' means the default)."""
    return [step.preset for step in parse_steps(text)[0]]


def format_steps(steps: list[Step]) -> str:
    """Return the text of a sequence, as parse_steps reads it."""
    return SEPARATOR.join(
        f"{step.preset}[{step.lesson.to_text()}]" if step.lesson else step.preset for step in steps
    )


def load_from_url() -> None:
    """Once per session: switch talk mode on if the link asks for it."""
    if st.session_state.get(LOADED_KEY):
        return
    st.session_state[LOADED_KEY] = True
    value = st.query_params.get(TALK_PARAM)
    st.session_state.setdefault(SEQUENCE_KEY, list(DEFAULT_SEQUENCE))
    if value is None:
        return
    steps, problems = parse_steps(value)
    st.session_state[ACTIVE_KEY] = True
    _remember_steps(steps)
    if problems:
        shown = problems[:MAX_LISTED_PROBLEMS]
        if len(problems) > len(shown):
            shown.append(f"and {len(problems) - len(shown):,} more")
        # said by show_link_problems, in the run that draws a page: a link to /data reruns
        # once (app.py) before the Data page draws, and the words must survive that rerun
        st.session_state[LINK_PROBLEMS_KEY] = shown


def show_link_problems() -> None:
    """Say, once, what the talk link asked that could not be used."""
    shown = st.session_state.pop(LINK_PROBLEMS_KEY, None)
    if shown:
        listed = "\n".join(f"- {problem}" for problem in shown)
        st.warning(
            f"Some of this talk link could not be used:\n{listed}\n\n"
            "The rest applies: the known presets as steps, each with its lesson's other locks.",
            icon=":material/lock_open:",
        )


def active() -> bool:
    """Return True while this browser tab is in talk mode."""
    try:
        return bool(st.session_state.get(ACTIVE_KEY, False))
    except Exception:  # outside a Streamlit run (a figure built in a plain test) there is none
        return False


def sequence() -> list[str]:
    """Return the presets of the talk, in order."""
    return list(st.session_state.get(SEQUENCE_KEY) or DEFAULT_SEQUENCE)


def steps() -> list[Step]:
    """Return the steps of the talk, in order: each preset with its lesson."""
    lessons = st.session_state.get(LESSONS_KEY) or []
    return [
        Step(name, lessons[i] if i < len(lessons) else Lesson())
        for i, name in enumerate(sequence())
    ]


def _remember_steps(steps: list[Step]) -> None:
    st.session_state[SEQUENCE_KEY] = [step.preset for step in steps]
    st.session_state[LESSONS_KEY] = [step.lesson for step in steps]


def font_scale() -> float:
    """Return how much larger chart text should be: FONT_SCALE in talk mode, else 1."""
    return FONT_SCALE if active() else 1.0


def _sync_url() -> None:
    if active():
        text = format_steps(steps())
        if st.query_params.get(TALK_PARAM) != text:  # each write is sent to the browser
            st.query_params[TALK_PARAM] = text
    elif TALK_PARAM in st.query_params:
        del st.query_params[TALK_PARAM]


def start() -> None:
    """Switch talk mode on (button callback)."""
    st.session_state[ACTIVE_KEY] = True
    _sync_url()


def leave() -> None:
    """Switch talk mode off (button callback)."""
    st.session_state[ACTIVE_KEY] = False
    _sync_url()


def style() -> None:
    """Apply talk mode's look to the page when it is on."""
    if active():
        st.html(TALK_CSS)


def _remember_sequence() -> None:
    # a preset picked again keeps the lesson its step had (from the talk's link)
    lessons: dict[str, Lesson] = {}
    for step in steps():
        lessons.setdefault(step.preset, step.lesson)
    picked = st.session_state[PICKER_KEY]
    _remember_steps([Step(name, lessons.get(name, Lesson())) for name in picked])


def sidebar_controls() -> None:
    """Draw the sidebar's talk-mode section: the sequence to present and the switch."""
    if active():
        return  # the sidebar is hidden; the talk bar has the way out
    with st.expander("Talk mode", icon=":material/co_present:"):
        # the picker's own key is dropped while hidden (talk mode): the sequence lives apart
        st.session_state[PICKER_KEY] = sequence()
        st.multiselect(
            "Presets to present, in order",
            list(PRESETS),
            key=PICKER_KEY,
            on_change=_remember_sequence,
            max_selections=MAX_STEPS,
            help="They appear numbered in the talk bar: press 1, 2, 3… to load one.",
        )
        st.button(
            "Start talk mode",
            on_click=start,
            icon=":material/co_present:",
            width="stretch",
            help="Large type, high contrast, no sidebar; the presets above one key away.",
        )


def _present(step: Step) -> None:
    build_state.load_preset(step.preset)
    lesson.begin(step.lesson)  # after the preset: the lesson fixes the preset's values
    st.session_state["_talk_open_train"] = True


def bar() -> None:
    """Draw the presenter's bar at the top of the page: numbered presets, Draw and Exit.

    While a lesson is followed, "Leave lesson" sits between Draw and Exit (no sidebar here).
    """
    if not active():
        return
    _sync_url()  # switching pages drops the query string: keep the talk bookmarkable
    if st.session_state.pop("_talk_open_train", False):
        st.switch_page(TRAIN_PAGE)  # outside the callback: switching pages there is a no-op
    talk_steps = steps()
    current = build_state.current_preset()
    leaving = [0.9] if lesson.active() else []
    columns = st.columns([*([1] * len(talk_steps)), 0.8, *leaving, 0.8], gap="small")
    for number, (column, step) in enumerate(zip(columns, talk_steps), start=1):
        fixes = f" The lesson fixes {', '.join(step.lesson.fixed())}." if step.lesson else ""
        column.button(
            f"{number} · {step.preset}",
            key=f"talk-step-{number}",
            on_click=_present,
            args=(step,),
            shortcut=str(number),
            icon=":material/lock:" if step.lesson else None,
            type="primary" if step.preset == current else "secondary",
            width="stretch",
            help=f"{PRESETS[step.preset].title}: load it and open Train (key {number}).{fixes}",
        )
    if leaving:
        with columns[-2]:
            lesson.leave_button(key="talk-leave-lesson")
    if columns[len(talk_steps)].button(
        "Draw", key="talk-draw", shortcut="d", icon=":material/gesture:", width="stretch"
    ):
        st.switch_page(DRAW_PAGE)
    columns[-1].button(
        "Exit talk",
        key="talk-exit",
        on_click=leave,
        shortcut="Escape",
        icon=":material/close:",
        width="stretch",
    )
