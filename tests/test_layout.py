"""The house rules, read from the source: no import circle, the dependency rule,
files of a readable size, and one definition per enum.

Everything is read with `ast`, nothing is imported: every `import` counts, at the
top of a module or inside a function (the lazy imports that keep start-up light).
Imports under `if TYPE_CHECKING:` never run, so they cannot make an import-order
circle; a circle through one is still a circle in the design, and has a test of
its own. The helpers take the tree's root, so the tests at the end plant a circle,
an upward import, a long file and a copied enum in a temporary tree and see each
rule catch it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("daemon", "checks", "retrain")
# Packages that must never import the daemon (ARCHITECTURE.md, the dependency rule).
BELOW_DAEMON = ("checks", "retrain")
MAX_LINES = 500
ENUM_BASES = frozenset({"Enum", "StrEnum", "IntEnum", "Flag", "IntFlag", "ReprEnum"})
# Two enums sharing this many values, one's a subset of the other's, are one vocabulary.
SHARED_VALUES = 3


# --------------------------------------------------------------------------- reading


def modules(root: Path, packages: Iterable[str] = PACKAGES) -> dict[str, Path]:
    """Every module under `packages`, by dotted name (a package by its own name)."""
    found: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _absolute(module: str, path: Path, node: ast.ImportFrom) -> str:
    """The absolute name of `from <node.module> import ...`, relative imports resolved."""
    if not node.level:
        return node.module or ""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imported_names(module: str, path: Path) -> Iterator[str]:
    """The absolute name of every module `module` imports from, anywhere in its body
    (`a.b` for `import a.b` and for `from a.b import c`)."""
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            yield _absolute(module, path, node)


def _resolve(name: str, known: Mapping[str, Path]) -> str | None:
    """The project module `name` lands in: itself, or its longest known prefix."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in known:
            return candidate
    return None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _type_only(tree: ast.Module) -> set[int]:
    """The ids of the import statements under `if TYPE_CHECKING:`."""
    return {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and _is_type_checking(node.test)
        for statement in node.body
        for inner in ast.walk(statement)
        if isinstance(inner, ast.Import | ast.ImportFrom)
    }


