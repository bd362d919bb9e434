"""Layer 3 of the pipeline: the LSTM predictor and the agreement ensemble."""

from scalp_nautilus.models.ensemble import SignalEnsemble
from scalp_nautilus.models.lstm import LSTMPredictor

__all__ = ["LSTMPredictor", "SignalEnsemble"]
