#!/usr/bin/env python3
"""The architecture contract, checked from the source (ast; no imports run): rerun it any time.

1. Arrows only point down: a module imports only modules of its own layer or a lower one (LAYERS,
   lowest first; imports inside functions count too).
2. No import cycles, between modules or between folders.
3. No module over MAX_LINES lines, unless its docstring says why ("Over 400 lines because ...").

Exit 0 when all hold; otherwise one line per breach and exit 1.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Dict, List, Set, Tuple

ROOT = Path(__file__).resolve().parent.parent / "installer" / "tfsetup"
MAX_LINES = 400
LAYERS: List[Tuple[str, ...]] = [  # lowest first; a name is a module or a folder (prefix)
    ("tfsetup", "tfsetup.errors", "tfsetup.platforms", "tfsetup.pythons", "tfsetup.output", "tfsetup.layout",
     "tfsetup.inputs", "tfsetup.limits",
     "tfsetup.credentials",
     "tfsetup.validate",
     "tfsetup.trust"),
    ("tfsetup.env", "tfsetup.state", "tfsetup.bincache", "tfsetup.child", "tfsetup.probes", "tfsetup.macho", "tfsetup.elfcheck",
     "tfsetup.inputs",
     "tfsetup.trust", "tfsetup.credentials"),
    ("tfsetup.host", "tfsetup.recipes", "tfsetup.bytecode",
     "tfsetup.env.facts"),  # an env's facts name its TF distributions (recipes) and read the host
    ("tfsetup.plan", "tfsetup.backends", "tfsetup.resolve", "tfsetup.txn", "tfsetup.verify", "tfsetup.managed_python"),
    ("tfsetup.team",),
    ("tfsetup.request", "tfsetup.install", "tfsetup.prove", "tfsetup.packages",
     "tfsetup.build"),
    ("tfsetup.doctor",),
    ("tfsetup.fleet", "tfsetup.envs"),
    ("tfsetup.commands", "tfsetup.render"),
    ("tfsetup.cli", "tfsetup.__main__"),
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def layer_of(name: str) -> int:
    best, level = -1, -1
    for index, names in enumerate(LAYERS):
        for prefix in names:
            folder_match = prefix != "tfsetup" and name.startswith(prefix + ".")  # the root names only itself
            if (name == prefix or folder_match) and len(prefix) > best:
                best, level = len(prefix), index
    return level


def imports_of(path: Path, name: str) -> Set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: Set[str] = set()
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    typing_only = {id(n) for stmt in ast.walk(tree) if isinstance(stmt, ast.If) and "TYPE_CHECKING" in ast.dump(stmt.test)
                   for body in stmt.body for n in ast.walk(body)}  # annotations only: no arrow at run time
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("tfsetup"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            if base.startswith("tfsetup"):
                for alias in node.names:  # `from tfsetup.commands import install` names a module
                    sub = f"{base}.{alias.name}"
                    found.add(sub if (ROOT.parent / (sub.replace(".", "/") + ".py")).exists() else base)
    found.discard(name)
    return found


def find_cycle(graph: Dict[str, Set[str]]) -> List[str]:
    state: Dict[str, int] = {}
    stack: List[str] = []

    def visit(node: str) -> List[str]:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return []


def folder(name: str) -> str:
    parts = name.split(".")
    return ".".join(parts[:2]) if len(parts) > 2 else name


def check() -> List[str]:
    problems: List[str] = []
    graph: Dict[str, Set[str]] = {}
    for path in sorted(ROOT.rglob("*.py")):
        name = module_name(path)
        graph[name] = imports_of(path, name)
        if layer_of(name) < 0:
            problems.append(f"{name}: not in any layer of scripts/check_layers.py")
        lines = path.read_text(encoding="utf-8").count("\n")
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        if lines > MAX_LINES and "Over 400 lines because" not in doc:
            problems.append(f"{name}: {lines} lines (> {MAX_LINES}) and no 'Over 400 lines because' in its docstring")
    for name, targets in graph.items():
        for target in sorted(targets):
            if layer_of(target) > layer_of(name):
                problems.append(f"{name} (layer {layer_of(name)}) imports {target} (layer {layer_of(target)}): "
                                "an arrow pointing up")
    cycle = find_cycle(graph)
    if cycle:
        problems.append("import cycle: " + " -> ".join(cycle))
    folders: Dict[str, Set[str]] = {}
    for name, targets in graph.items():
        folders.setdefault(folder(name), set()).update(folder(t) for t in targets if folder(t) != folder(name))
    cycle = find_cycle(folders)
    if cycle:
        problems.append("folder cycle: " + " -> ".join(cycle))
    return problems


def main() -> int:
    problems = check()
    for line in problems:
        print(line)
    if not problems:
        print(f"layers ok: {sum(1 for _ in ROOT.rglob('*.py'))} modules, no upward arrow, no cycle")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
