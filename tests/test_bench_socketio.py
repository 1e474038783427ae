"""The Socket.IO part's CPU bracket: the web processes' CPU time from the hand-off to the last arrival, out of
readings taken every CPU_SAMPLE_S while the trigger runs."""

from __future__ import annotations

import pytest

from bench.socketio_load import cpu_between

READINGS = [
    (10.00, {1: 5.00, 2: 7.00}),
    (10.02, {1: 5.01, 2: 7.00}),
    (10.04, {1: 5.05, 2: 7.03}),
    (10.06, {1: 5.09, 2: 7.08, 3: 0.02}),  # pid 3 started in between
    (10.08, {1: 5.10, 2: 7.09, 3: 0.03}),
]


@pytest.mark.parametrize(
    "start, end, seconds",
    [
        (10.02, 10.06, (5.09 - 5.01) + (7.08 - 7.00) + 0.02),  # readings exactly at both ends
        (10.03, 10.05, (5.09 - 5.01) + (7.08 - 7.00) + 0.02),  # widened to the readings around them
        (10.00, 10.08, (5.10 - 5.00) + (7.09 - 7.00) + 0.03),
        (10.04, 10.04, 0.0),
    ],
)
def test_cpu_between_takes_the_readings_around_the_window(start, end, seconds):
    assert cpu_between(READINGS, start, end) == pytest.approx(seconds)


@pytest.mark.parametrize("start, end", [(9.99, 10.04), (10.02, 10.09), (9.0, 11.0)])
def test_cpu_between_is_none_without_a_reading_on_each_side(start, end):
    assert cpu_between(READINGS, start, end) is None


def test_cpu_between_of_no_readings_is_none():
    assert cpu_between([], 10.0, 10.1) is None
