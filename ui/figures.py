"""Plotly figure builders, one function per chart; pages never build figures inline."""

from __future__ import annotations

import plotly.graph_objects as go  # noqa: F401
