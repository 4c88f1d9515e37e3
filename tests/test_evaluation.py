"""core.analysis.evaluation: scores computed from probabilities, on crafted and real predictions."""

from __future__ import annotations

import pytest
import torch

from core.analysis.evaluation import evaluate_probabilities, output_probabilities


def test_scores_of_a_crafted_three_class_problem():
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    predicted = torch.tensor([0, 1, 1, 1, 2, 0])
    probabilities = torch.nn.functional.one_hot(predicted, 3).float() * 0.8 + 0.2 / 3
    result = evaluate_probabilities(probabilities, labels, (1, 4, 7))
    assert result.accuracy == pytest.approx(4 / 6)
    assert result.confusion.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert result.per_class_accuracy == pytest.approx([0.5, 1.0, 0.5])
    assert result.precision == pytest.approx([0.5, 2 / 3, 1.0])
    assert result.f1[1] == pytest.approx(2 * (2 / 3) / (2 / 3 + 1))
    assert result.row_normalized_confusion()[0].tolist() == pytest.approx([0.5, 0.5, 0.0])


def test_a_class_nobody_scored_counts_zero_digits_not_zero_accuracy():
    labels = torch.tensor([0, 0, 2])  # no digit of the middle class
    probabilities = torch.nn.functional.one_hot(torch.tensor([0, 1, 2]), 3).float()
    result = evaluate_probabilities(probabilities, labels, (1, 4, 7))
    assert result.class_counts() == [2, 0, 1]
    assert result.per_class_accuracy == pytest.approx([0.5, 0.0, 1.0])  # 0 of 0 reads 0


def test_most_confused_pairs_name_digits_and_examples():
    labels = torch.tensor([0, 0, 0, 1, 1])
    probabilities = torch.tensor([[0.1, 0.9], [0.4, 0.6], [0.9, 0.1], [0.8, 0.2], [0.2, 0.8]])
    result = evaluate_probabilities(probabilities, labels, (3, 7))
    worst = result.most_confused()
    assert (worst[0].true_digit, worst[0].predicted_digit, worst[0].count) == (3, 7, 2)
    assert worst[0].indices == [0, 1]  # most confident mistake first
    assert (worst[1].true_digit, worst[1].predicted_digit, worst[1].indices) == (7, 3, [3])


def test_loss_is_the_mean_negative_log_probability_of_the_truth():
    probabilities = torch.tensor([[0.5, 0.5], [0.25, 0.75]])
    result = evaluate_probabilities(probabilities, torch.tensor([0, 1]), (0, 1))
    expected = -(torch.log(torch.tensor(0.5)) + torch.log(torch.tensor(0.75))) / 2
    assert result.loss == pytest.approx(float(expected))


def test_output_heads_all_become_probabilities():
    raw = torch.randn(4, 10)
    for head, outputs in [
        ("logits", raw),
        ("log_softmax", raw.log_softmax(1)),
        ("softmax", raw.softmax(1)),
    ]:
        assert torch.allclose(output_probabilities(outputs, head), raw.softmax(1), atol=1e-6)
    single = torch.tensor([[0.9], [0.2]])
    assert torch.allclose(
        output_probabilities(single, "sigmoid"), torch.tensor([[0.9, 0.1], [0.2, 0.8]])
    )


def test_tallied_scores_weigh_each_batch_by_its_size():
    from core.analysis.evaluation import tallied_scores

    tallied = [
        # outputs whose largest is 0, 1, 1 against labels 0, 1, 0: two of three right
        (torch.tensor(1.0), torch.eye(3)[[0, 1, 1]], torch.tensor([0, 1, 0])),
        (torch.tensor(4.0), torch.eye(3)[[2]], torch.tensor([2])),  # a last, smaller batch
    ]
    loss, accuracy = tallied_scores(tallied)
    assert loss == pytest.approx((1.0 * 3 + 4.0 * 1) / 4)
    assert accuracy == pytest.approx(3 / 4)
