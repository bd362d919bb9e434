"""The version guard of the Nautilus internals the project touches (`scalp_nautilus.nautilus_internals`):
each private name resolves in the installed Nautilus (on the class, or assigned in the source of a
class it derives from), each overridden hook keeps the parameters the override expects, and each
behaviour the project relies on still names an existing guard test. A failure names the entry."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

import nautilus_trader

from scalp_nautilus.nautilus_internals import BEHAVIOURS
from scalp_nautilus.nautilus_internals import INTERNALS
from scalp_nautilus.nautilus_internals import PINNED_VERSION
from scalp_nautilus.nautilus_internals import Internal

ROOT = Path(__file__).resolve().parents[1]


def where_missing(entry: Internal) -> str | None:
    """None if the installed Nautilus still has `entry` as listed, else what moved."""
    module_name, _, class_name = entry.owner.partition(":")
    try:
        owner = importlib.import_module(module_name)
    except ImportError as exc:
        return f"module {module_name} is gone ({exc})"
    if class_name:
        owner = getattr(owner, class_name, None)
        if owner is None:
            return f"{entry.owner} is gone"
    if hasattr(owner, entry.name):
        found = getattr(owner, entry.name)
    elif inspect.isclass(owner) and _assigned_in_source(owner, entry.name):
        return None  # an instance attribute its __init__ (or a base's) sets
    else:
        return f"{entry.owner} has no {entry.name}"
    if entry.parameters is not None:
        try:
            parameters = tuple(inspect.signature(found).parameters)
        except (TypeError, ValueError):
            return f"{entry.owner}.{entry.name}: its signature cannot be read"
        if parameters != entry.parameters:
            return f"{entry.owner}.{entry.name} takes {parameters}, the project overrides it as {entry.parameters}"
    return None


def _assigned_in_source(cls: type, name: str) -> bool:
    for base in cls.__mro__:
        try:
            tree = ast.parse(inspect.getsource(base).strip())
        except (OSError, TypeError, SyntaxError):
            continue  # compiled (Cython) or builtin: its attributes are on the class
        for node in ast.walk(tree):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
            for t in targets:
                if isinstance(t, ast.Attribute) and t.attr == name and isinstance(t.value, ast.Name) and t.value.id == "self":
                    return True
    return False


def test_pinned_version_is_installed():
    """An upgrade fails here first: re-read every entry of the registry, then bump the pin."""
    assert nautilus_trader.__version__ == PINNED_VERSION


def _id(entry: Internal) -> str:
    module, _, cls = entry.owner.partition(":")
    return f"{cls or module.rpartition('.')[2]}.{entry.name}"


@pytest.mark.parametrize("entry", INTERNALS, ids=_id)
def test_internal_still_there(entry):
    assert where_missing(entry) is None, where_missing(entry)


@pytest.mark.parametrize("behaviour", BEHAVIOURS, ids=lambda b: b.guard.rpartition("::")[2])
def test_behaviour_has_its_guard_test(behaviour):
    path, _, name = behaviour.guard.partition("::")
    source = (ROOT / path).read_text()
    assert f"def {name}(" in source, f"{behaviour.guard} (guarding: {behaviour.what}) does not exist"


# Python's, not Nautilus's: namedtuple's documented API, and argparse's parser tree, which has no
# public walk (cli.subcommands reads it for the CLI reference and the help test)
_PYTHON_API = {"_fields", "_field_defaults", "_replace", "_asdict", "_make", "_actions", "_SubParsersAction", "_choices_actions"}


def _package_sources() -> dict[str, ast.Module]:
    return {str(p.relative_to(ROOT)): ast.parse(p.read_text()) for p in (ROOT / "scalp_nautilus").rglob("*.py")}


def _own_private_names(trees) -> set[str]:
    """The `_names` the package defines: functions, methods, classes, module names, `self._x = ...`."""
    own = set()
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                own.add(node.name)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                for t in node.targets if isinstance(node, ast.Assign) else [node.target]:
                    own.add(t.attr if isinstance(t, ast.Attribute) else getattr(t, "id", ""))
    return {n for n in own if n.startswith("_")}


def _nautilus_subclasses() -> list[type]:
    classes = []
    for path in (ROOT / "scalp_nautilus").rglob("*.py"):
        if "nautilus_trader" not in path.read_text():
            continue
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        module = importlib.import_module(name)
        for obj in vars(module).values():
            ours = inspect.isclass(obj) and obj.__module__ == name
            if ours and any(b.__module__.startswith("nautilus_trader") for b in obj.__mro__[1:]):
                classes.append(obj)
    return classes


def _inherited(cls: type, name: str) -> bool:
    """`name` comes from one of the Nautilus classes `cls` derives from."""
    bases = [b for b in cls.__mro__[1:] if b.__module__.startswith("nautilus_trader")]
    return any(hasattr(b, name) or _assigned_in_source(b, name) for b in bases)


@pytest.mark.slow
def test_every_private_nautilus_name_in_the_package_is_listed():
    """The registry is complete: every `_name` the package imports from Nautilus, reads off an object
    not its own, or uses or overrides in a subclass of a Nautilus class while a Nautilus base defines
    it, is an entry (a name added without an entry fails here)."""
    listed = {e.name for e in INTERNALS}
    trees = _package_sources()
    own = _own_private_names(trees.values())
    found: dict[str, str] = {}
    for where, tree in trees.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("nautilus_trader"):
                found.update({a.name: where for a in node.names if a.name.startswith("_")})
            elif isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                mine = isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")
                if not mine and node.attr not in own and node.attr not in _PYTHON_API:
                    found[node.attr] = where
    for cls in _nautilus_subclasses():
        names = {
            n.attr
            for n in ast.walk(ast.parse(inspect.getsource(cls)))
            if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "self"
        }
        names |= set(vars(cls))
        for name in names:
            if name.startswith("_") and not name.startswith("__") and _inherited(cls, name):
                found[name] = f"{cls.__module__}.{cls.__name__}"
    missing = {name: where for name, where in sorted(found.items()) if name not in listed}
    assert not missing, missing


def test_a_simulated_rename_in_nautilus_fails_the_guard(monkeypatch):
    """An upgrade that renames a hook the project overrides (simulated here on the installed class)
    or changes its parameters is reported, naming the entry: the guard can fail."""
    from nautilus_trader.adapters.bybit.data import BybitDataClient

    entry = next(e for e in INTERNALS if e.name == "_handle_msg")
    assert where_missing(entry) is None
    hook = BybitDataClient._handle_msg
    monkeypatch.delattr(BybitDataClient, "_handle_msg")
    monkeypatch.setattr(BybitDataClient, "_handle_message", hook, raising=False)
    assert where_missing(entry) == f"{entry.owner} has no _handle_msg"

    monkeypatch.setattr(BybitDataClient, "_handle_msg", lambda self, raw, extra: None, raising=False)
    assert "takes ('self', 'raw', 'extra')" in str(where_missing(entry))
