"""The feature recorder: one Parquet row per book batch, one named column per `FeatureSnapshot` field.

It is the LSTM's training data and the research dataset: `ts_event`, `mid`, every indicator's value
(`ofi`, `ofi_z`, `vpin`, ..., `lob_0` ... `lob_20`) and the model outputs. Column types follow the
field annotations (int -> int64, float -> float64, bool -> bool, str -> string). Rows are written
in row groups as they come, so memory stays flat on long runs; `close()` finishes the file.
"""

from __future__ import annotations

import typing
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from scalp_nautilus.features import FeatureSnapshot

_ARROW = {int: pa.int64(), float: pa.float64(), bool: pa.bool_(), str: pa.string()}
SCHEMA = pa.schema([(name, _ARROW[t]) for name, t in typing.get_type_hints(FeatureSnapshot).items()])


class FeatureRecorder:
    def __init__(self, path: str | Path, rows_per_group: int = 50_000) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.rows_per_group = rows_per_group
        self.rows = 0
        self._buffer: list[tuple] = []
        self._writer: pq.ParquetWriter | None = pq.ParquetWriter(self.path, SCHEMA)

    def record(self, row: FeatureSnapshot) -> None:
        self._buffer.append(row)
        if len(self._buffer) >= self.rows_per_group:
            self._flush()

    def close(self) -> None:
        if self._writer is None:
            return
        self._flush()
        self._writer.close()
        self._writer = None

    def _flush(self) -> None:
        if not self._buffer:
            return
        if self._writer is None:
            raise RuntimeError(f"{self.path}: the feature recorder is closed")
        columns = [pa.array(col, type=field.type) for col, field in zip(zip(*self._buffer), SCHEMA)]
        self._writer.write_table(pa.Table.from_arrays(columns, schema=SCHEMA))
        self.rows += len(self._buffer)
        self._buffer.clear()

    def __enter__(self) -> FeatureRecorder:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
