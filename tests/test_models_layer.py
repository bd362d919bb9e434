"""The ensemble's confidence against hand-computed cases, and the LSTM fallback."""

import logging
import math

import numpy as np
import pytest

from scalp_nautilus.indicators.settings import EnsembleSettings
from scalp_nautilus.indicators.settings import LSTMSettings
from scalp_nautilus.models import LSTMPredictor
from scalp_nautilus.models import SignalEnsemble


def test_full_agreement_is_confidence_one():
    e = SignalEnsemble()
    assert e.update_raw(0.6, 0.6, 0.6, 0.6) == pytest.approx(0.6)
    assert e.confidence == pytest.approx(1.0)


def test_total_disagreement_is_confidence_zero():
    e = SignalEnsemble()
    assert e.update_raw(1.0, -1.0, 1.0, -1.0) == pytest.approx(0.0)
    assert e.confidence == 0.0  # std 1, mean |d| 1


def test_one_silent_member_by_hand():
    e = SignalEnsemble()
    e.update_raw(1.0, 1.0, 0.0, 1.0)
    # d = (1, 1, 0, 1): mean 0.75, population std sqrt(3/16) = 0.4330, mean |d| 0.75
    assert e.value == pytest.approx(0.75)
    assert e.confidence == pytest.approx(1 - math.sqrt(3 / 16) / 0.75)


def test_weights_and_excluded_members():
    e = SignalEnsemble(EnsembleSettings(weights=(0.5, 0.0, 0.25, 0.25)))
    e.update_raw(0.8, -1.0, 0.4, 0.4)  # the LSTM has weight 0: out of the sum and the agreement
    assert e.value == pytest.approx(0.5 * 0.8 + 0.25 * 0.4 + 0.25 * 0.4)
    votes = np.array([0.8, 0.4, 0.4])
    assert e.confidence == pytest.approx(1 - votes.std() / np.abs(votes).mean())
    e.update_raw(0.0, 0.0, 0.0, 0.0)
    assert e.confidence == 0.0 and e.value == 0.0
    e.update_raw(float("nan"), 2.0, -5.0, 0.5)  # NaN is silent, out-of-range clipped
    assert e.directions == (0.0, 1.0, -1.0, 0.5)
    with pytest.raises(ValueError, match="sum to 1"):
        SignalEnsemble(EnsembleSettings(weights=(0.5, 0.5, 0.5, 0.5)))


def test_lstm_fallback_is_tanh_of_the_mean_and_says_so(caplog):
    p = LSTMPredictor(seq_len=3)
    v = np.linspace(-1, 2, 21)
    with caplog.at_level(logging.WARNING):
        for i in range(3):
            p.update_raw(v, 100.0, i)
    assert p.value == pytest.approx(math.tanh(v.mean())) and p.confidence == 0.0 and not p.active
    assert caplog.text.count("fallback") == 1 and p.initialized


def test_settings_made_in_code_are_checked_when_built():
    """msgspec checks the `Meta` ranges only when decoding a file: a struct made in code with a value
    out of range is refused when the indicator is built from it, naming the field."""
    for settings, field in (
        (LSTMSettings(accuracy_window=0), "accuracy_window"),
        (LSTMSettings(min_accuracy=1.5), "min_accuracy"),
        (LSTMSettings(cadence_ms=-1.0), "cadence_ms"),
        (LSTMSettings(torch_threads=0), "torch_threads"),
    ):
        with pytest.raises(ValueError, match=field):
            LSTMPredictor(settings)
    with pytest.raises(ValueError, match="cadence_ms must be finite"):
        LSTMSettings(cadence_ms=math.inf)
    with pytest.raises(ValueError, match="seq_len"):
        LSTMPredictor(seq_len=0)
    negative = EnsembleSettings(weights=(1.5, -0.5, 0.0, 0.0))  # sums to 1: only the range refuses it
    with pytest.raises(ValueError, match="weights"):
        SignalEnsemble(negative)
