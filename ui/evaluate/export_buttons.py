"""The Evaluate page's exports of a run: Digit Lab's own archive, and ONNX for other runtimes."""

from __future__ import annotations

from functools import partial

import streamlit as st

from core.export.offline_page import SUFFIX as OFFLINE_SUFFIX
from core.export.offline_page import offline_page
from core.export.onnx import SUFFIX as ONNX_SUFFIX
from core.export.onnx import onnx_bytes
from core.runs.archive import EXPORT_SUFFIX, export_run_bytes
from ui.shared import state

ARCHIVE_HELP = (
    "One file with the network, its settings and its curves; import it on another machine."
)
OFFLINE_HELP = (
    "Take it home: one HTML file with this network inside. It opens in any browser, on a "
    "computer or a phone, with no network: draw a digit and it reads it as the Draw page does."
)
ONNX_HELP = (
    "The network for ONNX Runtime and other runtimes: raw pixels in (N, 1, 28, 28), 0 background "
    "and 1 ink, with the run's normalisation inside; its calibrated probabilities out. The "
    "file's metadata names the classes, the run and its test accuracy."
)


def _onnx_file(path: str) -> bytes:
    """Return the run as ONNX (called when the button is pressed, not on every page run, and
    in a thread of its own: Streamlit shows a refusal's message, OnnxRefused, at the button)."""
    run = state.cached_run(path)
    return onnx_bytes(run, state.class_names(run))


def _offline_file(path: str) -> bytes:
    """Return the run's one-file offline draw page (when the button is pressed)."""
    run = state.cached_run(path)
    return offline_page(run, state.class_names(run)).encode()


def export_buttons(summary: dict) -> None:
    """Draw the export buttons side by side: what each holds, as a table."""
    run_id, path = summary.get("run_id", "run"), summary["path"]
    exports = [
        ("Export run", partial(export_run_bytes, path), EXPORT_SUFFIX, "application/zip",
         ":material/download:", ARCHIVE_HELP, "eval-export"),
        ("ONNX", partial(_onnx_file, path), ONNX_SUFFIX, "application/octet-stream",
         ":material/deployed_code:", ONNX_HELP, "eval-export-onnx"),
    ]  # fmt: skip
    if state.dataset_of(summary).drawable:  # sketches of clothes would mislead: as on Draw
        exports.append(
            ("Offline page", partial(_offline_file, path), OFFLINE_SUFFIX, "text/html",
             ":material/phone_iphone:", OFFLINE_HELP, "eval-export-html")
        )  # fmt: skip
    for column, (label, data, suffix, mime, icon, help_text, key) in zip(
        st.columns(len(exports)), exports, strict=True
    ):
        column.download_button(
            label, data=data, file_name=f"{run_id}{suffix}", mime=mime, on_click="ignore",
            icon=icon, help=help_text, key=key,
        )  # fmt: skip
