"""Compiled state: the numbers of every feature live in two flat arrays per indicator, updated by numba.

Each indicator keeps its numeric state in a float64 array `_s` and an int64 array `_n` (timestamps,
counts, flags, states); its parameters sit at the front of them, so the compiled update functions
need nothing else. The slots are named by module-level constants in each indicator's module. An
indicator built on its own allocates its arrays; the `FeaturePipeline` adopts every indicator into
one pair of arrays (`adopt`: the indicator's arrays become views of the pipeline's), so one
compiled call per book batch updates them all, and the indicator objects stay Nautilus
`Indicator`s whose attributes read that state.

The first two int slots of every indicator are Nautilus's flags: `has_inputs` and `initialized`.

Warm state (`state` / `restore`) is the two arrays as they are, plus the parameters they were
built with: a restored indicator continues bit for bit.

Python's `sum()` of floats (Neumaier's compensated sum since 3.12) is reproduced by `sum_add` /
`sum_result` / `python_sum`. Two numpy operations are reproduced exactly, so the compiled numbers
equal numpy's:
`pairwise_sum` is numpy's summation of a float64 array (`ndarray.sum`, `mean`), and
`quantiles_linear` is `np.quantile(..., method="linear")`, lerp included. Both are tested against
numpy (tests/test_compiled.py).
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
from numba import njit
from numba.extending import register_jitable

from nautilus_trader.indicators.base import Indicator

HAS_INPUTS, INITIALIZED = 0, 1  # the first two int slots of every indicator

_PACKAGE = Path(__file__).resolve().parents[1]


def _drop_stale_kernels() -> None:
    """numba's on-disk cache (`cache=True`) checks only the file of the function it compiled, not
    the files of the functions it inlined: after an edit of an indicator, the pipeline's batch
    kernel would load its old machine code. So the cache is keyed here on every kernel source of
    the package: when one changed, the package's cached kernels are dropped (they recompile once)."""
    kernels = ("indicators/*.py", "features.py", "book.py", "models/ensemble.py", "models/lstm.py", "feature_replay/book.py")
    sources = sorted(p for pattern in kernels for p in _PACKAGE.glob(pattern))
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()
    stamp = _PACKAGE / "__pycache__" / "numba_kernels.sha256"
    try:
        if stamp.read_text() == digest:
            return
    except OSError:
        pass
    for cached in (*_PACKAGE.rglob("*.nbi"), *_PACKAGE.rglob("*.nbc")):
        cached.unlink(missing_ok=True)
    try:
        stamp.parent.mkdir(exist_ok=True)
        stamp.write_text(digest)
    except OSError:  # a read-only install: numba cannot write its cache there either
        pass


_drop_stale_kernels()


