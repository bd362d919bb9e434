"""The LSTM layer on small synthetic data: network shapes, labels, samples and the split, the model
file and its refusals, the predictor's cadence, fallback and accuracy guard, the learning check,
determinism and the command line."""

from __future__ import annotations

import json
import logging
import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from scalp_nautilus.cli import main
from scalp_nautilus.indicators.lob_vector import LOB_FEATURE_NAMES
from scalp_nautilus.indicators.settings import LSTMSettings
from scalp_nautilus.models import LSTMPredictor
from scalp_nautilus.models.dataset import LOB_COLUMNS
from scalp_nautilus.models.dataset import Segment
from scalp_nautilus.models.dataset import build_samples
from scalp_nautilus.models.dataset import read_features
from scalp_nautilus.models.dataset import split_by_time
from scalp_nautilus.models.labels import label_classes
from scalp_nautilus.models.labels import move_sign
from scalp_nautilus.models.labels import realised_vol
from scalp_nautilus.models.labels import smoothed_moves
from scalp_nautilus.models.model_file import FORMAT
from scalp_nautilus.models.model_file import ModelFileError
from scalp_nautilus.models.model_file import load_model
from scalp_nautilus.models.model_file import save_model
from scalp_nautilus.models.net import LOBNet
from scalp_nautilus.models.net import parameter_count
from scalp_nautilus.models.settings import Architecture
from scalp_nautilus.models.settings import TrainSettings
from scalp_nautilus.models.training import direction_calls
from scalp_nautilus.models.training import judge
from scalp_nautilus.models.training import reliability
from scalp_nautilus.models.training import scores
from scalp_nautilus.models.training import train
from scalp_nautilus.research.intervals import BootstrapSettings

MS = 1_000_000


# ---------------------------------------------------------------------- helpers


def write_features(path, lob: np.ndarray, mid: np.ndarray, ts: np.ndarray | None = None, ofi=None):
    """A recording with only the columns training reads (the recorder writes many more)."""
    n = len(mid)
    columns = {
        "ts_event": np.arange(n, dtype=np.int64) * 50 * MS if ts is None else ts,
        "mid": mid,
        "ofi": np.zeros(n) if ofi is None else ofi,
    }
    columns.update({c: lob[:, i].astype(np.float64) for i, c in enumerate(LOB_COLUMNS)})
    pq.write_table(pa.table(columns), path)
    return path


def simulated(n: int, seed: int, shuffle: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """LOB vectors x_t ~ N(0, 1) and a mid whose next step is 1e-4 * s_t, s_t = x_t[0] - x_{t-3}[5].

    With horizon k = 1 the smoothed label of t is the class of l(t) = 1e-4 s_t exactly: a known
    function of the last four vectors. `shuffle` permutes s first, so the labels keep their mix
    but say nothing about the vectors.
    """
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 21)).astype(np.float32)
    s = np.zeros(n)
    s[3:] = x[3:, 0] - x[:-3, 5]
    if shuffle:
        s = rng.permutation(s)
    mid = 100.0 * np.cumprod(np.concatenate(([1.0], 1.0 + 1e-4 * s[:-1])))
    return x, mid


# s ~ N(0, 2): |s| < 0.4307 * sqrt(2) = 0.609 has probability 1/3, so down / flat / up are 1/3 each.
SIM_ALPHA = 0.609e-4
QUICK = BootstrapSettings(min_reps=300, max_reps=300)  # the intervals' machinery; their precision is tested elsewhere
QUICK_BOOT = ["--boot", "300", "--max-boot", "300"]
SIM_SETTINGS = TrainSettings(seq_len=8, horizon=1, alpha=SIM_ALPHA, epochs=15, patience=3, batch_size=128, lr=3e-3)


def constant_model(path, seq_len: int, horizon: int, bias=(0.0, 0.0, 5.0, 0.0, 0.0)):
    """A model file whose network ignores its input: all weights 0, the heads' biases given
    (default: P(up) = e^5 / (2 + e^5) = 0.987, always an up call)."""
    net = LOBNet()
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
        net.heads.bias.copy_(torch.tensor(bias))
    return save_model(path, net, {"seq_len": seq_len, "horizon": horizon, "alpha": 1e-5, "majority_class": 1})


def random_model(path, seq_len: int, horizon: int = 3, seed: int = 0):
    torch.manual_seed(seed)
    return save_model(path, LOBNet(), {"seq_len": seq_len, "horizon": horizon, "alpha": 1e-5, "majority_class": 1})


