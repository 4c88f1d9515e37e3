"""The offline page's refusals and its embedding, without a browser (tests/test_offline_page.py
draws on it in Chromium)."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest
from torch import nn

from core.export.offline_page import OfflineRefused, offline_page, operation
from core.runs.store import load_run

READY = "assets/ready-model/20261206-022056-draw-72cc"


def test_a_layer_the_page_cannot_compute_is_refused_in_words():
    with pytest.raises(OfflineRefused, match="cannot compute a Hardswish layer"):
        operation(nn.Hardswish())


def test_a_fashion_run_is_refused_as_the_draw_page_refuses_it():
    run = load_run(READY)
    fashion = dataclasses.replace(
        run, config=dataclasses.replace(run.config, dataset="fashion-mnist")
    )
    with pytest.raises(OfflineRefused, match="for drawn digits"):
        offline_page(fashion)


def test_a_run_name_cannot_break_out_of_the_page():
    ready = load_run(READY)
    hostile = '</script><script>alert("x")</script>'
    run = dataclasses.replace(ready, summary={**ready.summary, "name": hostile})
    page = offline_page(run)
    assert "<script>alert" not in page
    model = re.search(r'<script id="model" type="application/json">(.*?)</script>', page, re.S)
    assert json.loads(model.group(1))["name"] == run.name
