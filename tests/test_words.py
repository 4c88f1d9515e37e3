"""ui.shared.words: the article before a digit or a class name, as it is read aloud."""

from __future__ import annotations

import numpy as np
import pytest

from ui.shared.words import article, with_article


@pytest.mark.parametrize(
    ("label", "expected"),
    [(7, "a"), (8, "an"), ("8", "an"), (0, "a"), (1, "a"), (11, "an"), (18, "an"), (80, "an")]
    + [("Ankle boot", "an"), ("T-shirt/top", "a"), ("Bag", "a"), ("", "a")],
)
def test_the_article_follows_the_sound_of_the_label(label, expected):
    assert article(label) == expected


def test_with_article_puts_the_article_before_the_label():
    assert [with_article(label) for label in (3, 8, "Ankle boot")] == [
        "a 3",
        "an 8",
        "an Ankle boot",
    ]


def test_the_replays_rows_name_each_digit_with_its_article():
    from ui.charts.replay_figures import replay_probabilities_figure

    figure = replay_probabilities_figure(
        np.full((2, 10), 0.1), [8, 3], list(range(10)), indices=[4731, 12]
    )
    assert list(figure.data[0].y) == ["1: an 8", "2: a 3"]
