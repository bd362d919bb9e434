"""The configuration reference, generated from the settings classes themselves.

Every YAML file in `configs/` is decoded into one root settings class (`ROOTS`); this module walks
each root with `msgspec.inspect` (nested sections included) and writes one table per section:
key, type and constraints, default, description. The description is read from where the code
already says it, in this order: a `Meta(description=...)` on the field's type, the comment block
right above the field and its trailing comment in the class's source, or, for a field inherited
from a Nautilus config, the "Parameters" section of that class's docstring. A key with none of
these is undocumented: `undocumented()` lists them and `tests/test_docs.py` fails on any.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import io
import re
import textwrap
import tokenize
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from functools import cache
from typing import Any

import msgspec
import msgspec.inspect as mi


@dataclass(frozen=True)
class Root:
    """One kind of configuration file and the class it is decoded into."""

    title: str
    files: str  # the files in configs/ it covers (a glob), e.g. "live_*.yaml"
    cls: str  # "module:Class"
    intro: str  # what the file is for; where it is read


ROOTS = [
    Root(
        "Strategy",
        "strategy.yaml",
        "scalp_nautilus.strategy.settings:ScalpStrategyConfig",
        "Every parameter of `ScalpStrategy`: its features, decision, orders, exits, fees, risk and warm state. "
        "Backtests, live nodes, sweeps and the feature replay read it (a backtest or live config names it in "
        "`strategy.config_file` and may override keys under `strategy.config`). `instrument_id` is filled in "
        "from the run.",
    ),
    Root(
        "Backtest",
        "backtest*.yaml",
        "scalp_nautilus.backtest.settings:BacktestSettings",
        "`scalp-nautilus backtest --config FILE`: what to replay, how the simulated venue behaves, which strategy runs.",
    ),
    Root(
        "Sweep and walk-forward",
        "sweep*.yaml",
        "scalp_nautilus.backtest.sweep:SweepSettings",
        "`scalp-nautilus sweep | walk-forward --config FILE`: a grid of strategy overrides x date ranges, on Ray.",
    ),
    Root(
        "Live node",
        "live_*.yaml",
        "scalp_nautilus.live.settings:LiveSettings",
        "`scalp-nautilus live --config FILE`: venue, instrument, strategy, logging, timeouts, Nautilus's risk engine.",
    ),
    Root(
        "Replay venue",
        "replay_venue*.yaml",
        "scalp_nautilus.live.venue.settings:ReplayVenueSettings",
        "`scalp-nautilus replay-venue --config FILE`: a capture served on 127.0.0.1 as Binance's or Bybit's API.",
    ),
    Root(
        "Market-data capture",
        "record*.yaml",
        "scalp_nautilus.capture.settings:CaptureSettings",
        "`scalp-nautilus record --config FILE`: what to capture, from which endpoints, rotation, limits, import.",
    ),
]


@dataclass(frozen=True)
class Key:
    key: str  # dotted from the file's top level
    type: str
    default: str
    description: str
    owner: type  # the class whose field it is
    section: bool  # a nested settings section (documented in its own table)


def load(path: str) -> type:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def keys(cls: type, prefix: str = "") -> Iterator[Key]:
    """Every key of `cls`, depth first: a section's own row, then its keys."""
    docs = field_docs(cls)
    for f in fields_of(cls):
        key = f"{prefix}{f.encode_name}"
        nested = struct_class(f.type)
        yield Key(
            key=key,
            type=type_text(f.type),
            default=default_text(f),
            description=docs.get(f.name, "") or _description_meta(f.type) or (_first_paragraph(nested) if nested else ""),
            owner=_owner(cls, f.name),
            section=nested is not None,
        )
        if nested is not None:
            yield from keys(nested, key + ".")


def sections(cls: type, prefix: str = "") -> Iterator[tuple[str, type]]:
    """(dotted prefix, class) of `cls` and every nested settings section, depth first."""
    yield prefix, cls
    for f in fields_of(cls):
        nested = struct_class(f.type)
        if nested is not None:
            yield from sections(nested, f"{prefix}{f.encode_name}.")


def undocumented(roots: list[Root] = ROOTS) -> list[str]:
    """`file: key (module.Class.field)` for every key without a description."""
    out = []
    for root in roots:
        for k in keys(load(root.cls)):
            if not k.description.strip():
                out.append(f"{root.files}: {k.key} ({k.owner.__module__}.{k.owner.__qualname__})")
    return out


# ---------------------------------------------------------------------- types and defaults


