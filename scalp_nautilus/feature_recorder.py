"""The feature recorder: one Parquet row per book batch, one named column per column of the feature table.

It is the LSTM's training data and the research dataset: `ts_event`, `mid`, every indicator's value
(`ofi`, `ofi_z`, `vpin`, ..., `lob_0` ... `lob_20`) and the model outputs. Column types follow the
table's (`scalp_nautilus.feature_table.COLUMNS`: int -> int64, float -> float64, bool -> bool,
str -> string). Rows are written
in row groups as they come, so memory stays flat on long runs; `close()` finishes the file.

Rows come in two ways. The backtest's, one at a time, go straight into a numpy structured buffer
(one C-level assignment that also turns the enums and numpy scalars some fields carry into plain
values); the feature replay's come a chunk at a time, column by column (`record_columns`), and
become Arrow columns without a copy. Both wait as Arrow tables until a row group is full.
Keeping the row tuples and transposing them at the flush cost 3x as much as the structured buffer
(~7 µs a row in a replay) and held ~4x the memory.

Only the string column is dictionary-encoded and only the timestamps keep min/max statistics:
trying a dictionary on every float column (Parquet's default) cost 5-7x the rest of the write
(0.5 s of a 3 s replay of the simulated hour) for a larger file.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from scalp_nautilus.data import spans
from scalp_nautilus.feature_row import FeatureSnapshot
from scalp_nautilus.feature_table import COLUMNS

_ARROW = {int: pa.int64(), float: pa.float64(), bool: pa.bool_(), str: pa.string()}
_NUMPY = {int: np.int64, float: np.float64, bool: np.bool_, str: object}
SCHEMA = pa.schema([(c.name, _ARROW[c.kind]) for c in COLUMNS])
_ROW = np.dtype([(c.name, _NUMPY[c.kind]) for c in COLUMNS])
_DICTIONARY = [c.name for c in COLUMNS if c.kind is str]
_STATISTICS = [c.name for c in COLUMNS if c.name.startswith("ts_")]


UNAVAILABLE_KEY = b"scalp_nautilus.unavailable"  # metadata: the columns the book could not give (JSON list)


def unavailable_columns(schema: pa.Schema) -> list[str]:
    """The columns a feature file says were unavailable (its book showed too few levels)."""
    value = (schema.metadata or {}).get(UNAVAILABLE_KEY)
    return json.loads(value) if value else []


class FeatureRecorder:
    def __init__(
        self,
        path: str | Path,
        rows_per_group: int = 50_000,
        invalid_spans: Sequence[tuple[int, int]] = (),
        unavailable: Sequence[str] = (),
    ) -> None:
        """`invalid_spans`: the data's (`scalp_nautilus.data.spans`), kept in the file's metadata so
        that readers of the rows know where rows are missing on purpose; `unavailable`: the columns
        the book could not give (`FeaturePipeline.unavailable`: NaN, or an int's missing value, in
        every row; the top-of-book mode), kept there too."""
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.rows_per_group = rows_per_group
        self.rows = 0
        self._buffer = np.zeros(rows_per_group, dtype=_ROW)
        self._buffered = 0
        self._tables: list[pa.Table] = []  # rows waiting for a full row group, in order
        self._waiting = 0
        metadata = {spans.METADATA_KEY: spans.encode(invalid_spans)} if invalid_spans else {}
        if unavailable:
            metadata[UNAVAILABLE_KEY] = json.dumps(list(unavailable)).encode()
        self._schema = SCHEMA.with_metadata(metadata) if metadata else SCHEMA
        self._writer: pq.ParquetWriter | None = pq.ParquetWriter(
            self.path, self._schema, use_dictionary=_DICTIONARY, write_statistics=_STATISTICS
        )

    def record(self, row: FeatureSnapshot) -> None:
        self._buffer[self._buffered] = row
        self._buffered += 1
        if self._buffered == self.rows_per_group:
            self._take_buffer()
            self._write()

    def record_columns(self, columns: dict[str, np.ndarray | list]) -> None:
        """Record many rows given column by column (every field, equal lengths): the feature
        replay's chunks, without a Python object per row. The arrays are kept, not copied, until
        their row group is written: they must not change after the call."""
        self._take_buffer()
        arrays = [pa.array(columns[field.name], type=field.type) for field in SCHEMA]
        self._add(pa.Table.from_arrays(arrays, schema=self._schema))
        if self._waiting >= self.rows_per_group:
            self._write()

    def close(self) -> None:
        if self._writer is None:
            return
        self._take_buffer()
        self._write(partial=True)
        self._writer.close()
        self._writer = None

    def _take_buffer(self) -> None:
        """The single rows buffered so far, as a table behind those already waiting."""
        if not self._buffered:
            return
        rows = self._buffer[: self._buffered]
        # a field of a structured array is strided: Arrow copies it, and the buffer can be reused
        self._add(pa.Table.from_arrays([pa.array(rows[field.name], type=field.type) for field in SCHEMA], schema=self._schema))
        self._buffered = 0

    def _add(self, table: pa.Table) -> None:
        self._tables.append(table)
        self._waiting += table.num_rows

    def _write(self, partial: bool = False) -> None:
        """Write the full row groups waiting (and with `partial`, the rest too)."""
        if self._writer is None:
            raise RuntimeError(f"{self.path}: the feature recorder is closed")
        whole = self._waiting if partial else self._waiting - self._waiting % self.rows_per_group
        if not whole:
            return
        table = pa.concat_tables(self._tables).combine_chunks()
        self._writer.write_table(table.slice(0, whole), row_group_size=self.rows_per_group)
        rest = table.slice(whole)
        self._tables = [rest] if rest.num_rows else []
        self._waiting = rest.num_rows
        self.rows += whole

    def __enter__(self) -> FeatureRecorder:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
