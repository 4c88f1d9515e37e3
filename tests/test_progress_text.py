"""What a presenter reads while a run trains: a full-batch run counts iterations, and a run of
one epoch gets sensible axes (issue 24)."""

from __future__ import annotations

from core.events import EpochEnded, Step
from ui.charts.curve_figures import epoch_curves_figure
from ui.feed.progress_line import progress_text
from ui.shared.widgets import job_progress_text


class Named:
    name = "seed-3v7"


def progress(full_batch: bool) -> dict:
    return {"state": "running", "step": 483, "total_steps": 2000, "epoch": 483, "epochs": 2000,
            "fraction": 0.2415, "full_batch": full_batch}  # fmt: skip


def test_a_full_batch_run_reads_in_iterations_not_epochs():
    steps = [Step(step=483, epoch=483, loss=0.1, lr=1.0, samples_per_s=5_000.0)]
    text = progress_text(progress(True), steps, 11_552)
    assert text.startswith("Iteration 483/2,000 · full batch of 11,552 digits")
    assert "Epoch" not in text
    assert "iteration 483/2,000" in job_progress_text(Named(), progress(True))
    assert "Epoch 483/2000" in progress_text(progress(False), steps, 64)
    assert "epoch 483/2000" in job_progress_text(Named(), progress(False))


def test_the_axes_of_a_one_epoch_run_stay_within_what_the_values_can_be():
    one = [EpochEnded(epoch=1, step=860, train_loss=0.3, train_accuracy=0.91, val_loss=0.25,
                      val_accuracy=0.93, seconds=10.0, complete=True)]  # fmt: skip
    layout = epoch_curves_figure(one).layout
    assert layout.yaxis.autorangeoptions.clipmin == 0  # the loss: never below 0
    accuracy = layout.yaxis2.autorangeoptions
    assert (accuracy.clipmin, accuracy.clipmax) == (0, 1)  # not 0% to 150%


def test_a_parked_job_says_its_slot_is_lent_and_a_waiting_resume_says_when():
    steps = [Step(step=483, epoch=483, loss=0.1, lr=1.0, samples_per_s=5_000.0)]
    paused = {**progress(False), "state": "paused"}
    assert progress_text(paused, steps, 64).endswith(" · paused")
    parked = {**paused, "parked": True}
    assert progress_text(parked, steps, 64).endswith("its slot lent to the next in line meanwhile")
    assert "slot lent" in job_progress_text(Named(), parked)
    waiting = {**parked, "resume_wanted": True}
    assert progress_text(waiting, steps, 64).endswith("when the training now running ends")


def test_log_axes_read_as_one_scale_powers_of_ten_or_plain_numbers():
    import numpy as np

    from ui.charts.curve_figures import log_ticks

    wide = log_ticks(np.array([0.002, 0.03, 3.0]))
    assert wide["dtick"] == 1 and wide["exponentformat"] == "power"  # 10⁻³, 10⁻², …
    narrow = log_ticks(np.array([0.1, 0.3, 0.9]))
    assert narrow["ticktext"] == ["0.05", "0.1", "0.2", "0.5", "1", "2"]
