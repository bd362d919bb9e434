"""The model file: the network's weights and the metadata that says what they are.

One `torch.save` zip holding only plain types, so it is read back with `torch.load(weights_only=
True)`, which refuses to unpickle anything but tensors and builtin containers:

    {"format": "scalp_nautilus.lstm", "version": 1,
     "metadata": "<JSON text>",          # see below
     "state_dict": {name: tensor, ...}}  # LOBNet's weights, float32

Metadata (JSON): `layout` (the `LOB_FEATURE_NAMES` the model was trained on, in order), `seq_len`,
`horizon` (k, book batches), `alpha` (label threshold), `labels` (how they are defined),
`architecture` (sizes that rebuild the network), `book_levels` (levels a side of the books it was
trained on; absent in older files: every level, a full L2 book), `weights_sha256` (over the tensors, so a file
damaged inside its tensor data is refused too), and from training: `majority_class`, `training`
(files, spans, sample counts, settings), `scores` (validation and held-out), `versions` (python,
torch, numpy, nautilus_trader, scalp_nautilus) and `created` (UTC).

`load_model` refuses a missing, truncated or corrupt file, another format or version, a layout
other than today's `LOB_FEATURE_NAMES`, a different `seq_len` or `book_levels` than the caller's, weights that do
not fit the architecture, a checksum mismatch and non-finite weights, each with a `ModelFileError`
naming the file and the reason.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path

import torch

from scalp_nautilus.errors import InputError
from scalp_nautilus.feature_table import EVERY_LEVEL
from scalp_nautilus.indicators.lob_vector import LOB_FEATURE_NAMES
from scalp_nautilus.models.labels import CLASSES
from scalp_nautilus.models.labels import LABEL_KINDS
from scalp_nautilus.models.net import LOBNet
from scalp_nautilus.models.settings import Architecture

FORMAT = "scalp_nautilus.lstm"
VERSION = 1
REQUIRED_METADATA = ("layout", "seq_len", "horizon", "alpha", "majority_class", "architecture", "weights_sha256")


class ModelFileError(InputError):
    """A model file that cannot be used; the message names the file and the reason."""


@dataclass
class LoadedModel:
    net: LOBNet  # in eval mode, on the CPU
    metadata: dict

    @property
    def seq_len(self) -> int:
        return int(self.metadata["seq_len"])

    @property
    def horizon(self) -> int:
        return int(self.metadata["horizon"])

    @property
    def alpha(self) -> float:
        return float(self.metadata["alpha"])

    @property
    def labels(self) -> str:
        """The kind of labels it was trained on (`labels.LABEL_KINDS`); files written before
        forward labels existed were trained on the smoothed ones."""
        return label_kind(self.metadata)


def label_kind(metadata: dict) -> str:
    labels = metadata.get("labels")
    return labels.get("kind", "smoothed") if isinstance(labels, dict) else "smoothed"


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in ("torch", "numpy", "nautilus_trader", "scalp_nautilus"):
        try:
            versions[name] = package_version(name)
        except PackageNotFoundError:
            versions[name] = "unknown"
    return versions


def weights_sha256(state_dict: dict[str, torch.Tensor]) -> str:
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        digest.update(name.encode())
        digest.update(state_dict[name].detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def save_model(path: str | Path, net: LOBNet, metadata: dict) -> Path:
    """Write `net` and `metadata` (plus layout, architecture and checksum) to `path` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
    meta = {
        "book_levels": EVERY_LEVEL,  # training reads full-book rows only (`dataset.read_features`)
        **metadata,
        "layout": list(LOB_FEATURE_NAMES),
        "architecture": net.arch.to_dict(),
        "weights_sha256": weights_sha256(state),
    }
    missing = [k for k in REQUIRED_METADATA if k not in meta]
    if missing:
        raise ValueError(f"model metadata lacks {missing}")
    payload = {"format": FORMAT, "version": VERSION, "metadata": json.dumps(meta, sort_keys=True), "state_dict": state}
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)  # a reader never sees a half-written file
    return path


def _load_error_reason(exc: Exception) -> str:
    """torch's reason for refusing a file, without its advice: for a file holding Python objects it
    suggests `weights_only=False` (arbitrary code execution) or allow-listing the classes, which a
    model file of this project never needs."""
    text = str(exc)
    marker = "WeightsUnpickler error:"
    if marker in text:  # "Unsupported global: GLOBAL m.Cls was not an allowed global by default. Please use ..."
        reason = text.split(marker, 1)[1].strip().split(". ", 1)[0].rstrip(".")
        return f"(it holds Python objects, not only tensors and plain values): {reason}"
    first = text.strip().splitlines()[0] if text.strip() else ""
    return f"(corrupt or truncated?): {type(exc).__name__}" + (f": {first}" if first else "")