@njit(cache=True)
def _block_sum(a, lo, n):
    if n < 8:
        res = 0.0
        for i in range(lo, lo + n):
            res += a[i]
        return res
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    i = 8
    m = n - n % 8
    while i < m:
        j = lo + i
        r0 += a[j]
        r1 += a[j + 1]
        r2 += a[j + 2]
        r3 += a[j + 3]
        r4 += a[j + 4]
        r5 += a[j + 5]
        r6 += a[j + 6]
        r7 += a[j + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[lo + i]
        i += 1
    return res


@njit(cache=True)
def pairwise_sum(a, lo, n):
    """numpy's sum of a[lo:lo + n] (float64), same association: blocks of 8 partial sums up to
    128 values, halves (multiples of 8) above (evaluated here with a stack: numba's cache does
    not keep recursive functions)."""
    if n <= 128:
        return _block_sum(a, lo, n)
    los = np.empty(64, dtype=np.int64)
    ns = np.empty(64, dtype=np.int64)
    stage = np.zeros(64, dtype=np.int64)
    values = np.empty(64)
    top = 0
    nv = 0
    los[0], ns[0], stage[0] = lo, n, 0
    while top >= 0:
        lo_, n_ = los[top], ns[top]
        if n_ <= 128:
            values[nv] = _block_sum(a, lo_, n_)
            nv += 1
            top -= 1
            continue
        n2 = n_ // 2
        n2 -= n2 % 8
        if stage[top] == 0:
            stage[top] = 1
            top += 1
            los[top], ns[top], stage[top] = lo_, n2, 0
        elif stage[top] == 1:
            stage[top] = 2
            top += 1
            los[top], ns[top], stage[top] = lo_ + n2, n_ - n2, 0
        else:
            nv -= 1
            values[nv - 1] = values[nv - 1] + values[nv]
            top -= 1
    return values[0]


@njit(cache=True)
def quantiles_linear(values, levels, out):
    """`np.quantile(values, levels)` (linear method) into `out`."""
    a = np.sort(values)
    n = a.shape[0]
    for k in range(levels.shape[0]):
        virtual = (n - 1) * levels[k]
        if virtual >= n - 1:
            out[k] = a[n - 1]
            continue
        if virtual < 0.0:
            out[k] = a[0]
            continue
        previous = math.floor(virtual)
        lo = a[int(previous)]
        hi = a[int(previous) + 1]
        gamma = virtual - previous
        diff = hi - lo
        out[k] = hi - diff * (1.0 - gamma) if gamma >= 0.5 else lo + diff * gamma


@register_jitable
def sum_add(total, compensation, x):
    """One step of Python 3.12's `sum()` of floats (Neumaier's compensated sum): returns the new
    total and compensation. Plain Python and numba alike (`register_jitable`)."""
    t = total + x
    if abs(total) >= abs(x):
        compensation += (total - t) + x
    else:
        compensation += (x - t) + total
    return t, compensation


@register_jitable
def sum_result(total, compensation):
    """The sum `sum_add` steps give: CPython adds the compensation unless it is 0 or not finite."""
    if compensation != 0.0 and math.isfinite(compensation):
        total += compensation
    return total


@njit(cache=True)
def python_sum(values):
    """Python's `sum(values)` of floats (compensated since 3.12), in numba."""
    total = 0.0
    compensation = 0.0
    for x in values:
        total, compensation = sum_add(total, compensation, x)
    return sum_result(total, compensation)


class CompiledIndicator(Indicator):
    """Base of the indicators whose state is compiled: `_s` (float64) and `_n` (int64), see the
    module doc. Subclasses allocate with `_allocate`, derive their sub-views in `_views`, and keep
    Python-side objects (skip counters) out of the arrays."""

    _s: np.ndarray
    _n: np.ndarray

    def _allocate(self, floats: int, ints: int) -> None:
        self._s = np.zeros(floats)
        self._n = np.zeros(ints, dtype=np.int64)
        self._views()

    def _views(self) -> None:
        """Rebuild any sub-array views of `_s` / `_n` (rings) after they were (re)bound."""

    def adopt(self, s: np.ndarray, n: np.ndarray) -> None:
        """Move the state into `s` / `n` (views of a pipeline's arrays, of this indicator's sizes)."""
        s[:] = self._s
        n[:] = self._n
        self._s, self._n = s, n
        self._views()

    @property
    def has_inputs(self) -> bool:
        return bool(self._n[HAS_INPUTS])

    @property
    def initialized(self) -> bool:
        return bool(self._n[INITIALIZED])

    def _set_has_inputs(self, setting: bool) -> None:
        self._n[HAS_INPUTS] = setting

    def _set_initialized(self, setting: bool) -> None:
        self._n[INITIALIZED] = setting

    def reset(self) -> None:
        self._reset()

    def _reset(self) -> None:
        raise NotImplementedError

    def state(self) -> dict:
        """The compiled state as it is (JSON-safe: every float digit kept)."""
        return {"s": self._s.tolist(), "n": self._n.tolist()}

    def restore(self, state: dict) -> None:
        """Continue from `state()` of an indicator built with the same parameters; a state of other
        sizes is refused (ValueError) and this one left as it was."""
        s = np.asarray(state["s"], dtype=np.float64)
        n = np.asarray(state["n"], dtype=np.int64)
        if s.shape != self._s.shape or n.shape != self._n.shape:
            raise ValueError(
                f"{type(self).__name__}: saved state has {s.size} + {n.size} slots, this one {self._s.size} + {self._n.size}"
            )
        self._s[:] = s
        self._n[:] = n
