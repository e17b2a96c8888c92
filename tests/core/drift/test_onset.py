"""Since when: the change-point onset of a PSI series, on series with known change points."""

from __future__ import annotations

import numpy as np
import pytest

from watchkeeper.core.drift.onset import Onset, change_onset

WATCH = 0.1


def _quiet(rng: np.random.Generator, n: int) -> np.ndarray:
    # PSI of an unchanged feature with 10 bins and ~200 rows a window: chi-square-like noise
    return rng.chisquare(9, n) / 200


@pytest.mark.parametrize("seed", range(20))
def test_an_abrupt_shift_is_dated_to_its_first_window(seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = _quiet(rng, 200)
    x[130:] += rng.uniform(0.3, 1.0)
    onset = change_onset(x, WATCH)
    assert onset is not None and onset.ongoing
    assert 128 <= onset.start <= 130  # at most two noisy windows early
    assert onset.peak >= 130


@pytest.mark.parametrize("seed", range(20))
def test_a_gradual_ramp_is_dated_to_where_it_begins_not_where_it_crosses(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    x = _quiet(rng, 200)
    x[120:150] += np.linspace(0.0, 0.8, 30)
    x[150:] += 0.8
    onset = change_onset(x, WATCH)
    assert onset is not None and onset.ongoing
    first_crossing = int(np.argmax(x > 0.2))  # where a drift decision would first fire
    assert 118 <= onset.start <= min(126, first_crossing)


@pytest.mark.parametrize("seed", range(20))
def test_a_series_without_change_has_no_onset(seed: int) -> None:
    assert change_onset(_quiet(np.random.default_rng(200 + seed), 365), WATCH) is None


def test_the_latest_episode_is_reported_and_an_ended_one_has_an_end() -> None:
    x = np.full(100, 0.02)
    x[20:30] = 0.5  # an earlier episode, over
    x[70:80] = 0.4  # the latest, over too
    assert change_onset(x, WATCH) == Onset(start=70, peak=70, end=80)
    x[90:] = 0.6
    assert change_onset(x, WATCH) == Onset(start=90, peak=90, end=None)


def test_unjudged_windows_neither_add_nor_reset() -> None:
    x: list[float | None] = [0.02] * 50 + [0.5, None, None, 0.5] + [0.5] * 10
    onset = change_onset(x, WATCH)
    assert onset == Onset(start=50, peak=50, end=None)
    assert change_onset([None, None], WATCH) is None
    with pytest.raises(ValueError):
        change_onset([0.1], 0.0)


def test_a_change_covering_most_of_the_history_still_has_its_onset() -> None:
    x = np.full(120, 0.03)
    x[20:] = 0.6  # most windows are drifted: the baseline is still the quiet level
    assert change_onset(x, WATCH) == Onset(start=20, peak=20, end=None)
