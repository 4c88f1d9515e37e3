"""Widgets reused across pages (model picker, digit grid, probability bars, ...)."""

from __future__ import annotations

import streamlit as st  # noqa: F401