# ---------------------------------------------------------------------- network and labels


def test_network_shapes_ranges_and_size():
    net = LOBNet().eval()
    for seq_len in (1, 8, 50):
        x = torch.randn(5, seq_len, 21) * 3
        assert net(x).shape == (5, 5)
        out = net.predict(x)
        assert torch.allclose(out[:, :3].sum(dim=1), torch.ones(5))
        assert ((out[:, 3] >= 0) & (out[:, 3] <= 1)).all() and (out[:, 4] >= 0).all()
    # By hand: 1x1 conv 21*32+32, two time convs 2*(32*32*4+32), LSTM 4*64*(32+64) + 2*4*64, heads 64*5+5.
    assert parameter_count(net) == (21 * 32 + 32) + 2 * (32 * 32 * 4 + 32) + (4 * 64 * 96 + 2 * 4 * 64) + (64 * 5 + 5)
    # the whole window reaches the output: its oldest vector and its latest
    x = torch.randn(1, 8, 21)
    for step in (0, -1):
        y = x.clone()
        y[0, step] += 1.0
        assert not torch.allclose(net(x), net(y))


def test_smoothed_labels_by_hand():
    mid = np.array([100.0, 100.0, 101.0, 103.0, 102.0, 102.0])
    moves, realised = smoothed_moves(mid, 2)
    # t=1: m- = (100+100)/2, m+ = (101+103)/2; t=2: m- = 100.5, m+ = 102.5; t=3: m- = 102, m+ = 102
    expected = [np.nan, 2 / 100, 2 / 100.5, 0.0, np.nan, np.nan]
    np.testing.assert_allclose(moves, expected, rtol=1e-12)
    np.testing.assert_allclose(realised, [np.nan, 0.0, 0.5 / 100.5, 1 / 102, np.nan, np.nan], rtol=1e-12)
    assert label_classes(np.array([0.02, -0.02, 0.005, -0.005]), 0.01).tolist() == [2, 0, 1, 1]
    assert move_sign(np.array([1e-13, -1e-13, 2e-12, -0.5])).tolist() == [0, 0, 1, -1]
    r = np.diff(np.log(mid))
    np.testing.assert_allclose(
        realised_vol(mid, 2)[:4], [math.hypot(r[0], r[1]), math.hypot(r[1], r[2]), math.hypot(r[2], r[3]), math.hypot(r[3], r[4])]
    )
    assert np.isnan(realised_vol(mid, 2)[4:]).all()


def test_scores_and_direction_calls_by_hand():
    s = scores(np.array([0, 1, 2, 2]), np.array([0, 2, 2, 1]))
    # confusion rows true, columns predicted; F1 down 1, flat 0, up 2*1/(2+2)
    assert s["confusion"] == [[1, 0, 0], [0, 0, 1], [0, 1, 1]] and s["accuracy"] == 0.5
    assert s["macro_f1"] == pytest.approx((1 + 0 + 0.5) / 3)
    s = scores(np.array([0, 0]), np.array([0, 2]))  # flat neither true nor predicted: left out
    assert s["f1"] == {"down": pytest.approx(2 / 3), "up": 0.0} and s["macro_f1"] == pytest.approx(1 / 3)
    # calls +1, -1, 0, +1, +1 against moves up, up, up, down, none: scored 0, 1, 3 -> right, wrong, wrong
    d = direction_calls(np.array([2, 0, 1, 2, 2]), np.array([1e-4, 1e-4, 1e-4, -1e-4, 0.0]), window=2)
    assert (d["calls"], d["scored"], d["hit_rate"]) == (4, 3, pytest.approx(1 / 3))
    assert (d["rolling_min"], d["rolling_max"]) == (0.0, 0.5)


def segment(name: str, n: int, start_ns: int) -> Segment:
    rng = np.random.default_rng(n)
    return Segment(
        name,
        start_ns + np.arange(n, dtype=np.int64) * MS,
        100 + np.cumsum(rng.normal(0, 0.01, n)),
        rng.normal(size=n),
        rng.normal(size=(n, 21)).astype(np.float32),
    )


