"""YAML configuration files decoded into frozen, typed msgspec structs.

Types, ranges and allowed values live on the struct fields (``Annotated[float, Meta(gt=0)]``,
``Literal[...]``); msgspec checks them in strict mode (no silent "3" -> 3.0) and refuses unknown
keys. `load_yaml` turns its messages into one that names the file, the dotted key and what is
expected, and suggests the closest valid key for a misspelling.
"""

from __future__ import annotations

import difflib
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any
from typing import TypeVar

import msgspec
import yaml

if TYPE_CHECKING:
    import pandas as pd

from scalp_nautilus.errors import InputError

T = TypeVar("T")

_AT = re.compile(r" - at `\$\.?(?P<path>[^`]*)`$")
_UNKNOWN = re.compile(r"Object contains unknown field `(?P<field>[^`]+)`")
_FIELD = re.compile(r"(?P<field>[A-Za-z_][\w.]*): ")


class ConfigError(InputError):
    """A configuration file that cannot be used; the message names the file and the key."""


def load_yaml(path: str | Path, type_: type[T], overrides: dict[str, Any] | None = None) -> T:
    """Read `path` and decode it into `type_`, or raise `ConfigError`."""
    raw = read_yaml(path)
    if overrides:
        raw = {**raw, **overrides}
    return decode(raw, type_, str(path))


def read_yaml(path: str | Path) -> dict[str, Any]:
    """The mapping in the YAML file at `path` (empty file: {}), or `ConfigError`."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of keys at the top level, got {type(raw).__name__}")
    return raw


def parse_utc(text: str, name: str = "time") -> pd.Timestamp:
    """An ISO time; without a zone it is UTC. ValueError naming `name` if it is not a time."""
    import pandas as pd

    try:
        ts = pd.Timestamp(text)
    except ValueError:
        ts = pd.NaT
    if ts is pd.NaT:
        raise ValueError(f"{name}: expected an ISO time such as 2024-01-02T00:00:00Z, got {text!r}")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def merge(base: dict[str, Any], *overrides: dict[str, Any] | None) -> dict[str, Any]:
    """`base` with each override applied in turn; nested mappings are merged key by key."""
    out = dict(base)
    for override in overrides:
        for key, value in (override or {}).items():
            if isinstance(value, dict) and isinstance(out.get(key), dict):
                out[key] = merge(out[key], value)
            else:
                out[key] = value
    return out


def nest(dotted: dict[str, Any]) -> dict[str, Any]:
    """``{"exits.stop_k": 2.0}`` -> ``{"exits": {"stop_k": 2.0}}`` (to `merge` over a config)."""
    out: dict[str, Any] = {}
    for key, value in dotted.items():
        *parents, leaf = key.split(".")
        node = out
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out


def decode(raw: dict, type_: type[T], source: str) -> T:
    hook: Callable[[type, Any], Any] | None = None
    if "nautilus_trader" in sys.modules:
        # Nautilus's hook turns strings into its identifiers (InstrumentId) in Nautilus configs; a
        # settings type that holds Nautilus types was defined with Nautilus imported. The others (the
        # capture's) decode without importing it.
        from nautilus_trader.common.config import msgspec_decoding_hook as hook
    try:
        return msgspec.convert(raw, type=type_, strict=True, dec_hook=hook)
    except msgspec.ValidationError as exc:
        raise ConfigError(explain(str(exc), type_, source)) from None


def explain(message: str, type_: type, source: str) -> str:
    at = _AT.search(message)
    key = at.group("path") if at else ""
    what = message[: at.start()] if at else message
    unknown = _UNKNOWN.match(what)
    if unknown:
        field = unknown.group("field")
        valid = _field_names(type_, key)
        full = f"{key}.{field}" if key else field
        hint = difflib.get_close_matches(field, valid, n=1)
        suggestion = f" (did you mean `{hint[0]}`?)" if hint else ""
        return f"{source}: unknown key `{full}`{suggestion}; valid keys here: {', '.join(valid)}"
    # A struct's own check names the field it refused ("base_url_ws: ..."): that field is the key.
    field = _FIELD.match(what)
    if field and field.group("field").split(".")[0] in _field_names(type_, key):
        key = f"{key}.{field.group('field')}" if key else field.group("field")
        what = what[field.end() :]
    return f"{source}: key `{key or '<top>'}`: {what[0].lower()}{what[1:]}"


def _field_names(type_: type, dotted: str) -> list[str]:
    """Field names of the struct reached by following `dotted` from `type_`."""
    for part in filter(None, re.split(r"\.|\[\d+\]", dotted)):
        info = msgspec.inspect.type_info(type_)
        fields = {f.encode_name: f.type for f in getattr(info, "fields", ())}
        nxt = fields.get(part)
        if nxt is None:
            return []
        struct = _struct_of(nxt)
        if struct is None:
            return []
        type_ = struct
    info = msgspec.inspect.type_info(type_)
    return sorted(f.encode_name for f in getattr(info, "fields", ()))  # the names as written in YAML (`import`, not `import_`)


def _struct_of(t: msgspec.inspect.Type) -> type | None:
    if isinstance(t, msgspec.inspect.StructType):
        return t.cls
    for sub in getattr(t, "types", ()):  # Optional[...] and unions
        found = _struct_of(sub)
        if found is not None:
            return found
    item = getattr(t, "item_type", None)
    return _struct_of(item) if item is not None else None
