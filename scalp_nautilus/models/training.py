"""Training and evaluating the LSTM on recorded features (`scalp-nautilus train` / `evaluate`).

Training: the recorded rows, in time order, are cut into train / validation / test spans (the
latest rows last; see `dataset.split_by_time`); samples are windows inside one span and one file.
The network (`net.LOBNet`) minimises the sum of three losses on the training span, in shuffled
mini-batches (shuffled within the training span only):

    cross-entropy of the direction logits against the down/flat/up label (forward labels by
    default, DeepLOB's smoothed ones with `labels="smoothed"`: `labels`), each class weighted
    by n / (3 n_class) over the training span (the class mix drifts a lot between sessions, and
    an unweighted fit on a few thousand samples settles on always calling the majority class)
  + binary cross-entropy of the confidence logit against "the direction head's argmax is the label"
  + Huber loss of the volatility (bps) against the realised volatility over the horizon

and keeps the weights of the epoch with the lowest validation loss (early stopping: it stops after
`patience` epochs without a better one). The test span is not looked at until the end; its scores
(and the validation span's) are printed and stored in the model file next to two baselines: the
training span's majority class, always; and the sign of the row's OFI (up if > 0, down if < 0,
flat if 0). A third line, the "realised part", classifies (mid[t] - m-(t)) / m-(t) with alpha: the
share of a smoothed label already known at t from the mid path, which the model does not see (its
input is the LOB vector only). On the real captures it scores far above the model and both
baselines on smoothed labels, so read the model's scores against it too; against forward labels it
is a momentum baseline and holds no leak. `evaluate` scores the model against both kinds of labels.
Runs are seeded and deterministic on the CPU for a given thread count.

Scores: accuracy; macro-F1, the mean F1 over the classes present in the truth or the predictions
(scikit-learn's convention); the confusion matrix (rows true, columns predicted, order down, flat,
up). `direction_calls` is the live accuracy guard's measure: among the samples whose argmax is up
or down, the share whose smoothed move l(t) has that sign (no move is not scored: `labels.move_sign`).

The model is judged like a signal (`judge`, in `evaluate` and on the held-out span):
- against each baseline (sign of OFI, majority): the mean of the per-sample difference "model
  right - baseline right", with a 95% interval from arch's stationary block bootstrap
  (`research.intervals`; neighbouring samples share most of their window and label, and the
  differences' lag-1 autocorrelation is printed: 0.46-0.67 on the real captures), blocks at least
  max(seq_len, horizon) samples long;
- the confidence head's calibration: a reliability table (10 equal bins of confidence: the share
  right in each against its mean confidence) and the expected calibration error (Guo et al. 2017,
  ECE = sum_b n_b / n |accuracy_b - confidence_b|), and whether it ranks right calls above wrong
  ones at all (Spearman of confidence and "right", with its interval);
- the volatility head against the realised volatility (Spearman, with its interval) beside the
  persistence baseline, the realised volatility of the k batches up to t.
An output whose interval holds 0 carries no information measurable on these samples. The
strategy reads only the direction (`P(up) - P(down)`, weighted in the ensemble while the model is
loaded and passes its accuracy guard); confidence and volatility are recorded, never traded on.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import rankdata

from scalp_nautilus.errors import InputError
from scalp_nautilus.errors import RunError
from scalp_nautilus.models.dataset import SPLITS
from scalp_nautilus.models.dataset import Samples
from scalp_nautilus.models.dataset import build_samples
from scalp_nautilus.models.dataset import read_features
from scalp_nautilus.models.dataset import split_by_time
from scalp_nautilus.models.labels import CLASSES
from scalp_nautilus.models.labels import DOWN
from scalp_nautilus.models.labels import FLAT
from scalp_nautilus.models.labels import GUARD_WINDOW
from scalp_nautilus.models.labels import LABEL_DEFINITIONS
from scalp_nautilus.models.labels import LABEL_KINDS
from scalp_nautilus.models.labels import UP
from scalp_nautilus.models.labels import label_classes
from scalp_nautilus.models.labels import move_sign
from scalp_nautilus.models.model_file import LoadedModel
from scalp_nautilus.models.model_file import library_versions
from scalp_nautilus.models.model_file import load_model
from scalp_nautilus.models.model_file import save_model
from scalp_nautilus.models.net import LOBNet
from scalp_nautilus.models.net import parameter_count
from scalp_nautilus.models.settings import TrainSettings
from scalp_nautilus.research.intervals import BORDERLINE
from scalp_nautilus.research.intervals import BootstrapSettings
from scalp_nautilus.research.intervals import block_length
from scalp_nautilus.research.intervals import correlation_statistic
from scalp_nautilus.research.intervals import interval
from scalp_nautilus.research.intervals import mean_statistic

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------- scores


def scores(truth: np.ndarray, predicted: np.ndarray) -> dict:
    cm = np.zeros((len(CLASSES), len(CLASSES)), dtype=np.int64)
    np.add.at(cm, (truth, predicted), 1)
    f1 = {}
    for c, name in enumerate(CLASSES):
        tp, support, called = cm[c, c], cm[c].sum(), cm[:, c].sum()
        if support or called:
            f1[name] = float(2 * tp / (support + called))
    n = int(cm.sum())
    return {
        "n": n,
        "accuracy": float(np.trace(cm) / n) if n else float("nan"),
        "macro_f1": float(np.mean(list(f1.values()))) if f1 else float("nan"),
        "f1": f1,
        "confusion": cm.tolist(),
    }


def direction_calls(predicted: np.ndarray, moves: np.ndarray, window: int = GUARD_WINDOW) -> dict:
    """The accuracy guard's measure over samples in time order (see the module doc), with the
    lowest and highest hit rate over `window` consecutive scored calls (NaN with fewer): the
    guard at its defaults would have switched the model off where that falls below 0.52."""
    call = predicted - 1  # DOWN, FLAT, UP -> -1, 0, +1
    sign = move_sign(moves)
    scored = (call != 0) & (sign != 0)
    hits = (sign[scored] == call[scored]).astype(np.float64)
    rolling = np.convolve(hits, np.ones(window) / window, mode="valid") if len(hits) >= window else np.full(1, np.nan)
    return {
        "calls": int(np.sum(call != 0)),
        "scored": len(hits),
        "hit_rate": float(hits.mean()) if len(hits) else float("nan"),
        "window": window,
        "rolling_min": float(rolling.min()),
        "rolling_max": float(rolling.max()),
    }


def assess(samples: Samples, outputs: np.ndarray, majority_class: int, alpha: float) -> dict:
    """Scores of the model's outputs ([S, 5], `LOBNet.predict`) and the baselines."""
    y = samples.labels
    predicted = outputs[:, :3].argmax(axis=1)
    ofi_call = np.where(samples.ofi > 0, UP, np.where(samples.ofi < 0, DOWN, FLAT))
    confidence, vol = outputs[:, 3], outputs[:, 4]
    return {
        "samples": len(samples),
        "class_counts": dict(zip(CLASSES, np.bincount(y, minlength=len(CLASSES)).tolist())),
        "model": scores(y, predicted),
        "majority": scores(y, np.full_like(y, majority_class)),
        "ofi_sign": scores(y, ofi_call),
        "realised_part": scores(y, label_classes(samples.realised, alpha)),
        "direction_calls": direction_calls(predicted, samples.moves),
        "confidence": {"mean": float(confidence.mean()), "accuracy": float(np.mean(predicted == y))},
        "volatility_bps": {
            "predicted_mean": float(vol.mean()),
            "realised_mean": float(samples.vol_bps.mean()),
            "mae": float(np.mean(np.abs(vol - samples.vol_bps))),
            "corr": _corr(vol, samples.vol_bps),
        },
        "spans": samples.spans,
    }


