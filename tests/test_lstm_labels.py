"""Forward-only LSTM labels (the default) beside DeepLOB's smoothed ones: by hand, the part of a
smoothed label known at t on a random walk (where nothing is predictable), the live guard scoring
against the model's own kind of label, and `evaluate` reporting both with the realised part."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from scalp_nautilus.cli import main
from scalp_nautilus.indicators.settings import LSTMSettings
from scalp_nautilus.models import LSTMPredictor
from scalp_nautilus.models.dataset import Segment
from scalp_nautilus.models.dataset import build_samples
from scalp_nautilus.models.labels import forward_moves
from scalp_nautilus.models.labels import label_moves
from scalp_nautilus.models.labels import smoothed_moves
from scalp_nautilus.models.model_file import load_model
from scalp_nautilus.models.model_file import save_model
from scalp_nautilus.models.net import LOBNet
from scalp_nautilus.models.settings import TrainSettings
from tests.test_lstm import MS
from tests.test_lstm import QUICK_BOOT
from tests.test_lstm import SIM_ALPHA
from tests.test_lstm import simulated
from tests.test_lstm import write_features


def test_forward_labels_by_hand():
    mid = np.array([100.0, 100.0, 101.0, 103.0, 102.0, 102.0])
    # k = 2: t=0 m+ = 100.5; t=1 m+ = 102; t=2 m+ = 102.5; t=3 m+ = 102; t=4, 5: m+ leaves the array
    expected = [0.5 / 100, 2 / 100, 1.5 / 101, -1 / 103, np.nan, np.nan]
    np.testing.assert_allclose(forward_moves(mid, 2), expected, rtol=1e-12)
    moves, realised = label_moves(mid, 2, "forward")
    np.testing.assert_allclose(moves, expected, rtol=1e-12)
    np.testing.assert_allclose(realised, smoothed_moves(mid, 2)[1], rtol=1e-12)
    assert TrainSettings().labels == "forward"
    with pytest.raises(ValueError, match="labels must be one of"):
        label_moves(mid, 2, "deeplob")
    with pytest.raises(ValueError, match="labels must be one of"):
        TrainSettings(labels="deeplob")


def test_both_kinds_label_the_same_samples_and_only_smoothed_ones_are_known_at_t():
    """On a random walk nothing about the future is known at t. The smoothed label's realised part
    still agrees in sign with the smoothed label most of the time; with the forward label it agrees
    half the time, as it must."""
    rng = np.random.default_rng(4)
    n, k = 40_000, 50
    mid = 100 * np.exp(np.cumsum(rng.normal(0, 1e-4, n)))
    seg = Segment("walk", np.arange(n, dtype=np.int64) * MS, mid, np.zeros(n), np.zeros((n, 21), np.float32))
    fwd = build_samples([seg], 10, k, 0.0, "forward")
    smo = build_samples([seg], 10, k, 0.0, "smoothed")
    np.testing.assert_array_equal(fwd.ends, smo.ends)
    np.testing.assert_array_equal(fwd.realised, smo.realised)
    t = fwd.ends
    np.testing.assert_allclose(fwd.moves, forward_moves(mid, k)[t], rtol=1e-12)
    np.testing.assert_allclose(smo.moves, smoothed_moves(mid, k)[0][t], rtol=1e-12)
    agree = {kind: np.mean(np.sign(s.realised) == np.sign(s.moves)) for kind, s in (("forward", fwd), ("smoothed", smo))}
    se = 0.5 / np.sqrt(n / (2 * k))  # ~ independent label spans
    assert agree["smoothed"] > 0.65
    assert abs(agree["forward"] - 0.5) < 4 * se


def _up_model(path, seq_len: int, horizon: int, labels: str | None):
    """A network that ignores its input and always calls up (P(up) = 0.987)."""
    net = LOBNet()
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
        net.heads.bias.copy_(torch.tensor((0.0, 0.0, 5.0, 0.0, 0.0)))
    meta = {"seq_len": seq_len, "horizon": horizon, "alpha": 1e-5, "majority_class": 1}
    if labels is not None:
        meta["labels"] = {"kind": labels}
    return save_model(path, net, meta)


def test_guard_scores_against_the_models_own_labels(tmp_path):
    """A saw-tooth 101, 103, 101, ... with k = 2: the smoothed move after any update is 0 (the mean
    of the next two equals the mean of the last two: never scored); the forward move is +1 after
    101 (right for an up call) and -1 after 103 (wrong): half right."""
    mids = np.tile([101.0, 103.0], 60)
    vectors = np.zeros((len(mids), 21))
    scores = {}
    for labels in ("forward", "smoothed", None):
        path = _up_model(tmp_path / f"{labels}.pt", 2, 2, labels)
        assert load_model(path).labels == (labels or "smoothed")  # files from before the option: smoothed
        p = LSTMPredictor(LSTMSettings(model_path=str(path), cadence_ms=0.0, accuracy_window=1000), seq_len=2)
        for i, (v, m) in enumerate(zip(vectors, mids)):
            p.update_raw(v, m, i * MS)
        scores[labels] = (p.scored_calls, p.accuracy)
    assert scores["forward"][0] > 100 and scores["forward"][1] == pytest.approx(0.5, abs=0.01)
    assert scores["smoothed"][0] == 0 and scores[None][0] == 0


def test_evaluate_reports_both_kinds_with_the_realised_part(tmp_path, capsys):
    x, mid = simulated(2500, seed=3)
    train_file = write_features(tmp_path / "train.parquet", x, mid)
    x2, mid2 = simulated(900, seed=4)
    later = write_features(tmp_path / "later.parquet", x2, mid2, ts=10**12 + np.arange(900, dtype=np.int64) * 50 * MS)
    for labels in ("forward", "smoothed"):
        out = tmp_path / f"{labels}.pt"
        assert (
            main(
                [
                    "train",
                    "--features",
                    str(train_file),
                    "--out",
                    str(out),
                    "--seq-len",
                    "8",
                    "--horizon",
                    "3",
                    "--alpha",
                    str(SIM_ALPHA),
                    "--epochs",
                    "1",
                    "--batch-size",
                    "128",
                    "--labels",
                    labels,
                    *QUICK_BOOT,
                ]
            )
            == 0
        )
        assert load_model(out).metadata["labels"]["kind"] == labels
        capsys.readouterr()
        args = ["evaluate", "--model", str(out), "--features", str(later), "--json", str(tmp_path / "e.json"), *QUICK_BOOT]
        assert main(args) == 0
        text = capsys.readouterr().out
        report = json.loads((tmp_path / "e.json").read_text())
        assert report["labels"] == labels and set(report["by_labels"]) == {"forward", "smoothed"}
        assert "against forward labels" in text and "against smoothed labels" in text and f"{labels} labels" in text
        # the model's own kind is the headline; both kinds score the same samples
        assert report["by_labels"][labels]["model"] == report["model"]
        for by in report["by_labels"].values():
            assert by["realised_part"]["n"] == report["samples"]
    # the realised part against the labels it was built from: far above chance only for smoothed ones
    by = report["by_labels"]
    assert by["smoothed"]["realised_part"]["accuracy"] > by["forward"]["realised_part"]["accuracy"]