def test_split_by_time_and_no_window_crosses_a_boundary():
    segs = [segment("b", 300, 10_000 * MS), segment("a", 500, 0)]
    segs.sort(key=lambda s: s.ts[0])
    pieces = split_by_time(segs, 0.2, 0.1)
    # 800 rows: train rows 0..559 (a: 500, b: 60), validation 560..719 (b), test 720..799 (b)
    assert [(p.source, len(p)) for p in pieces["train"]] == [("a", 500), ("b", 60)]
    assert [(p.source, len(p)) for p in pieces["validation"]] == [("b", 160)]
    assert [(p.source, len(p)) for p in pieces["test"]] == [("b", 80)]
    assert pieces["train"][-1].ts[-1] < pieces["validation"][0].ts[0] < pieces["test"][0].ts[0]
    seq_len, k = 20, 7
    samples = build_samples(pieces["train"], seq_len, k, 1e-5)
    # per piece: rows - (max(seq_len, k) - 1) - k samples
    assert [s["samples"] for s in samples.spans] == [500 - 19 - 7, 60 - 19 - 7]
    # every window and both label means stay inside their piece (piece 2 starts at row 500)
    for end in samples.ends:
        lo, hi = (0, 500) if end < 500 else (500, 560)
        assert lo <= end - seq_len + 1 and end - k + 1 >= lo and end + k < hi
    windows = samples.windows(np.arange(len(samples)))
    assert windows.shape == (len(samples), seq_len, 21)
    np.testing.assert_array_equal(windows[0, -1], pieces["train"][0].lob[samples.ends[0]])
    overlapping = [segment("c", 100, 0), segment("d", 100, 50 * MS)]
    with pytest.raises(ValueError, match="overlap in time"):
        split_by_time(overlapping, 0.2, 0.1)


def test_read_features_drops_the_cold_prefix_and_refuses_bad_files(tmp_path):
    lob = np.random.default_rng(0).normal(size=(50, 21))
    lob[:7] = 0.0  # the LOB vector before it is warm
    mid = np.full(50, 100.0)
    (seg,) = read_features([write_features(tmp_path / "ok.parquet", lob, mid)])
    assert len(seg) == 43 and seg.cold_rows == 7
    bad = mid.copy()
    bad[20] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        read_features([write_features(tmp_path / "nan.parquet", lob, bad)])
    with pytest.raises(ValueError, match="backwards"):
        read_features([write_features(tmp_path / "back.parquet", lob, mid, ts=np.arange(50)[::-1].copy())])
    pq.write_table(pa.table({"ts_event": np.arange(3), "mid": np.ones(3)}), tmp_path / "short.parquet")
    with pytest.raises(ValueError, match="lacks columns"):
        read_features([tmp_path / "short.parquet"])
    (tmp_path / "junk.parquet").write_bytes(b"not parquet")
    with pytest.raises(ValueError, match="not readable"):
        read_features([tmp_path / "junk.parquet"])
    with pytest.raises(FileNotFoundError):
        read_features([tmp_path / "missing.parquet"])


# ---------------------------------------------------------------------- model file


def test_model_file_round_trip(tmp_path):
    torch.manual_seed(3)
    net = LOBNet(Architecture(channels=8, hidden=16)).eval()
    save_model(
        tmp_path / "m.pt", net, {"seq_len": 12, "horizon": 4, "alpha": 3e-5, "majority_class": 2, "scores": {"anything": [1, 2]}}
    )
    loaded = load_model(tmp_path / "m.pt", seq_len=12)
    assert (loaded.seq_len, loaded.horizon, loaded.alpha) == (12, 4, 3e-5)
    assert loaded.metadata["layout"] == list(LOB_FEATURE_NAMES) and loaded.metadata["scores"] == {"anything": [1, 2]}
    assert set(loaded.metadata["architecture"].values()) >= {8, 16}
    assert loaded.net.state_dict().keys() == net.state_dict().keys()
    for name, tensor in net.state_dict().items():
        assert torch.equal(tensor, loaded.net.state_dict()[name])
    x = torch.randn(3, 12, 21)
    assert torch.equal(net.predict(x), loaded.net.predict(x))
    assert not list(tmp_path.glob("*.tmp"))  # written through a temporary file, then renamed


class Payload:  # not a plain type: weights_only loading must refuse to build it
    pass


