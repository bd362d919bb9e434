"""The LSTM on the real Binance captures: train on the earlier BTCUSDT captures, evaluate on the
latest, and run the trained model inside the feature pipeline.

The captures are minutes long (about 12k, 2.6k and 2.6k samples in the train / validation / test
spans and 4k in the later capture, heavily overlapping windows), so the scores are printed, not
asserted: what is asserted is what must hold whatever the market did (the split, the sample
counts, the report's contents, the streaming predictor agreeing with the batch evaluation).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scalp_nautilus.indicators.settings import LSTMSettings
from scalp_nautilus.models import LSTMPredictor
from scalp_nautilus.models.dataset import LOB_COLUMNS
from scalp_nautilus.models.dataset import SPLITS
from scalp_nautilus.models.dataset import build_samples
from scalp_nautilus.models.dataset import read_features
from scalp_nautilus.models.model_file import load_model
from scalp_nautilus.models.settings import TrainSettings
from scalp_nautilus.models.training import direction_calls
from scalp_nautilus.models.training import evaluate
from scalp_nautilus.models.training import format_report
from scalp_nautilus.models.training import learning_curve_lines
from scalp_nautilus.models.training import predict_samples
from scalp_nautilus.models.training import train
from tests.support.captures import load
from tests.support.captures import record

pytestmark = [pytest.mark.real_data, pytest.mark.slow]

TRAIN = ("usdm_2023_04", "usdm_2024_07")
LATEST = "usdm_2024_08"
# The defaults (seq_len 50, horizon 50 batches, alpha 0.2 bp), with few epochs to keep the suite
# short: on these captures the validation loss is lowest after the first epoch or two anyway.
SETTINGS = TrainSettings(epochs=4, patience=2)


@pytest.fixture(scope="module")
def recordings(capture_paths, tmp_path_factory):
    folder = tmp_path_factory.mktemp("features")
    return {name: record(load(name, tuple(capture_paths(name))), folder / f"{name}.parquet") for name in (*TRAIN, LATEST)}


@pytest.fixture(scope="module")
def trained(recordings, tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "btcusdt.pt"
    return path, train([recordings[name] for name in TRAIN], path, SETTINGS)


def warm_rows(path) -> int:
    """Rows from the first non-zero LOB vector on (the pipeline feeds the LSTM from there)."""
    lob = pd.read_parquet(path, columns=list(LOB_COLUMNS)).to_numpy()
    return len(lob) - int(np.argmax(np.any(lob != 0.0, axis=1)))


def test_train_on_earlier_captures_evaluate_on_the_latest(recordings, trained):
    path, meta = trained
    spans = meta["training"]["spans"]
    need = max(SETTINGS.seq_len, SETTINGS.horizon) - 1 + SETTINGS.horizon  # rows a piece spends on its edges
    pieces = [piece for name in SPLITS for piece in spans[name]["pieces"]]
    assert {p["file"] for p in pieces} == {str(recordings[name]) for name in TRAIN}
    embargoed = 2 * meta["training"]["embargo_rows"]  # after the train and the validation cuts
    assert sum(p["rows"] for p in pieces) + embargoed == sum(warm_rows(recordings[name]) for name in TRAIN)
    for a, b in zip(pieces, pieces[1:]):  # train, then validation, then test: in time order, disjoint
        assert a["last_ts"] < b["first_ts"]
    for piece in pieces:
        assert piece["samples"] == max(piece["rows"] - need, 0)
    assert spans["validation"]["pieces"][0]["file"] == spans["test"]["pieces"][-1]["file"] == str(recordings[TRAIN[-1]])

    (latest,) = read_features([recordings[LATEST]])
    assert pieces[-1]["last_ts"] < latest.ts[0]  # the evaluation data comes after everything trained on
    report = evaluate(path, [recordings[LATEST]])
    assert report["samples"] == warm_rows(recordings[LATEST]) - need
    assert sum(report["class_counts"].values()) == report["samples"]
    for key in ("model", "majority", "ofi_sign", "realised_part"):
        assert np.sum(report[key]["confusion"]) == report["samples"]
        assert 0.0 <= report[key]["accuracy"] <= 1.0 and 0.0 <= report[key]["macro_f1"] <= 1.0
    stored = load_model(path).metadata
    assert stored["scores"]["test"]["model"] == meta["scores"]["test"]["model"]
    assert {"torch", "numpy", "nautilus_trader", "python"} <= set(stored["versions"])
    assert report["time_check"].startswith("held out in time: yes")
    assert set(report["judged"]["baselines"]) == {"ofi_sign", "majority"}

    t = meta["training"]
    print(
        f"\ntrained on {' + '.join(TRAIN)}: {t['parameters']} parameters, best epoch {t['best_epoch']} of "
        f"{len(t['history'])}; spans "
        + "; ".join(f"{n} {spans[n]['first']} -> {spans[n]['last']} ({spans[n]['samples']} samples)" for n in SPLITS)
    )
    print(format_report("validation span (early stopping)", meta["scores"]["validation"]))
    print(format_report(f"held-out test span (end of {TRAIN[-1]})", meta["scores"]["test"]))
    print(format_report(f"evaluation on the later capture {LATEST}", report))
    print("\n".join(learning_curve_lines(meta)))


def test_model_in_the_pipeline_matches_the_batch_evaluation(recordings, trained, capture_paths, tmp_path):
    """The pipeline's streaming predictor, one book batch at a time, gives the batch evaluation's
    outputs on the same windows, and its accuracy guard scores the calls as `direction_calls`."""
    path, _ = trained
    lstm = LSTMPredictor(
        LSTMSettings(model_path=str(path), cadence_ms=0.0, accuracy_window=10**6, min_accuracy=0.0)
    )  # the guard only counts
    recorded = record(load(LATEST, tuple(capture_paths(LATEST))), tmp_path / "with_model.parquet", lstm)
    frame = pd.read_parquet(recorded)
    (segment,) = read_features([recorded])
    model = load_model(path)
    samples = build_samples([segment], model.seq_len, model.horizon, model.alpha)
    out = predict_samples(model.net, samples)
    rows = segment.cold_rows + samples.ends
    assert frame["lstm_active"].to_numpy()[rows].all()
    np.testing.assert_allclose(frame["lstm_direction"].to_numpy()[rows], out[:, 2] - out[:, 0], atol=1e-5)
    np.testing.assert_allclose(frame["lstm_confidence"].to_numpy()[rows], out[:, 3], atol=1e-5)
    np.testing.assert_allclose(frame["lstm_volatility"].to_numpy()[rows] * 1e4, out[:, 4], rtol=1e-4)
    assert lstm.predictions == len(segment) - model.seq_len + 1
    calls = direction_calls(out[:, :3].argmax(axis=1), samples.moves)
    assert lstm.scored_calls == calls["scored"]
    assert lstm.accuracy == pytest.approx(calls["hit_rate"], abs=1e-12)
    print(
        f"\nlive guard on {LATEST}: {lstm.scored_calls} scored direction calls, accuracy {lstm.accuracy:.3f}; "
        f"over windows of {calls['window']} calls from {calls['rolling_min']:.3f} to {calls['rolling_max']:.3f} "
        f"(the default guard switches the model off below 0.52)"
    )
