"""Warm state: an indicator's rolling state as plain, JSON-safe data, so a live node that restarts
can carry on from where it stopped instead of warming up again.

An indicator class lists its state in `_STATE` (attributes saved as values: floats, ints, bools,
numpy arrays, deques, tuples, enums) and `_CHILDREN` (attributes holding objects with their own
`state()` / `restore()`); `WarmState` provides both methods, and a class with something special
(arrays in a tuple, Nautilus's own indicators) extends them. A Nautilus `Indicator`'s
`has_inputs` / `initialized` flags are saved with it. Restoring checks that every saved name is
there and that arrays keep their shape, so a state saved under other parameters (another window
length) is refused with a ValueError instead of being half applied.

Values round-trip exactly through JSON (Python writes floats with every digit), so a restored
indicator continues bit for bit like one that never stopped, except where noted by a class
(`LOBFeatureVector`'s Nautilus bar indicators).
"""

from __future__ import annotations

from collections import deque
from enum import Enum
from typing import TYPE_CHECKING
from typing import Any

import numpy as np

from nautilus_trader.indicators.base import Indicator


def to_plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (deque, tuple, list)):
        return [to_plain(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, np.generic):
        return value.item()
    return value


def from_plain(template: Any, value: Any) -> Any:
    """`value` (from `to_plain`) in the type of the attribute it replaces; arrays are filled in place."""
    if isinstance(template, np.ndarray):
        array = np.asarray(value, dtype=template.dtype)
        if array.shape != template.shape:
            raise ValueError(f"saved array of shape {array.shape}, this one has {template.shape}")
        template[...] = array
        return template
    if isinstance(template, deque):
        template.clear()
        template.extend(tuple(v) if isinstance(v, list) else v for v in value)
        return template
    if isinstance(template, tuple):
        return tuple(value)
    if isinstance(template, Enum):
        return type(template)(value)
    return value


class WarmState:
    """Mixin: `state()` / `restore()` from the class's `_STATE` and `_CHILDREN` (see the module doc)."""

    __slots__ = ()
    _STATE: tuple[str, ...] = ()
    _CHILDREN: tuple[str, ...] = ()
    # What the host provides (an `Indicator`, or a plain class with the same protocol); declared
    # for the type checker only, so that nothing here shadows `Indicator.reset` in the MRO.
    initialized: bool
    if TYPE_CHECKING:

        def reset(self) -> None: ...

    def state(self) -> dict:
        out = {name: to_plain(getattr(self, name)) for name in self._STATE}
        for name in self._CHILDREN:
            out[name] = getattr(self, name).state()
        if isinstance(self, Indicator):
            out["flags"] = [self.has_inputs, self.initialized]
        return out

    def restore(self, state: dict) -> None:
        missing = [n for n in (*self._STATE, *self._CHILDREN) if n not in state]
        if missing:
            raise ValueError(f"{type(self).__name__}: saved state lacks {missing}")
        for name in self._STATE:
            setattr(self, name, from_plain(getattr(self, name), state[name]))
        for name in self._CHILDREN:
            getattr(self, name).restore(state[name])
        if isinstance(self, Indicator):
            has_inputs, initialized = state["flags"]
            self._set_has_inputs(bool(has_inputs))
            self._set_initialized(bool(initialized))
