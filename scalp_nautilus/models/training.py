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
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

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


def train(feature_paths: list[str | Path], out: str | Path, settings: TrainSettings = TrainSettings()) -> dict:
    """Train on recorded features and write the model file; returns its metadata."""
    segments = read_features(feature_paths)
    pieces = split_by_time(segments, settings.val_fraction, settings.test_fraction)
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
    reports = {
        name: assess(samples[name], predict_samples(net, samples[name]), majority, settings.alpha)
        for name in ("validation", "test")
    }
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
            "history": history,
        },
        "scores": reports,
        "versions": library_versions(),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    save_model(out, net, metadata)
    return metadata


def evaluate(model: str | Path | LoadedModel, feature_paths: list[str | Path]) -> dict:
    """Re-score a model on other recorded data (every complete sample of every file)."""
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
    report["by_labels"] = {}
    for kind, s in both.items():
        full = assess(s, outputs, majority, loaded.alpha)
        report["by_labels"][kind] = {key: full[key] for key in ("model", "majority", "ofi_sign", "realised_part")}
    return report
