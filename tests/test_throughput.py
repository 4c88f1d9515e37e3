"""The throughput behind the Train page's "seconds left": steady over a few seconds, the first
step's warm-up and pauses left out."""

from core.train.throughput import RATE_WINDOW_SECONDS, Throughput


def test_one_slow_group_moves_the_rate_a_little_not_by_half():
    meter = Throughput(now=0.0, step=0, paused=0.0)
    meter.first_step_done(now=0.5, step=1, paused=0.0)  # a slow first step: not the pace
    now, step = 0.5, 1
    for _ in range(20):  # 10 steps of 64 every 0.1 s: 6,400 samples a second
        now, step = now + 0.1, step + 10
        steady = meter.add(now, step, 0.0, batch_size=64)
    assert abs(steady - 6400) < 1
    now, step = now + 0.2, step + 10  # one group took twice as long (a replay frame)
    hiccup = meter.add(now, step, 0.0, batch_size=64)
    # one group alone would read 3,200; the window reads within 10% of the pace
    assert 0.9 * 6400 < hiccup < 6400


def test_the_window_follows_a_change_of_pace_within_its_seconds():
    meter = Throughput(now=0.0, step=0, paused=0.0)
    meter.first_step_done(now=0.1, step=1, paused=0.0)
    now, step = 0.1, 1
    for _ in range(30):
        now, step = now + 0.1, step + 10
        meter.add(now, step, 0.0, batch_size=1)
    for _ in range(int(RATE_WINDOW_SECONDS / 0.1) + 2):  # twice as slow from here on
        now, step = now + 0.1, step + 5
        rate = meter.add(now, step, 0.0, batch_size=1)
    assert abs(rate - 50) < 1


def test_a_pause_does_not_count_and_the_first_step_alone_gives_no_rate():
    meter = Throughput(now=0.0, step=0, paused=0.0)
    meter.first_step_done(now=0.4, step=1, paused=0.0)  # a slow first step, a group alone:
    assert meter.add(now=0.4, step=1, paused=0.0, batch_size=8) == 0.0  # no rate from it
    # 10 steps in 3 s of which 2 s were a pause: 10 steps a second of training
    assert meter.add(now=3.4, step=11, paused=2.0, batch_size=1) == 10.0
