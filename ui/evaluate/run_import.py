"""The Evaluate page's Import tab: run files and tutorial weights brought in, and damaged folders listed.

An upload stays in its box across reruns; it is checked and saved once, and what came of it
is remembered for the reruns after.
"""

from __future__ import annotations

import io

import streamlit as st

from core.runs import uploads
from core.runs.archive import EXPORT_SUFFIX, import_run
from core.runs.listing import list_damaged_runs
from core.runs.statedict import STATE_DICT_SUFFIXES, import_state_dict
from core.runs.store import InvalidRun
from core.spec.presets import PRESETS
from ui.shared import state, widgets

IMPORTED_KEY = "eval-imported"  # the last run file imported: its file_id and what came of it


def import_section() -> None:
    """Let the user bring in a run exported from another machine, or a tutorial's weights."""
    uploaded = st.file_uploader(
        "Import a run file or PyTorch weights",
        type=["zip", "pt", "pth"],
        key="eval-import",
        help=f"A file exported from Digit Lab (…{EXPORT_SUFFIX}), or a state_dict saved with "
        "`torch.save(model.state_dict(), 'model.pt')` from a network like one of the presets.",
        # read at every run, not at import: the limit is a setting tests and servers change
        max_upload_size=uploads.MAX_UPLOAD_BYTES // uploads.MiB,
    )
    if uploaded is None:
        return
    if uploaded.size > uploads.MAX_UPLOAD_BYTES:
        limit = uploads.MAX_UPLOAD_BYTES // uploads.MiB
        st.error(f"{uploaded.name} is too large: the limit is {limit} MiB.")
        return
    if uploaded.name.lower().endswith(STATE_DICT_SUFFIXES):
        import_weights(uploaded)
    else:
        import_run_file(uploaded)


def _import_error(uploaded, exc: Exception) -> str:
    if isinstance(exc, OSError):
        return f"{uploaded.name} could not be saved into the runs folder: {exc.strerror or exc}"
    return f"{uploaded.name} cannot be imported: {exc}"


def import_run_file(uploaded) -> None:
    """Import an exported run once, make it the active one, and say how it went."""
    # the uploader keeps its file across reruns: each rerun would check and unzip it again
    done = st.session_state.get(IMPORTED_KEY)
    if done is None or done["file_id"] != uploaded.file_id:
        try:
            run = import_run(io.BytesIO(uploaded.getvalue()), state.runs_dir())
        except (InvalidRun, OSError) as exc:
            st.session_state[IMPORTED_KEY] = {
                "file_id": uploaded.file_id,
                "error": _import_error(uploaded, exc),
            }
        else:
            st.session_state[IMPORTED_KEY] = {
                "file_id": uploaded.file_id,
                "error": None,
                "name": run.name,
                "run_id": run.run_id,
            }
            state.set_active_run(run.path)
            st.rerun()
        done = st.session_state[IMPORTED_KEY]
    if done["error"]:
        st.error(done["error"])
    else:
        # a run's name is whatever its file says: shown as text, not as Markdown
        st.success(f"Imported **{widgets.escape_markdown(done['name'])}** as `{done['run_id']}`.")


def import_weights(uploaded) -> None:
    """Load a plain state_dict into a chosen preset network, test it, and save it as a run."""
    done = st.session_state.get("eval-imported-weights")
    if done and done[0] == uploaded.file_id:
        st.success(f"Imported the weights of {uploaded.name} as `{done[1]}`.")
        return
    preset = st.selectbox(
        "Network these weights belong to",
        list(PRESETS),
        format_func=lambda name: PRESETS[name].title,
        key="eval-import-network",
        help="Tensors are matched to the network's layers by name, or else in order; every "
        "shape must fit. Inputs are normalised as the preset's settings say.",
    )
    if not st.button("Import weights", key="eval-import-weights", icon=":material/upload:"):
        return
    spec, config = PRESETS[preset].fresh()
    # with MNIST at hand the imported run is scored at once, like a trained one
    data = state.mnist() if state.data_problem() is None else None
    try:
        with st.spinner("Loading the weights and testing them…"):
            run = import_state_dict(
                uploaded.getvalue(),
                spec,
                config,
                name=preset,
                runs_dir=state.runs_dir(),
                mnist=data,
                file_name=uploaded.name,
            )
    except (InvalidRun, OSError) as exc:
        st.error(_import_error(uploaded, exc))
        return
    st.session_state["eval-imported-weights"] = (uploaded.file_id, run.run_id)
    state.set_active_run(run.path)
    st.rerun()


def damaged_runs_notice() -> None:
    """List the folders in the runs folder that are not loadable runs, and why; they are skipped."""
    damaged = list_damaged_runs(state.runs_dir())
    if not damaged:
        return
    with st.expander(
        f"{len(damaged)} damaged run folder{'s' if len(damaged) > 1 else ''} skipped",
        icon=":material/warning:",
    ):
        st.caption(
            "These folders are not complete runs (a save was interrupted, or files were changed "
            "by hand). They are left on disk untouched and kept out of every list."
        )
        # as text in a table: a folder's name and what its files say are anyone's to write
        st.dataframe(
            {
                "folder": [entry["run_id"] for entry in damaged],
                "why": [entry["damaged"] for entry in damaged],
            },
            hide_index=True,
        )
