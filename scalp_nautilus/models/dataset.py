"""Training data for the LSTM: recorded features, DeepLOB labels, windows and the split by time.

Input files are `FeatureRecorder` Parquet files (one row per book batch); only `ts_event`, `mid`,
`ofi` and `lob_0` ... `lob_20` are read. Each file is one recording session, a `Segment`. The rows
before the LOB vector is warm (all 21 values exactly 0) are dropped: the pipeline feeds the
predictor only once the vector is warm. Later all-zero rows (a stale book) stay, since the
predictor sees them too.

A sample is the window of the seq_len vectors ending at row t with the label of t (`labels`); it
exists only
where the window and both means lie inside one piece of data (one file and one side of the split),
so no window and no label ever crosses a file boundary or the train/validation/test split.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from scalp_nautilus.errors import InputError
from scalp_nautilus.errors import MissingFileError
from scalp_nautilus.feature_recorder import unavailable_columns
from scalp_nautilus.indicators.lob_vector import N_LOB_FEATURES
from scalp_nautilus.models.labels import DEFAULT_LABELS
from scalp_nautilus.models.labels import VOL_SCALE
from scalp_nautilus.models.labels import label_classes
from scalp_nautilus.models.labels import label_moves
from scalp_nautilus.models.labels import past_vol
from scalp_nautilus.models.labels import realised_vol

LOB_COLUMNS = tuple(f"lob_{i}" for i in range(N_LOB_FEATURES))
COLUMNS = ("ts_event", "mid", "ofi", *LOB_COLUMNS)
SPLITS = ("train", "validation", "test")


@dataclass
class Segment:
    """Consecutive rows of one recording (or a slice of one)."""

    source: str
    ts: np.ndarray  # int64 ns
    mid: np.ndarray  # float64
    ofi: np.ndarray  # float64
    lob: np.ndarray  # float32 [n, 21]
    cold_rows: int = 0  # leading rows dropped (LOB vector not warm yet)

    def __len__(self) -> int:
        return len(self.ts)

    def slice(self, start: int, stop: int) -> Segment:
        return Segment(self.source, self.ts[start:stop], self.mid[start:stop], self.ofi[start:stop], self.lob[start:stop])

    def span(self) -> dict:
        return {
            "file": self.source,
            "rows": len(self),
            "first_ts": int(self.ts[0]) if len(self) else None,
            "last_ts": int(self.ts[-1]) if len(self) else None,
        }


def read_features(paths: list[str | Path]) -> list[Segment]:
    """One `Segment` per recorded file, sorted by first timestamp; bad files raise ValueError."""
    segments = []
    for name in paths:
        path = Path(name)
        if not path.is_file():
            raise MissingFileError(f"features file {path}: no such file")
        try:
            table = pq.read_table(path)
        except Exception as exc:
            raise InputError(f"features file {path}: not readable Parquet ({exc})") from exc
        missing = [c for c in COLUMNS if c not in table.column_names]
        if missing:
            raise InputError(f"features file {path}: lacks columns {missing} (not a FeatureRecorder file?)")
        gone = [c for c in unavailable_columns(table.schema) if c in LOB_COLUMNS]
        if gone:
            raise InputError(
                f"features file {path}: recorded from a book too shallow for the LOB vector ({', '.join(gone)} "
                "unavailable: the top-of-book mode); the LSTM trains on full-book rows"
            )
        ts = table.column("ts_event").to_numpy().astype(np.int64)
        mid = table.column("mid").to_numpy().astype(np.float64)
        ofi = table.column("ofi").to_numpy().astype(np.float64)
        lob = np.column_stack([table.column(c).to_numpy() for c in LOB_COLUMNS]).astype(np.float32)
        warm = np.flatnonzero(np.any(lob != 0.0, axis=1))
        first = int(warm[0]) if len(warm) else len(ts)
        seg = Segment(str(path), ts[first:], mid[first:], ofi[first:], lob[first:], cold_rows=first)
        bad = ~(np.isfinite(seg.mid) & (seg.mid > 0) & np.isfinite(seg.ofi) & np.isfinite(seg.lob).all(axis=1))
        if bad.any():
            raise InputError(
                f"features file {path}: {int(bad.sum())} warm rows with a non-finite or non-positive "
                f"value (first at row {first + int(np.argmax(bad))})"
            )
        if np.any(np.diff(seg.ts) < 0):
            raise InputError(f"features file {path}: ts_event goes backwards")
        segments.append(seg)
    return sorted(segments, key=lambda s: s.ts[0] if len(s) else np.iinfo(np.int64).max)


@dataclass
class Samples:
    """Windows over `rows`: sample i is rows[ends[i] - seq_len + 1 .. ends[i]] with its targets."""

    seq_len: int
    rows: np.ndarray  # float32 [R, 21]: the pieces' LOB rows, concatenated
    ends: np.ndarray  # int64 [S]
    labels: np.ndarray  # int64 [S], DOWN/FLAT/UP
    moves: np.ndarray  # float64 [S], l(t)
    realised: np.ndarray  # float64 [S], the smoothed label's part realised at t (`labels.smoothed_moves`)
    vol_bps: np.ndarray  # float32 [S], realised volatility over the horizon, bps
    past_vol_bps: np.ndarray  # float64 [S], realised volatility over the k batches up to t, bps (known at t)
    ofi: np.ndarray  # float64 [S], the row's OFI (baseline)
    ts: np.ndarray  # int64 [S]
    spans: list[dict] = field(default_factory=list)  # per piece: file, rows, first/last ts, samples

    def __len__(self) -> int:
        return len(self.ends)

    def windows(self, index: np.ndarray) -> np.ndarray:
        """[len(index), seq_len, 21] float32."""
        offsets = np.arange(-self.seq_len + 1, 1)
        return self.rows[self.ends[index][:, None] + offsets]


def build_samples(pieces: list[Segment], seq_len: int, horizon: int, alpha: float, labels: str = DEFAULT_LABELS) -> Samples:
    """Every complete sample inside each piece (see the module doc), labelled by the `labels` kind
    (`labels.LABEL_KINDS`). Samples start where the smoothed label's past mean exists for either
    kind, so both kinds label the same samples and carry the same realised-part reference."""
    parts: dict[str, list[np.ndarray]] = {k: [np.zeros(0)] for k in ("ends", "moves", "realised", "vol", "past", "ofi", "ts")}
    rows, spans, offset = [np.zeros((0, N_LOB_FEATURES), np.float32)], [], 0
    for piece in pieces:
        n = len(piece)
        move, realised = label_moves(piece.mid, horizon, labels)
        vol = realised_vol(piece.mid, horizon)
        past = past_vol(piece.mid, horizon)
        t = np.arange(max(seq_len, horizon) - 1, n - horizon)
        rows.append(piece.lob)
        for key, values in (
            ("ends", t + offset),
            ("moves", move[t]),
            ("realised", realised[t]),
            ("vol", vol[t]),
            ("past", past[t]),
            ("ofi", piece.ofi[t]),
            ("ts", piece.ts[t]),
        ):
            parts[key].append(values)
        spans.append({**piece.span(), "samples": len(t)})
        offset += n
    cat = {key: np.concatenate(values) for key, values in parts.items()}
    return Samples(
        seq_len=seq_len,
        rows=np.concatenate(rows),
        ends=cat["ends"].astype(np.int64),
        labels=label_classes(cat["moves"], alpha),
        moves=cat["moves"],
        realised=cat["realised"],
        vol_bps=(cat["vol"] * VOL_SCALE).astype(np.float32),
        past_vol_bps=cat["past"] * VOL_SCALE,
        ofi=cat["ofi"],
        ts=cat["ts"].astype(np.int64),
        spans=spans,
    )


def split_by_time(
    segments: list[Segment], val_fraction: float, test_fraction: float, embargo_fraction: float = 0.0
) -> dict[str, list[Segment]]:
    """Train / validation / test pieces: the rows of all segments in time order, cut at row fractions.

    The segments must not overlap in time (else "later" would be ambiguous). Validation and test
    are the latest `val_fraction` and `test_fraction` of the rows, test last. Purged and embargoed
    (López de Prado 2018, ch. 7): no sample's label crosses a cut, since a sample needs its whole
    horizon inside its piece (the training samples whose labels would reach into validation are
    purged by construction), and the first `embargo_fraction` of the rows after each cut belong to
    no piece, so that the serial correlation of neighbouring rows does not carry the training
    span's last moves into the first scored samples.
    """
    if not (val_fraction > 0.0 and test_fraction > 0.0 and val_fraction + test_fraction < 1.0):
        raise InputError(f"need 0 < validation and test fractions with a sum below 1, got {val_fraction}, {test_fraction}")
    if not 0.0 <= embargo_fraction < min(val_fraction, test_fraction):
        raise InputError(f"need 0 <= embargo fraction < the validation and test fractions, got {embargo_fraction}")
    segments = [s for s in segments if len(s)]
    for a, b in zip(segments, segments[1:]):
        if b.ts[0] <= a.ts[-1]:
            raise InputError(f"features files overlap in time ({a.source} and {b.source}): cannot split by time")
    total = sum(len(s) for s in segments)
    embargo = round(total * embargo_fraction)
    train_end, val_end = round(total * (1 - val_fraction - test_fraction)), round(total * (1 - test_fraction))
    bounds = ((0, train_end), (train_end + embargo, val_end), (val_end + embargo, total))
    out: dict[str, list[Segment]] = {name: [] for name in SPLITS}
    start = 0
    for seg in segments:
        stop = start + len(seg)
        for name, (lo, hi) in zip(SPLITS, bounds):
            first, last = max(lo, start), min(hi, stop)
            if first < last:
                out[name].append(seg.slice(first - start, last - start))
        start = stop
    return out