def fields_of(cls: type) -> tuple[mi.Field, ...]:
    info = mi.type_info(cls)
    return tuple(getattr(info, "fields", ()))


def struct_class(t: mi.Type) -> type | None:
    """The settings class of a section field (directly, or optional), else None."""
    if isinstance(t, mi.Metadata):
        return struct_class(t.type)
    if isinstance(t, mi.StructType | mi.DataclassType):
        return t.cls
    if isinstance(t, mi.UnionType):
        found = [c for c in map(struct_class, t.types) if c is not None]
        return found[0] if len(found) == 1 else None
    return None


_BOUNDS = (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<="))


def type_text(t: mi.Type) -> str:
    if isinstance(t, mi.Metadata):
        return type_text(t.type)
    if isinstance(t, mi.UnionType):
        parts = [type_text(s) for s in t.types if not isinstance(s, mi.NoneType)]
        text = " or ".join(parts)
        return f"{text} or null" if len(parts) < len(t.types) else text
    if isinstance(t, mi.LiteralType):
        return " | ".join(f"`{_yaml(v)}`" for v in t.values)
    if isinstance(t, mi.StructType | mi.DataclassType):
        return "section"
    if isinstance(t, mi.IntType | mi.FloatType):
        name = "int" if isinstance(t, mi.IntType) else "float"
        bounds = [f"{op} {_yaml(getattr(t, attr))}" for attr, op in _BOUNDS if getattr(t, attr) is not None]
        return f"{name} {', '.join(bounds)}" if bounds else name
    if isinstance(t, mi.TupleType):
        return "[" + ", ".join(type_text(s) for s in t.item_types) + "]"
    if isinstance(t, mi.VarTupleType | mi.ListType):
        return f"list of {type_text(t.item_type)}"
    if isinstance(t, mi.DictType):
        return f"mapping of {type_text(t.key_type)} to {type_text(t.value_type)}"
    if isinstance(t, mi.EnumType):
        return " | ".join(f"`{m.name}`" for m in t.cls)
    if isinstance(t, mi.CustomType):
        return t.cls.__name__
    simple = {
        mi.BoolType: "bool",
        mi.StrType: "str",
        mi.AnyType: "any",
        mi.NoneType: "null",
    }
    return simple.get(type(t), type(t).__name__.removesuffix("Type").lower())


def _description_meta(t: mi.Type) -> str:
    if isinstance(t, mi.Metadata):
        return (t.extra_json_schema or {}).get("description", "")
    if isinstance(t, mi.UnionType):
        return next((d for d in map(_description_meta, t.types) if d), "")
    return ""


def default_text(f: mi.Field) -> str:
    if f.required:
        return "required"
    value = f.default if f.default_factory is msgspec.NODEFAULT else f.default_factory()
    if _is_settings(value):
        return "(section)"
    return f"`{_yaml(value)}`"


def _is_settings(value: Any) -> bool:
    return isinstance(value, msgspec.Struct) or hasattr(type(value), "__dataclass_fields__")


def _yaml(value: Any) -> str:
    """`value` as it would be written in the YAML file."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return value.name
    if isinstance(value, float) and value.is_integer() and abs(value) >= 1e4:
        return f"{value:,.1f}".replace(",", "_")
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_yaml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_yaml(v)}" for k, v in value.items()) + "}"
    if isinstance(value, str):
        return value if value and re.fullmatch(r"[\w./:@-]+", value) and value not in ("null", "true", "false") else f'"{value}"'
    return str(value)


# ---------------------------------------------------------------------- descriptions from the source


def field_docs(cls: type) -> dict[str, str]:
    """Field name -> description, from each class of `cls`'s MRO (the nearest definition wins)."""
    out: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        out.update({k: v for k, v in _class_field_docs(klass).items() if v})
    return out


def _owner(cls: type, name: str) -> type:
    """The class of `cls`'s MRO that declares field `name`."""
    for klass in cls.__mro__:
        if name in getattr(klass, "__annotations__", {}):
            return klass
    return cls


@cache
def _class_field_docs(cls: type) -> dict[str, str]:
    if cls in (object, msgspec.Struct) or not getattr(cls, "__annotations__", None):
        return {}
    docs = _numpydoc_parameters(_own_doc(cls))
    try:
        lines, _ = inspect.getsourcelines(cls)
    except (OSError, TypeError):
        return docs
    source = textwrap.dedent("".join(lines))
    comments = _comments(source)
    tree = ast.parse(source)
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    previous_end = tree.body[0].lineno if tree.body else 0
    for node in body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            above = _block_above(comments, node.lineno, previous_end)
            trailing = [comments[n] for n in range(node.lineno, (node.end_lineno or node.lineno) + 1) if n in comments]
            text = " ".join([*above, *trailing]).strip()
            if text:
                docs[node.target.id] = text
        previous_end = node.end_lineno or node.lineno
    return docs


def _comments(source: str) -> dict[int, str]:
    """Line number -> the text of the comment on that line."""
    out = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            out[tok.start[0]] = tok.string.lstrip("#").strip()
    return out


def _block_above(comments: dict[int, str], line: int, previous_end: int) -> list[str]:
    """The contiguous whole-line comments ending right above `line` (after the previous statement)."""
    block: list[str] = []
    n = line - 1
    while n > previous_end and n in comments:
        block.insert(0, comments[n])
        n -= 1
    return block


_PARAM = re.compile(r"^(?P<name>\w+) : .*$")


def _numpydoc_parameters(doc: str) -> dict[str, str]:
    """The "Parameters" section of a numpydoc docstring (Nautilus's style): name -> description."""
    out: dict[str, str] = {}
    match = re.search(r"^Parameters\n-+\n(?P<body>.*?)(?:\n\n[A-Z]\w*\n-+\n|\Z)", doc, re.S | re.M)
    if not match:
        return out
    name = None
    for line in match.group("body").splitlines():
        head = _PARAM.match(line)
        if head:
            name = head.group("name")
            out[name] = ""
        elif name and line.strip():
            out[name] = f"{out[name]} {line.strip()}".strip()
    return out


def _own_doc(cls: type) -> str:
    """The class's own docstring (not one inherited from a base such as Nautilus's config class)."""
    doc = cls.__dict__.get("__doc__")
    return inspect.cleandoc(doc) if isinstance(doc, str) else ""


def _first_paragraph(cls: type) -> str:
    return " ".join(_own_doc(cls).split("\n\n")[0].split())


# ---------------------------------------------------------------------- markdown


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _sentence(text: str) -> str:
    text = _cell(text)
    return text[:1].upper() + text[1:]


def _anchor(root: Root, prefix: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", f"{root.title} {prefix}".lower()).strip("-")
    return slug


def render(roots: list[Root] = ROOTS) -> str:
    out = [
        "# Configuration reference",
        "",
        "Generated from the settings classes when the site is built (`docs/hooks/config_reference.py`): every",
        "key a file accepts, its type and range as checked when the file is loaded, its default, and the",
        "description from the code. A key without a description fails the build's test",
        "(`tests/test_docs.py`). Unknown keys, wrong types and out-of-range values stop a command before",
        "it starts, naming the file and the key.",
        "",
        "| file in `configs/` | decoded into |",
        "|---|---|",
    ]
    for root in roots:
        cls = load(root.cls)
        out.append(f"| [`{root.files}`](#{_anchor(root, '')}) | `{cls.__module__}.{cls.__qualname__}` |")
    for root in roots:
        cls = load(root.cls)
        out += ["", f"## {root.title}: `{root.files}` {{ #{_anchor(root, '')} }}", "", root.intro, ""]
        by_prefix: dict[str, list[Key]] = {}
        for k in keys(cls):
            by_prefix.setdefault(k.key.rpartition(".")[0] + "." if "." in k.key else "", []).append(k)
        for prefix, section in sections(cls):
            if prefix:
                out += ["", f"### `{prefix.rstrip('.')}` {{ #{_anchor(root, prefix)} }}", ""]
            doc = _own_doc(section)
            if doc and not _is_numpydoc(doc):
                out += [doc, ""]
            out += ["| key | type | default | description |", "|---|---|---|---|"]
            # The project's keys first, then those inherited from a Nautilus config.
            for k in sorted(by_prefix.get(prefix, []), key=lambda k: k.owner.__module__.startswith("nautilus_trader")):
                name = k.key.rpartition(".")[2]
                if k.section:
                    name = f"[`{name}`](#{_anchor(root, k.key + '.')})"
                else:
                    name = f"`{name}`"
                nautilus = " *(Nautilus)*" if k.owner.__module__.startswith("nautilus_trader") else ""
                out.append(f"| {name} | {_cell(k.type)} | {_cell(k.default)} | {_sentence(k.description)}{nautilus} |")
    return "\n".join(out) + "\n"


def _is_numpydoc(doc: str) -> bool:
    return bool(re.search(r"^Parameters\n-+$", doc, re.M))
