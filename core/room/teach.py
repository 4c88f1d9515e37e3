"""Teach the model the room's handwriting: a fine-tune of the room's model, as a training job.

It goes through the trainer and the job registry like any training (progress, Stop, a saved
run): the network starts from the room's model (JobRequest.start_from) and trains a few hundred
steps on batches of about a quarter room drawings (each varied afresh by augmentation, so a few
dozen are not learnt by heart) and three quarters MNIST training digits, so that MNIST is not
forgotten. A fifth of each digit's drawings is held out (core.room.scores) and never trained on:
the accuracy on those, before and after, is what the room taught.
"""

from __future__ import annotations

import math
from dataclasses import replace

from core.data.augment import AugmentConfig
from core.spec.config import LIMITS, TrainConfig
from core.spec.task import split_sizes

TEACH_STEPS = 300
TEACH_LR = 1e-3  # Adam from a trained network: moves in 300 steps without forgetting MNIST
TEACH_BATCH = 64
ROOM_SHARE = 0.25  # of each batch, on average; the rest are MNIST digits
MNIST_FRACTION = 0.1  # of MNIST's training digits: 5,500, plenty for 300 steps of 64
# how the room's drawings are varied each time they are drawn into a batch
ROOM_AUGMENT = AugmentConfig(
    enabled=True, rotation=10.0, shift=0.08, scale=0.1, shear=5.0, elastic=False, thickness=0.3
)
NAME_PREFIX = "room-"  # + the room's code, lower case: the saved run's name


def teach_config(model_config: TrainConfig, set_name: str, taught: int) -> TrainConfig:
    """Return the fine-tune's settings: the model's own, with the room's set mixed in."""
    if taught < 1:
        raise ValueError(
            "the room has no drawings to teach yet (a fifth of each digit is held out)"
        )
    mnist_used, _ = split_sizes(model_config.classes, MNIST_FRACTION, model_config.val_fraction)
    wanted = ROOM_SHARE / (1 - ROOM_SHARE) * mnist_used / taught
    low, high = LIMITS["my_digits_repeat"]
    return replace(
        model_config,
        optimizer="adam",
        lr=TEACH_LR,
        momentum=0.0,
        weight_decay=0.0,
        schedule="constant",
        batch_size=TEACH_BATCH,
        full_batch=False,
        iterations=TEACH_STEPS,
        train_fraction=MNIST_FRACTION,
        eval_every=0,
        augment=ROOM_AUGMENT,
        my_digits=set_name,
        my_digits_repeat=min(high, max(low, math.ceil(wanted))),
    )


def teach_name(code: str) -> str:
    """Return the name of the run a room's fine-tune saves."""
    return NAME_PREFIX + code.lower()
