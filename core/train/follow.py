"""The whole network, sent twice a second while it trains, so that a page can score a drawn
digit with the weights of the moment (the Draw page's "follow the training", core.draw.follow).

A snapshot is every tensor of the state_dict copied to the CPU: 4 bytes a parameter, so the
job registry keeps only the newest (events.SNAPSHOTS). Networks above MAX_PARAMETERS are not
followed: every preset is below it (best-mlp, the largest, has 1.3M), and one snapshot of 2M
parameters already takes ~25 ms to copy, encode and send.
"""

from __future__ import annotations

import time

from core.events import ModelSnapshot
from core.spec.models import parameter_count
from core.train.cadence import MAX_SHARE
from core.train.trainer import Trainer

MODEL_EVERY_SECONDS = 0.5
MAX_PARAMETERS = 2_000_000


def followable(spec) -> bool:
    """Return whether a network is small enough to send its weights while it trains."""
    return parameter_count(spec) <= MAX_PARAMETERS


class ModelFollower:
    """Emits a ModelSnapshot at the start, every MODEL_EVERY_SECONDS, at each epoch's end (when
    due, where an epoch is a step) and at the end, so the last snapshot holds the weights the
    run is saved with."""

    def attach(self, trainer: Trainer) -> None:
        if not followable(trainer.spec):
            return
        self.sent_step: int | None = None
        self.next_time = 0.0
        trainer.add_callback("on_start", self.send)
        trainer.add_callback("on_batch_end", self.on_batch_end)
        trainer.add_callback("on_epoch_end", self.on_epoch_end)
        trainer.add_callback("on_end", self.send)

    def on_epoch_end(self, trainer: Trainer) -> None:
        if not trainer.epoch_is_a_step or time.perf_counter() >= self.next_time:
            self.send(trainer)

    def on_batch_end(self, trainer: Trainer) -> None:
        if time.perf_counter() >= self.next_time:
            self.send(trainer)

    def send(self, trainer: Trainer) -> None:
        """Emit the weights as they are now (once per step: the end follows the last epoch's)."""
        if trainer.step == self.sent_step:
            return
        started = time.perf_counter()
        # copies: in a thread the event is kept as it is, and the live tensors go on training
        state = {
            name: tensor.detach().to("cpu", copy=True).numpy()
            for name, tensor in trainer.model.state_dict().items()
        }
        trainer.emit(ModelSnapshot(step=trainer.step, epoch=trainer.epoch, state=state))
        self.sent_step = trainer.step
        cost = time.perf_counter() - started
        self.next_time = time.perf_counter() + max(
            MODEL_EVERY_SECONDS, cost / MAX_SHARE["model snapshot"]
        )