RELIABILITY_BINS = 10


def _side_text(side: str, better: str, worse: str) -> str:
    return {"above": better, "below": worse, "straddles": "not distinguishable", BORDERLINE: BORDERLINE}[side]


def _interval_dict(values: np.ndarray, statistic, min_block: float, boot: BootstrapSettings) -> dict:
    iv = interval(statistic, block_length(values, min_block, boot.method), boot)
    if iv is None:
        return {"value": statistic.estimate, "lo": float("nan"), "hi": float("nan"), "side": "straddles", "block": min_block}
    return {
        "value": statistic.estimate,
        "lo": iv.lo,
        "hi": iv.hi,
        "mc_error": iv.mc_error,
        "p": iv.p,
        "block": iv.block,
        "side": iv.side(0.0),
    }


def reliability(confidence: np.ndarray, right: np.ndarray, bins: int = RELIABILITY_BINS) -> dict:
    """The reliability table over equal-width confidence bins and the expected calibration error."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, confidence, side="right") - 1, 0, bins - 1)
    table, ece = [], 0.0
    for b in range(bins):
        inside = which == b
        n = int(inside.sum())
        if not n:
            continue
        conf, acc = float(confidence[inside].mean()), float(right[inside].mean())
        table.append({"lo": float(edges[b]), "hi": float(edges[b + 1]), "n": n, "confidence": conf, "accuracy": acc})
        ece += n / len(confidence) * abs(acc - conf)
    return {"bins": table, "ece": float(ece) if len(confidence) else float("nan")}


def judge(samples: Samples, outputs: np.ndarray, majority_class: int, horizon: int, boot: BootstrapSettings) -> dict:
    """The model judged like a signal (see the module doc)."""
    y = samples.labels
    predicted = outputs[:, :3].argmax(axis=1)
    right = (predicted == y).astype(np.float64)
    block = float(max(samples.seq_len, horizon))
    out: dict = {"baselines": {}}
    calls = {
        "ofi_sign": np.where(samples.ofi > 0, UP, np.where(samples.ofi < 0, DOWN, FLAT)),
        "majority": np.full_like(y, majority_class),
    }
    for name, call in calls.items():
        d = right - (call == y)
        result = _interval_dict(d, mean_statistic(d), block, boot)
        result["lag1_autocorr"] = _corr(d[1:], d[:-1])
        result["verdict"] = _side_text(result["side"], "model better", "baseline better")
        out["baselines"][name] = result
    confidence = outputs[:, 3].astype(np.float64)
    ranks = correlation_statistic(rankdata(confidence), rankdata(right))
    calibration = reliability(confidence, right)
    calibration["ranks_right_calls"] = _interval_dict(right, ranks, block, boot)
    calibration["verdict"] = (
        _side_text(calibration["ranks_right_calls"]["side"], "informative", "inversely informative")
        if np.isfinite(calibration["ranks_right_calls"]["value"])
        else "undefined (a constant confidence or outcome)"
    )
    out["confidence"] = calibration
    volatility = {}
    realised = samples.vol_bps.astype(np.float64)
    for name, predictor in (("head", outputs[:, 4].astype(np.float64)), ("persistence", samples.past_vol_bps)):
        stat = correlation_statistic(rankdata(predictor), rankdata(realised))
        result = _interval_dict(realised, stat, block, boot)
        result["verdict"] = (
            _side_text(result["side"], "informative", "inversely informative")
            if np.isfinite(result["value"])
            else "undefined (constant)"
        )
        volatility[name] = result
    out["volatility_spearman"] = volatility
    return out


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a, b)[0, 1]) if len(a) > 1 and a.std() > 0 and b.std() > 0 else float("nan")


def format_report(title: str, report: dict) -> str:
    counts = ", ".join(f"{k} {v}" for k, v in report["class_counts"].items())
    kind = f", {report['labels']} labels" if "labels" in report else ""
    lines = [
        f"{title}: {report['samples']} samples{kind} ({counts})",
        f"  {'':<26s} {'accuracy':>8s} {'macro-F1':>8s}   confusion (rows true, cols predicted: down flat up)",
    ]
    for key, label in (
        ("model", "model"),
        ("majority", "baseline: majority"),
        ("ofi_sign", "baseline: sign of OFI"),
        ("realised_part", "reference: realised part"),
    ):
        s = report[key]
        lines.append(f"  {label:<26s} {s['accuracy']:8.3f} {s['macro_f1']:8.3f}   {s['confusion']}")
    d, c, v = report["direction_calls"], report["confidence"], report["volatility_bps"]
    lines.append(
        f"  direction calls (up/down argmax): {d['calls']}, hit rate vs the sign of the move "
        f"{d['hit_rate']:.3f} over {d['scored']} scored; over {d['window']} consecutive ones "
        f"{d['rolling_min']:.3f} to {d['rolling_max']:.3f}"
    )
    lines.append(
        f"  confidence: mean {c['mean']:.3f} vs realised accuracy {c['accuracy']:.3f}; volatility (bps): "
        f"predicted mean {v['predicted_mean']:.3f}, realised {v['realised_mean']:.3f}, MAE {v['mae']:.3f}, "
        f"corr {v['corr']:.3f}"
    )
    if "judged" in report:
        lines += _judge_lines(report["judged"])
    if "time_check" in report:
        lines.append(f"  {report['time_check']}")
    for kind, by in report.get("by_labels", {}).items():
        row = "; ".join(
            f"{label} {by[key]['accuracy']:.3f} / {by[key]['macro_f1']:.3f}"
            for key, label in (
                ("model", "model"),
                ("majority", "majority"),
                ("ofi_sign", "OFI sign"),
                ("realised_part", "realised part"),
            )
        )
        lines.append(f"  against {kind} labels (accuracy / macro-F1): {row}")
    return "\n".join(lines)


def _judge_lines(j: dict) -> list[str]:
    lines = ["  model minus baseline, accuracy per sample (95% block-bootstrap interval):"]
    for name, r in j["baselines"].items():
        lines.append(
            f"    vs {name:<9s} {r['value']:+.4f} [{r['lo']:+.4f}, {r['hi']:+.4f}] (block {r['block']:.0f} samples, lag-1 "
            f"autocorrelation {r['lag1_autocorr']:.2f}): {r['verdict']}"
        )
    c = j["confidence"]
    lines.append(
        f"  confidence calibration: ECE {c['ece']:.3f}; Spearman with being right {c['ranks_right_calls']['value']:+.3f} "
        f"[{c['ranks_right_calls']['lo']:+.3f}, {c['ranks_right_calls']['hi']:+.3f}]: {c['verdict']}"
    )
    lines.append(
        "    reliability (confidence bin: n, mean confidence, share right): "
        + "; ".join(f"{b['lo']:.1f}-{b['hi']:.1f}: {b['n']}, {b['confidence']:.3f}, {b['accuracy']:.3f}" for b in c["bins"])
    )
    for name, r in j["volatility_spearman"].items():
        label = "volatility head" if name == "head" else "persistence (past k batches)"
        lines.append(
            f"  {label:<28s} Spearman with realised volatility {r['value']:+.3f} [{r['lo']:+.3f}, {r['hi']:+.3f}]: {r['verdict']}"
        )
    return lines


# ---------------------------------------------------------------------- fitting


def class_weights(labels: np.ndarray) -> np.ndarray:
    """n / (3 n_class); 0 for a class absent from `labels`."""
    counts = np.bincount(labels, minlength=len(CLASSES)).astype(np.float64)
    return np.divide(len(labels), len(CLASSES) * counts, out=np.zeros(len(CLASSES)), where=counts > 0)


def _loss(raw: torch.Tensor, labels: torch.Tensor, vol_bps: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    logits = raw[:, :3]
    correct = (logits.argmax(dim=1) == labels).float()
    return (
        F.cross_entropy(logits, labels, weight=weights)
        + F.binary_cross_entropy_with_logits(raw[:, 3], correct)
        + F.huber_loss(F.softplus(raw[:, 4]), vol_bps)
    )


def predict_samples(net: LOBNet, samples: Samples, batch_size: int = 2048) -> np.ndarray:
    """`LOBNet.predict` over every sample, [S, 5]."""
    net.eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(samples), batch_size):
            index = np.arange(start, min(start + batch_size, len(samples)))
            out.append(net.predict(torch.from_numpy(samples.windows(index))).numpy())
    return np.concatenate(out) if out else np.zeros((0, 5), np.float32)


def _mean_loss(net: LOBNet, samples: Samples, weights: torch.Tensor, batch_size: int = 2048) -> float:
    net.eval()
    total = 0.0
    with torch.inference_mode():
        for start in range(0, len(samples), batch_size):
            index = np.arange(start, min(start + batch_size, len(samples)))
            raw = net(torch.from_numpy(samples.windows(index)))
            total += float(
                _loss(raw, torch.from_numpy(samples.labels[index]), torch.from_numpy(samples.vol_bps[index]), weights)
            ) * len(index)
    return total / len(samples)


def fit(train: Samples, validation: Samples, settings: TrainSettings) -> tuple[LOBNet, list[dict], int]:
    """Train with early stopping on the validation loss; returns (best net, history, best epoch)."""
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(settings.threads)  # process-wide: restored below
    try:
        torch.manual_seed(settings.seed)
        rng = np.random.default_rng(settings.seed)
        net = LOBNet(settings.arch)
        weights = torch.from_numpy(class_weights(train.labels)).float()
        optimiser = torch.optim.Adam(net.parameters(), lr=settings.lr)
        best_loss, best_epoch, best_state, history = float("inf"), 0, None, []
        for epoch in range(1, settings.epochs + 1):
            net.train()
            order = rng.permutation(len(train))
            train_loss = 0.0
            for start in range(0, len(order), settings.batch_size):
                index = order[start : start + settings.batch_size]
                raw = net(torch.from_numpy(train.windows(index)))
                loss = _loss(raw, torch.from_numpy(train.labels[index]), torch.from_numpy(train.vol_bps[index]), weights)
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                train_loss += float(loss.detach()) * len(index)
            val_loss = _mean_loss(net, validation, weights)
            val = scores(validation.labels, predict_samples(net, validation)[:, :3].argmax(axis=1))
            history.append(
                {
                    "epoch": epoch,
                    "train_loss": train_loss / len(train),
                    "val_loss": val_loss,
                    "val_accuracy": val["accuracy"],
                    "val_macro_f1": val["macro_f1"],
                }
            )
            log.info(
                "epoch %d: train loss %.4f, validation loss %.4f, accuracy %.3f, macro-F1 %.3f",
                epoch,
                train_loss / len(train),
                val_loss,
                val["accuracy"],
                val["macro_f1"],
            )
            if val_loss < best_loss:
                best_loss, best_epoch = val_loss, epoch
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            elif epoch - best_epoch >= settings.patience:
                break
        if best_state is None:
            raise RunError("training diverged: the validation loss was never finite")
        net.load_state_dict(best_state)
        net.eval()
        return net, history, best_epoch
    finally:
        torch.set_num_threads(previous_threads)


# ---------------------------------------------------------------------- commands


def _iso(ns: int | None) -> str | None:
    return None if ns is None else dt.datetime.fromtimestamp(ns / 1e9, dt.UTC).isoformat(timespec="milliseconds")


def train(
    feature_paths: list[str | Path],
    out: str | Path,
    settings: TrainSettings = TrainSettings(),
    boot: BootstrapSettings = BootstrapSettings(),
) -> dict:
    """Train on recorded features and write the model file; returns its metadata."""
    segments = read_features(feature_paths)
    pieces = split_by_time(segments, settings.val_fraction, settings.test_fraction, settings.embargo_fraction)
    samples = {
        name: build_samples(pieces[name], settings.seq_len, settings.horizon, settings.alpha, settings.labels) for name in SPLITS
    }
    need = max(settings.seq_len, settings.horizon) + settings.horizon
    for name, s in samples.items():
        if len(s) == 0:
            raise InputError(
                f"the {name} span holds no complete sample (each needs {need} consecutive rows "
                f"of one file inside the span): record more data or shorten seq_len/horizon"
            )
    majority = int(np.bincount(samples["train"].labels, minlength=len(CLASSES)).argmax())
    net, history, best_epoch = fit(samples["train"], samples["validation"], settings)
    reports = {}
    for name in ("validation", "test"):
        outputs = predict_samples(net, samples[name])
        reports[name] = assess(samples[name], outputs, majority, settings.alpha)
        reports[name]["judged"] = judge(samples[name], outputs, majority, settings.horizon, boot)
    spans = {}
    for name in SPLITS:
        span_list = samples[name].spans
        spans[name] = {
            "pieces": span_list,
            "samples": len(samples[name]),
            "first": _iso(span_list[0]["first_ts"]),
            "last": _iso(span_list[-1]["last_ts"]),
        }
    metadata = {
        "seq_len": settings.seq_len,
        "horizon": settings.horizon,
        "alpha": settings.alpha,
        "labels": {
            "kind": settings.labels,
            "classes": list(CLASSES),
            "definition": LABEL_DEFINITIONS[settings.labels],
            "volatility": "sqrt(sum of squared log returns of mid[t..t+k]), bps",
        },
        "confidence": "P(the direction head's argmax is the right class), trained by binary cross-entropy",
        "majority_class": majority,
        "training": {
            "files": [str(p) for p in feature_paths],
            "cold_rows_dropped": {s.source: s.cold_rows for s in segments},
            "spans": spans,
            "class_counts": dict(zip(CLASSES, np.bincount(samples["train"].labels, minlength=len(CLASSES)).tolist())),
            "class_weights": class_weights(samples["train"].labels).tolist(),
            "settings": {k: v for k, v in asdict(settings).items() if k != "arch"},
            "parameters": parameter_count(net),
            "best_epoch": best_epoch,
            "history": history,  # the learning curves, per epoch
            "validation_baselines": {
                key: reports["validation"][key]["accuracy"] for key in ("majority", "ofi_sign", "realised_part")
            },
            "purge": "by construction: a sample's window and label lie inside one span",
            "embargo_rows": round(sum(len(s) for s in segments) * settings.embargo_fraction),
        },
        "scores": reports,
        "versions": library_versions(),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    save_model(out, net, metadata)
    return metadata


def evaluate(
    model: str | Path | LoadedModel,
    feature_paths: list[str | Path],
    boot: BootstrapSettings = BootstrapSettings(),
    predictions: str | Path | None = None,
) -> dict:
    """Re-score a model on other recorded data (every complete sample of every file), judged like a
    signal (`judge`); `predictions`: also write one row per sample (CSV, or Parquet by suffix)."""
    loaded = model if isinstance(model, LoadedModel) else load_model(model)
    segments = read_features(feature_paths)
    majority = int(loaded.metadata["majority_class"])
    both = {kind: build_samples(segments, loaded.seq_len, loaded.horizon, loaded.alpha, kind) for kind in LABEL_KINDS}
    samples = both[loaded.labels]
    if len(samples) == 0:
        raise InputError(
            f"no complete sample in {[str(p) for p in feature_paths]} (each needs "
            f"{max(loaded.seq_len, loaded.horizon) + loaded.horizon} warm rows of one file)"
        )
    outputs = predict_samples(loaded.net, samples)  # both kinds label the same windows
    report = assess(samples, outputs, majority, loaded.alpha)
    report["labels"] = loaded.labels
    report["judged"] = judge(samples, outputs, majority, loaded.horizon, boot)
    report["time_check"] = _time_check(loaded.metadata, samples)
    report["by_labels"] = {}
    for kind, s in both.items():
        full = assess(s, outputs, majority, loaded.alpha)
        report["by_labels"][kind] = {key: full[key] for key in ("model", "majority", "ofi_sign", "realised_part")}
    if predictions is not None:
        write_predictions(samples, outputs, majority, predictions)
    return report


def _time_check(metadata: dict, samples: Samples) -> str:
    """Whether the evaluated samples come after everything the model was trained on (a held-out
    check on the same minutes of another instrument is not one in time)."""
    spans = metadata.get("training", {}).get("spans", {})
    last = [p["last_ts"] for span in spans.values() for p in span.get("pieces", []) if p.get("last_ts") is not None]
    if not last:
        return "held out in time: unknown (the model file has no training spans)"
    trained_until, first = max(last), int(samples.ts.min())
    if first > trained_until:
        gap = (first - trained_until) / 60e9
        return f"held out in time: yes, the evaluated samples start {gap:.1f} minutes after the training data ends"
    return (
        f"held out in time: NO, the evaluated samples start at {_iso(first)}, before the training data ends "
        f"({_iso(trained_until)}): these scores do not say how the model does on later data"
    )


def write_predictions(samples: Samples, outputs: np.ndarray, majority: int, path: str | Path) -> Path:
    """One row per sample: its time, label and move, the model's probabilities, call, confidence and
    volatility, the baselines' calls, the realised and past volatility."""
    import pandas as pd

    y = samples.labels
    frame = pd.DataFrame(
        {
            "ts_event": samples.ts,
            "label": y,
            "move": samples.moves,
            "p_down": outputs[:, 0],
            "p_flat": outputs[:, 1],
            "p_up": outputs[:, 2],
            "model_call": outputs[:, :3].argmax(axis=1),
            "confidence": outputs[:, 3],
            "volatility_bps": outputs[:, 4],
            "realised_vol_bps": samples.vol_bps,
            "past_vol_bps": samples.past_vol_bps,
            "ofi_call": np.where(samples.ofi > 0, UP, np.where(samples.ofi < 0, DOWN, FLAT)),
            "majority_call": np.full_like(y, majority),
        }
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return path


def learning_curve_lines(metadata: dict) -> list[str]:
    """The per-epoch losses and validation accuracy, beside the validation span's baselines."""
    t = metadata["training"]
    base = t.get("validation_baselines", {})
    lines = [
        "learning curves (per epoch): train loss, validation loss, validation accuracy, macro-F1; baselines on the "
        "validation span: " + ", ".join(f"{k} {v:.3f}" for k, v in base.items())
    ]
    for h in t["history"]:
        mark = "  <- kept" if h["epoch"] == t["best_epoch"] else ""
        lines.append(
            f"  epoch {h['epoch']:>3d}  {h['train_loss']:.4f}  {h['val_loss']:.4f}  "
            f"{h['val_accuracy']:.3f}  {h['val_macro_f1']:.3f}{mark}"
        )
    return lines