def test_damaged_and_mismatched_files_are_refused(tmp_path):
    good = random_model(tmp_path / "good.pt", seq_len=10)
    data = good.read_bytes()
    (tmp_path / "truncated.pt").write_bytes(data[: len(data) // 2])
    (tmp_path / "garbage.pt").write_bytes(np.random.default_rng(0).bytes(4096))
    # one flipped byte inside the stored bytes of a tensor
    bias = load_model(good).net.heads.bias.detach().numpy().tobytes()
    at = data.find(bias)
    assert at > 0
    flipped = bytearray(data)
    flipped[at + 1] ^= 0xFF
    (tmp_path / "flipped.pt").write_bytes(bytes(flipped))
    torch.save({"format": FORMAT, "version": 1, "thing": Payload()}, tmp_path / "object.pt")

    def rewrite(name, **change):
        payload = torch.load(good, weights_only=True)
        meta = json.loads(payload["metadata"])
        meta.update(change.pop("meta", {}))
        payload.update(metadata=json.dumps(meta), **change)
        torch.save(payload, tmp_path / name)

    rewrite("layout.pt", meta={"layout": list(reversed(LOB_FEATURE_NAMES))})
    rewrite("short_layout.pt", meta={"layout": list(LOB_FEATURE_NAMES[:20])})
    rewrite("version.pt", version=2)
    rewrite("arch.pt", meta={"architecture": {"n_features": 21, "channels": 16, "kernel": 4, "hidden": 64}})
    rewrite("seq_text.pt", meta={"seq_len": "fifty"})
    rewrite("no_alpha.pt", meta={"alpha": None})
    torch.save({"x": torch.zeros(2)}, tmp_path / "other.pt")
    cases = {
        "missing.pt": "no such file",
        "truncated.pt": "not a readable model file",
        "garbage.pt": "not a readable model file",
        "flipped.pt": None,  # the zip's own check or the weights' checksum, whichever sees it first
        "object.pt": "not a readable model file",
        "layout.pt": "feature layout differs",
        "short_layout.pt": "feature layout differs",
        "version.pt": "format version 2",
        "arch.pt": "do not fit the architecture",
        "other.pt": "not a scalp_nautilus.lstm model file",
        "seq_text.pt": "damaged metadata",
        "no_alpha.pt": "damaged metadata",
    }
    for name, message in cases.items():
        with pytest.raises(ModelFileError, match=message) as err:
            load_model(tmp_path / name)
        assert str(tmp_path / name) in str(err.value)
    with pytest.raises(ModelFileError, match="seq_len=20"):
        load_model(good, seq_len=20)


def test_a_file_with_python_objects_is_refused_without_torchs_unsafe_advice(tmp_path):
    """Issue 15, defect 11: the error quoted torch's advice to reload with `weights_only=False`
    (arbitrary code execution), which the project must never do. The reason stays."""
    path = tmp_path / "object.pt"
    torch.save({"format": FORMAT, "version": 1, "thing": Payload()}, path)
    with pytest.raises(ModelFileError) as err:
        load_model(path)
    message = str(err.value)
    assert str(path) in message and "Payload" in message  # what is in the file that may not be
    for advice in ("weights_only", "safe_globals", "trust", "arbitrary code"):
        assert advice not in message, message
    assert "\n" not in message  # one line


# ---------------------------------------------------------------------- the predictor


def feed(predictor: LSTMPredictor, vectors: np.ndarray, mids, step_ns: int = 30 * MS) -> list[float]:
    return [predictor.update_raw(v, m, i * step_ns) for i, (v, m) in enumerate(zip(vectors, mids))]


def test_unusable_file_runs_the_fallback_and_says_so_once(tmp_path, caplog):
    (tmp_path / "bad.pt").write_bytes(b"\x00" * 100)
    vectors = np.random.default_rng(1).normal(size=(20, 21))
    for path in (tmp_path / "bad.pt", tmp_path / "missing.pt"):
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            p = LSTMPredictor(LSTMSettings(model_path=str(path), cadence_ms=0.0), seq_len=5)
            feed(p, vectors, np.full(20, 100.0))
        assert not p.active and p.model is None and p.initialized
        assert p.value == pytest.approx(math.tanh(vectors[-1].mean())) and p.confidence == 0.0 and p.volatility == 0.0
        fallback_lines = [r for r in caplog.records if "fallback" in r.getMessage()]
        assert len(fallback_lines) == 1 and str(path) in fallback_lines[0].getMessage()
    random_model(tmp_path / "ten.pt", seq_len=10)
    assert not LSTMPredictor(
        LSTMSettings(model_path=str(tmp_path / "ten.pt"), cadence_ms=0.0), seq_len=5
    ).active  # seq_len must match


def test_model_outputs_and_bad_input(tmp_path):
    random_model(tmp_path / "m.pt", seq_len=6)
    p = LSTMPredictor(LSTMSettings(model_path=str(tmp_path / "m.pt"), cadence_ms=0.0), seq_len=6)
    assert p.active and not p.initialized
    vectors = np.random.default_rng(2).normal(size=(10, 21))
    feed(p, vectors[:5], np.full(5, 100.0))
    assert p.value == 0.0 and p.predictions == 0  # no prediction before seq_len vectors
    feed(p, vectors[5:], np.full(5, 100.0))
    assert p.initialized and p.predictions == 5
    with torch.inference_mode():
        expected = load_model(tmp_path / "m.pt").net.predict(torch.from_numpy(vectors[-6:].astype(np.float32))[None])[0]
    assert p.value == pytest.approx(float(expected[2] - expected[0]), abs=1e-6)
    assert p.confidence == pytest.approx(float(expected[3]), abs=1e-6)
    assert p.volatility == pytest.approx(float(expected[4]) / 1e4, rel=1e-5)
    held = (p.value, p.confidence, p.volatility, p.predictions)
    nan_vector = vectors[0].copy()
    nan_vector[3] = np.nan
    p.update_raw(nan_vector, 100.0, 10**10)
    p.update_raw(np.zeros(20), 100.0, 10**10)
    p.update_raw(vectors[0], float("nan"), 10**10)
    p.update_raw(vectors[0], 0.0, 10**10)
    assert (p.value, p.confidence, p.volatility, p.predictions) == held
    assert sum(p.skips.counts.values()) == 4 and len(p.skips.counts) == 3


def test_cadence_in_event_time(tmp_path):
    random_model(tmp_path / "m.pt", seq_len=4)
    vectors = np.random.default_rng(4).normal(size=(40, 21))
    every = LSTMPredictor(LSTMSettings(model_path=str(tmp_path / "m.pt"), cadence_ms=0.0), seq_len=4)
    feed(every, vectors, np.full(40, 100.0))
    assert every.predictions == 40 - 4 + 1
    # updates every 30 ms, at most one prediction per 100 ms: the first at the 4th update (90 ms),
    # then at 210, 330, ... ms: every 4th update, 10 in all
    paced = LSTMPredictor(LSTMSettings(model_path=str(tmp_path / "m.pt"), cadence_ms=100.0), seq_len=4)
    values = feed(paced, vectors, np.full(40, 100.0))
    assert paced.predictions == 10
    changes = [i + 1 for i in range(1, 40) if values[i] != values[i - 1]]
    assert changes == list(range(4, 41, 4))  # 1-based updates where the output moved


def test_accuracy_guard_switches_off_and_reload_switches_on(tmp_path, caplog):
    seq_len, k, window = 4, 3, 10
    path = constant_model(tmp_path / "up.pt", seq_len, k)
    p = LSTMPredictor(
        LSTMSettings(model_path=str(path), cadence_ms=0.0, accuracy_window=window, min_accuracy=0.52), seq_len=seq_len
    )
    vectors = np.random.default_rng(5).normal(size=(60, 21))
    falling = 100.0 - 0.1 * np.arange(60)
    # Calls from update 4 (seq_len, and k mids known); each scored k updates later (from update 7);
    # the window is full of wrong calls at update 4 + 3 + 10 - 1 = 16: off from there on.
    with caplog.at_level(logging.WARNING):
        for i in range(16):
            p.update_raw(vectors[i], falling[i], i * MS)
            assert p.active == (i < 15), i
    assert p.value == pytest.approx(math.tanh(vectors[15].mean()))
    assert caplog.text.count("switched off") == 1 and "0.000 over the last 10" in caplog.text
    feed(p, vectors[16:30], falling[16:30])
    assert not p.active and p.predictions == 12 and caplog.text.count("fallback") == 1
    assert p.reload() and p.active and math.isnan(p.accuracy)
    rising = 100.0 + 0.1 * np.arange(60)
    for i in range(30, 60):
        p.update_raw(vectors[i], rising[i], i * MS)
    assert p.active and p.accuracy == 1.0 and p.scored_calls == window
    assert p.value == pytest.approx((math.exp(5) - 1) / (math.exp(5) + 2), abs=1e-6)  # P(up) - P(down)


def test_guard_keeps_a_model_at_the_threshold(tmp_path):
    """Right and wrong calls alternating give 50 %: off at min_accuracy 0.52, on at 0.5."""
    seq_len, k = 2, 1
    path = constant_model(tmp_path / "up.pt", seq_len, k)
    mids = 100.0 + 0.1 * (np.arange(80) % 2)  # with k = 1 the move after each call alternates -/+
    vectors = np.zeros((80, 21))
    strict = LSTMPredictor(
        LSTMSettings(model_path=str(path), cadence_ms=0.0, accuracy_window=20, min_accuracy=0.52), seq_len=seq_len
    )
    lenient = LSTMPredictor(
        LSTMSettings(model_path=str(path), cadence_ms=0.0, accuracy_window=20, min_accuracy=0.5), seq_len=seq_len
    )
    feed(strict, vectors, mids)
    feed(lenient, vectors, mids)
    assert not strict.active and lenient.active and lenient.accuracy == 0.5


# ---------------------------------------------------------------------- training


@pytest.mark.slow
def test_learning_check_known_function_and_shuffled_labels(tmp_path):
    """On labels that are a function of the last four vectors, the held-out accuracy must be high
    (>= 0.85; chance is 1/3). On the same data with the labels permuted, nothing carries over from
    the inputs to the held-out labels: any classifier's expected accuracy is then the share of
    the classes it predicts, at most the largest class share (1/3 by construction, +- its
    sampling error 0.016 on ~890 samples), so it must stay below 0.42 (5 standard errors)."""
    for shuffle in (False, True):
        x, mid = simulated(6000, seed=1, shuffle=shuffle)
        meta = train(
            [write_features(tmp_path / f"sim{shuffle}.parquet", x, mid)], tmp_path / f"sim{shuffle}.pt", SIM_SETTINGS, QUICK
        )
        test = meta["scores"]["test"]
        print(
            f"\nshuffled={shuffle}: held-out accuracy {test['model']['accuracy']:.3f}, macro-F1 "
            f"{test['model']['macro_f1']:.3f} on {test['samples']} samples (best epoch "
            f"{meta['training']['best_epoch']}); majority {test['majority']['accuracy']:.3f}"
        )
        if shuffle:
            assert 0.25 < test["model"]["accuracy"] < 0.42 and test["model"]["macro_f1"] < 0.42
        else:
            assert test["model"]["accuracy"] >= 0.85 and test["model"]["macro_f1"] >= 0.85
            assert test["majority"]["accuracy"] < 0.4


def test_training_is_deterministic_and_refuses_too_little_data(tmp_path):
    x, mid = simulated(1500, seed=2)
    path = write_features(tmp_path / "sim.parquet", x, mid)
    settings = TrainSettings(seq_len=8, horizon=1, alpha=SIM_ALPHA, epochs=2, batch_size=128)
    a = train([path], tmp_path / "a.pt", settings, QUICK)
    b = train([path], tmp_path / "b.pt", settings, QUICK)
    sha = [load_model(tmp_path / name).metadata["weights_sha256"] for name in ("a.pt", "b.pt")]
    assert sha[0] == sha[1]
    assert json.dumps(a["scores"]) == json.dumps(b["scores"])  # (as text: NaN != NaN)
    with pytest.raises(ValueError, match="no complete sample"):
        train([path], tmp_path / "c.pt", TrainSettings(seq_len=300, horizon=1, epochs=1))


def test_train_and_evaluate_commands(tmp_path, capsys):
    x, mid = simulated(2000, seed=3)
    train_file = write_features(tmp_path / "train.parquet", x, mid)
    x2, mid2 = simulated(800, seed=4)
    later = write_features(tmp_path / "later.parquet", x2, mid2, ts=10**12 + np.arange(800, dtype=np.int64) * 50 * MS)
    out = tmp_path / "models" / "sim.pt"
    rc = main(
        [
            "train",
            "--features",
            str(train_file),
            "--out",
            str(out),
            "--seq-len",
            "8",
            "--horizon",
            "1",
            "--alpha",
            str(SIM_ALPHA),
            "--epochs",
            "2",
            "--batch-size",
            "128",
            *QUICK_BOOT,
        ]
    )
    text = capsys.readouterr().out
    assert rc == 0 and out.is_file()
    assert "learning curves (per epoch)" in text and "<- kept" in text
    for part in ("held-out test span", "validation span", "baseline: majority", "baseline: sign of OFI", "macro-F1", "confusion"):
        assert part in text
    predictions = tmp_path / "pred.csv"
    args = ["--features", str(later), "--json", str(tmp_path / "ev.json"), "--predictions", str(predictions)]
    rc = main(["evaluate", "--model", str(out), *args, *QUICK_BOOT])
    text = capsys.readouterr().out
    report = json.loads((tmp_path / "ev.json").read_text())
    assert rc == 0 and "baseline: sign of OFI" in text
    assert "vs ofi_sign" in text and "confidence calibration: ECE" in text and "held out in time: yes" in text
    rows = pd.read_csv(predictions)
    assert len(rows) == 792 and {"ts_event", "label", "model_call", "p_up", "confidence", "ofi_call"} <= set(rows.columns)
    assert (rows["model_call"] == rows[["p_down", "p_flat", "p_up"]].to_numpy().argmax(axis=1)).all()
    # evaluated on its own training file: not held out in time, and it says so
    main(["evaluate", "--model", str(out), "--features", str(train_file), *QUICK_BOOT])
    assert "held out in time: NO" in capsys.readouterr().out
    # 800 rows, seq_len 8, k 1: 800 - 7 - 1 samples; the confusion matrices count each once
    assert report["samples"] == 792
    assert all(np.sum(report[k]["confusion"]) == 792 for k in ("model", "majority", "ofi_sign", "realised_part"))
    (tmp_path / "broken.pt").write_bytes(out.read_bytes()[:500])
    assert main(["evaluate", "--model", str(tmp_path / "broken.pt"), "--features", str(later)]) == 1
    assert "not a readable model file" in capsys.readouterr().err


def test_split_embargo_leaves_rows_out_after_each_cut():
    seg = segment("a", 1000, 0)
    pieces = split_by_time([seg], 0.2, 0.1, embargo_fraction=0.02)
    # 1000 rows: train 0..699, 20 skipped, validation 720..899, 20 skipped, test 920..999
    assert [len(p) for name in ("train", "validation", "test") for p in pieces[name]] == [700, 180, 80]
    assert pieces["validation"][0].ts[0] == seg.ts[720] and pieces["test"][0].ts[0] == seg.ts[920]
    with pytest.raises(ValueError, match="embargo"):
        split_by_time([seg], 0.2, 0.1, embargo_fraction=0.15)


def test_reliability_table_and_ece_by_hand():
    confidence = np.array([0.05, 0.15, 0.15, 0.95, 0.95, 0.95, 0.95])
    right = np.array([0.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0])
    table = reliability(confidence, right)
    assert [(b["n"], b["confidence"], b["accuracy"]) for b in table["bins"]] == [(1, 0.05, 0.0), (2, 0.15, 0.5), (4, 0.95, 0.75)]
    assert table["ece"] == pytest.approx((1 * 0.05 + 2 * 0.35 + 4 * 0.2) / 7)


def test_judge_a_perfect_model_a_copy_of_the_ofi_baseline_and_an_uninformative_head():
    """A model that is always right beats both baselines; one that copies the OFI sign is exactly
    level with it (difference 0 on every resample: not distinguishable); a constant confidence
    carries no ranking, and a volatility head equal to the realised one is informative."""
    seg = segment("a", 3000, 0)
    samples = build_samples([seg], 8, 3, 1e-5)
    y = samples.labels
    n = len(samples)
    vol = samples.vol_bps.astype(np.float64)
    perfect = np.column_stack([np.eye(3)[y], np.full(n, 0.5), vol])
    j = judge(samples, perfect, 1, 3, QUICK)
    majority_right = np.mean(y == 1)
    assert j["baselines"]["majority"]["value"] == pytest.approx(1.0 - majority_right)
    assert j["baselines"]["majority"]["verdict"] == "model better" and j["baselines"]["majority"]["lo"] > 0
    assert j["confidence"]["verdict"].startswith("undefined")  # a constant confidence
    assert (
        j["volatility_spearman"]["head"]["value"] == pytest.approx(1.0)
        and j["volatility_spearman"]["head"]["verdict"] == "informative"
    )
    ofi_call = np.where(samples.ofi > 0, 2, np.where(samples.ofi < 0, 0, 1))
    copy = np.column_stack([np.eye(3)[ofi_call], np.full(n, 0.5), vol])
    level = judge(samples, copy, 1, 3, QUICK)["baselines"]["ofi_sign"]
    assert level["value"] == 0.0 and level["verdict"] == "not distinguishable"