def _targets(
    module: str, path: Path, known: Mapping[str, Path], *, type_only: bool
) -> Iterator[str | None]:
    tree = _tree(path)
    skipped = set() if type_only else _type_only(tree)
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            yield from (_resolve(alias.name, known) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(module, path, node)
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                # `from pkg import mod` imports the submodule pkg.mod; `from pkg
                # import name` imports from pkg itself.
                yield submodule if submodule in known else _resolve(source, known)


def import_graph(
    root: Path, packages: Iterable[str] = PACKAGES, *, type_only: bool = False
) -> dict[str, set[str]]:
    """Module -> the project modules it imports; with `type_only`, the imports under
    `if TYPE_CHECKING:` too.

    `import a.b.c` and `from a.b import c` (c a module) are edges to a.b.c only: the
    parent packages' __init__ run too, but a package that re-exports its own
    submodules is no circle of the design.
    """
    known = modules(root, packages)
    return {
        module: {
            t
            for t in _targets(module, path, known, type_only=type_only)
            if t is not None and t != module
        }
        for module, path in known.items()
    }


def _strongly_connected(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iteratively; components of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            advanced = False
            for nxt in successors:
                if nxt not in graph:
                    continue
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _cycle_through(graph: Mapping[str, set[str]], members: list[str]) -> list[str]:
    """A shortest circle from the first member back to itself, inside its component."""
    inside = set(members)
    start = members[0]
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(graph[node] & inside):
                if nxt == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [*reversed(path), start]
                if nxt not in previous:
                    previous[nxt] = node
                    following.append(nxt)
        frontier = following
    return members


def import_cycles(
    root: Path, packages: Iterable[str] = PACKAGES, *, type_only: bool = False
) -> list[list[str]]:
    """One circle per strongly connected group of modules, as a path a -> ... -> a."""
    graph = import_graph(root, packages, type_only=type_only)
    return [_cycle_through(graph, members) for members in _strongly_connected(graph)]


def upward_imports(
    root: Path, below: Iterable[str] = BELOW_DAEMON, above: str = "daemon"
) -> list[str]:
    """`module imports name` for each import of `above` from the packages `below` it."""
    found = []
    for module, path in modules(root, below).items():
        for name in sorted(set(imported_names(module, path))):
            if name == above or name.startswith(above + "."):
                found.append(f"{module} imports {name}")
    return found


def long_files(root: Path, packages: Iterable[str] = PACKAGES, limit: int = MAX_LINES) -> list[str]:
    """`path: N lines` for each file over `limit` lines."""
    found = []
    for path in modules(root, packages).values():
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > limit:
            found.append(f"{path.relative_to(root)}: {lines} lines")
    return found


@dataclass(frozen=True)
class EnumDef:
    module: str
    name: str
    # String member values only: small integers (IntEnum, Flag) coincide without
    # being one vocabulary.
    values: frozenset[str]

    @property
    def where(self) -> str:
        return f"{self.module}.{self.name}"


def _base_name(base: ast.expr) -> str | None:
    if isinstance(base, ast.Name):
        return base.id
    if isinstance(base, ast.Attribute):
        return base.attr
    return None


def enums(root: Path, packages: Iterable[str] = PACKAGES) -> list[EnumDef]:
    """Every class deriving from enum.Enum, StrEnum, IntEnum, Flag or IntFlag."""
    found = []
    for module, path in modules(root, packages).items():
        for node in ast.walk(_tree(path)):
            if not isinstance(node, ast.ClassDef):
                continue
            if not any(_base_name(b) in ENUM_BASES for b in node.bases):
                continue
            values = set()
            for statement in node.body:
                if (
                    isinstance(statement, ast.Assign)
                    and len(statement.targets) == 1
                    and isinstance(statement.targets[0], ast.Name)
                    and not statement.targets[0].id.startswith("_")
                    and isinstance(statement.value, ast.Constant)
                    and isinstance(statement.value.value, str)
                ):
                    values.add(statement.value.value)
            found.append(EnumDef(module, node.name, frozenset(values)))
    return found


def duplicate_enums(root: Path, packages: Iterable[str] = PACKAGES) -> list[str]:
    """Pairs of enums that are one definition twice: the same name, or one's values
    (3 or more) all among the other's."""
    found = []
    defs = sorted(enums(root, packages), key=lambda e: e.where)
    for i, a in enumerate(defs):
        for b in defs[i + 1 :]:
            if a.name == b.name:
                found.append(f"{a.where} and {b.where}: one name, two enums")
                continue
            shared = a.values & b.values
            if len(shared) >= SHARED_VALUES and (a.values <= b.values or b.values <= a.values):
                found.append(
                    f"{a.where} and {b.where} share {len(shared)} values "
                    f"({', '.join(sorted(shared))}): one vocabulary spelled twice"
                )
    return found


# --------------------------------------------------------------------------- the house


def _circles(cycles: list[list[str]]) -> str:
    return "import circles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_no_import_cycle() -> None:
    """No circle among the imports that run: at the top of a module or in a function."""
    cycles = import_cycles(ROOT)
    assert not cycles, _circles(cycles)


def test_no_import_cycle_counting_type_only_imports() -> None:
    """Nor among the types: a circle only the type checker sees is one in the design."""
    cycles = import_cycles(ROOT, type_only=True)
    assert not cycles, _circles(cycles)


def test_checks_and_retrain_never_import_the_daemon() -> None:
    assert upward_imports(ROOT) == []


def test_no_file_over_500_lines() -> None:
    assert long_files(ROOT) == []


def test_each_enum_is_defined_once() -> None:
    assert duplicate_enums(ROOT) == []


def test_the_rules_read_the_real_tree() -> None:
    """The helpers find what is there: a vacuous pass would hide every rule."""
    graph = import_graph(ROOT)
    assert "daemon.schedule" in graph and "daemon.cadence" in graph["daemon.schedule"]
    # A lazy import inside a function is an edge too.
    assert "daemon.report.deliver" in graph["daemon.stages"]
    assert any(e.where == "checks.interface.Status" for e in enums(ROOT))


# --------------------------------------------------------------------------- the rules can fail


def _plant(root: Path, files: Mapping[str, str]) -> Path:
    for package in PACKAGES:
        (root / package).mkdir(parents=True, exist_ok=True)
        (root / package / "__init__.py").touch()
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_a_planted_cycle_is_found_with_its_path(tmp_path: Path) -> None:
    root = _plant(
        tmp_path,
        {
            "daemon/a.py": "from daemon import b\n",
            "daemon/b.py": "def f():\n    from daemon.c import g\n",
            "daemon/c.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from daemon.a import x\n"
                "def g(): ...\n"
            ),
            "daemon/d.py": "import daemon.a\n",
        },
    )
    # The last arrow is a type-only import: a circle in the design, not at run time.
    assert import_cycles(root) == []
    assert import_cycles(root, type_only=True) == [["daemon.a", "daemon.b", "daemon.c", "daemon.a"]]
    (root / "daemon/c.py").write_text("from daemon.a import x\ndef g(): ...\n")
    assert import_cycles(root) == [["daemon.a", "daemon.b", "daemon.c", "daemon.a"]]


def test_relative_and_submodule_imports_resolve(tmp_path: Path) -> None:
    root = _plant(
        tmp_path,
        {
            "daemon/pkg/__init__.py": "from daemon.pkg.inner import thing\n",
            "daemon/pkg/inner.py": "from . import sibling\nthing = 1\n",
            "daemon/pkg/sibling.py": "from ..top import name\n",
            "daemon/top.py": "from daemon.pkg import inner\nname = 1\n",
        },
    )
    graph = import_graph(root)
    assert graph["daemon.pkg.inner"] == {"daemon.pkg.sibling"}
    assert graph["daemon.pkg.sibling"] == {"daemon.top"}
    # `from daemon.pkg import inner` is the submodule, not the package's __init__.
    assert graph["daemon.top"] == {"daemon.pkg.inner"}
    assert import_cycles(root) == [
        ["daemon.pkg.inner", "daemon.pkg.sibling", "daemon.top", "daemon.pkg.inner"]
    ]


def test_a_package_reexporting_its_submodules_is_no_cycle(tmp_path: Path) -> None:
    root = _plant(
        tmp_path,
        {
            "daemon/pkg/__init__.py": "from daemon.pkg.one import f\n",
            "daemon/pkg/one.py": "from daemon.pkg.two import g\ndef f(): ...\n",
            "daemon/pkg/two.py": "def g(): ...\n",
        },
    )
    assert import_cycles(root) == []


def test_a_planted_upward_import_is_found(tmp_path: Path) -> None:
    root = _plant(
        tmp_path,
        {
            "checks/ok.py": "import math\nfrom checks import interface\n",
            "checks/interface.py": "",
            "retrain/bad.py": "def f():\n    from daemon.config import Settings\n",
            "retrain/worse.py": "import daemon\n",
        },
    )
    assert upward_imports(root) == [
        "retrain.bad imports daemon.config",
        "retrain.worse imports daemon",
    ]


def test_a_planted_long_file_is_found(tmp_path: Path) -> None:
    root = _plant(
        tmp_path,
        {"checks/long.py": "x = 1\n" * (MAX_LINES + 1), "checks/fits.py": "x = 1\n" * MAX_LINES},
    )
    assert long_files(root) == [f"checks/long.py: {MAX_LINES + 1} lines"]


def test_planted_duplicate_enums_are_found(tmp_path: Path) -> None:
    root = _plant(
        tmp_path,
        {
            "checks/methods.py": (
                "import enum\n"
                "class Method(enum.StrEnum):\n"
                "    PSI = 'psi'\n    KS = 'ks'\n    WASSERSTEIN = 'wasserstein'\n"
                "    CHI2 = 'chi2'\n"
            ),
            "daemon/config.py": (
                "from enum import StrEnum\n"
                "class DriftMethod(StrEnum):\n"
                "    PSI = 'psi'\n    KS = 'ks'\n    WASSERSTEIN = 'wasserstein'\n"
                "class Status(str, Enum):\n    OK = 'ok'\n"
            ),
            "retrain/interface.py": (
                "import enum\nclass Status(enum.Enum):\n    OK = 'ok'\n"
                # Two values in common, or overlap without a subset: separate words.
                "class Level(enum.StrEnum):\n    PSI = 'psi'\n    KS = 'ks'\n    HIGH = 'high'\n"
                "class Flags(enum.IntFlag):\n    A = 1\n    B = 2\n    C = 4\n"
                "class Bits(enum.IntFlag):\n    A = 1\n    B = 2\n    C = 4\n    D = 8\n"
            ),
        },
    )
    assert duplicate_enums(root) == [
        "checks.methods.Method and daemon.config.DriftMethod share 3 values "
        "(ks, psi, wasserstein): one vocabulary spelled twice",
        "daemon.config.Status and retrain.interface.Status: one name, two enums",
    ]