def book_levels(metadata: dict) -> int:
    """Levels a side of the books the model was trained on (older files: every level)."""
    return int(metadata.get("book_levels", EVERY_LEVEL))


def _levels_text(levels: int) -> str:
    return "full L2 books (every level)" if levels == EVERY_LEVEL else f"books showing {levels} level(s) a side"


def load_model(path: str | Path, seq_len: int | None = None, book_levels: int | None = None) -> LoadedModel:
    """Read and check a model file; `seq_len` and `book_levels` (the run's book: 1 in the top-of-book
    mode), when given, must equal the file's."""
    path = Path(path)

    def refuse(reason: str) -> ModelFileError:
        return ModelFileError(f"model file {path}: {reason}")

    if not path.is_file():
        raise refuse("no such file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise refuse(f"not a readable model file {_load_error_reason(exc)}") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise refuse(f"not a {FORMAT} model file")
    if payload.get("version") != VERSION:
        raise refuse(f"format version {payload.get('version')!r}, this code reads version {VERSION}")
    try:
        meta = json.loads(payload["metadata"])
        state = payload["state_dict"]
    except (KeyError, TypeError, ValueError) as exc:  # ValueError: JSONDecodeError
        raise refuse(f"damaged metadata ({exc})") from exc
    if not isinstance(meta, dict) or not isinstance(state, dict):
        raise refuse("damaged metadata or weights (not a mapping)")
    missing = [k for k in REQUIRED_METADATA if k not in meta]
    if missing:
        raise refuse(f"metadata lacks {missing}")
    try:
        layout = tuple(meta["layout"])
        file_seq_len, horizon, majority = int(meta["seq_len"]), int(meta["horizon"]), int(meta["majority_class"])
        alpha = float(meta["alpha"])
        arch = Architecture(**meta["architecture"])
    except (TypeError, ValueError) as exc:
        raise refuse(f"damaged metadata ({exc})") from exc
    if file_seq_len < 1 or horizon < 1 or not alpha >= 0.0 or majority not in range(len(CLASSES)):
        raise refuse(f"damaged metadata (seq_len {file_seq_len}, horizon {horizon}, alpha {alpha}, majority {majority})")
    if label_kind(meta) not in LABEL_KINDS:
        raise refuse(f"damaged metadata (label kind {label_kind(meta)!r}, expected one of {LABEL_KINDS})")
    if layout != LOB_FEATURE_NAMES:
        diff = next(
            (i for i, (a, b) in enumerate(zip(layout, LOB_FEATURE_NAMES)) if a != b), min(len(layout), len(LOB_FEATURE_NAMES))
        )
        raise refuse(
            f"feature layout differs from this code's LOB_FEATURE_NAMES ({len(layout)} vs {len(LOB_FEATURE_NAMES)} "
            f"features, first difference at position {diff}: file {layout[diff : diff + 1]}, code "
            f"{LOB_FEATURE_NAMES[diff : diff + 1]}); retrain on features recorded with this layout"
        )
    if seq_len is not None and file_seq_len != seq_len:
        raise refuse(f"trained on sequences of {file_seq_len} vectors, the predictor is set to seq_len={seq_len}")
    if book_levels is not None and _file_levels(meta, refuse) != book_levels:
        raise refuse(
            f"trained on {_levels_text(_file_levels(meta, refuse))}, this run reads {_levels_text(book_levels)} "
            "(the book mode, `book.mode`): the LSTM stays off; use a model trained on features recorded in this mode"
        )
    if not all(isinstance(t, torch.Tensor) for t in state.values()) or weights_sha256(state) != meta["weights_sha256"]:
        raise refuse("weights do not match their checksum (damaged file)")
    try:
        net = LOBNet(arch)
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise refuse(f"weights do not fit the architecture {meta['architecture']}: {exc}") from exc
    if not all(torch.isfinite(t).all() for t in state.values()):
        raise refuse("non-finite weights")
    net.eval()
    return LoadedModel(net, meta)


def _file_levels(meta: dict, refuse) -> int:
    try:
        return book_levels(meta)
    except (TypeError, ValueError) as exc:
        raise refuse(f"damaged metadata (book_levels {meta.get('book_levels')!r})") from exc


def describe(model: LoadedModel) -> str:
    """One line for logs: what the model is and how it scored."""
    m = model.metadata
    held = m.get("scores", {}).get("test", {}).get("model", {})
    score = f", held-out accuracy {held['accuracy']:.3f} macro-F1 {held['macro_f1']:.3f}" if held else ""
    return f"seq_len {m['seq_len']}, horizon {m['horizon']} batches, {model.labels} labels, alpha {m['alpha']:g}{score}"
