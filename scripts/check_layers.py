#!/usr/bin/env python3
"""The architecture contract, checked from the source (ast; no imports run): rerun it any time.

Every import counts as an arrow, wherever it stands: at the top, inside a function, or under
`if TYPE_CHECKING:` (a type-only import is still a dependency a reader must follow, and hides cycles).

1. [upward] Arrows only point down: a module imports only modules of its own layer or a lower one
   (LAYERS, lowest first).
2. [cycle] No import cycles, between modules or between folders.
3. [sideways] The modules of a SIBLING_FOLDERS folder (commands/) stand side by side: none imports
   another; what they share lives in the folder's `_common.py`.
4. [layers] LAYERS names each module or folder once, and every module is in a layer.
5. [probe] probes/ import nothing from tfsetup: they run inside other Pythons, where it is not installed.
6. [function-import] Imports sit at the top of a module, where a reader sees what it depends on. One
   inside a function (outside cli.py, which keeps start-up fast) needs a `# lazy: WHY` comment on
   its line (e.g. `# lazy: start-up time`, `# lazy: cycle`, `# lazy: only in the env's Python`).
7. [script-private] scripts/*.py use only tfsetup's public names: no `_private` module, name or
   attribute (they would pin what the package is free to change).
8. [size] No module over MAX_LINES lines, unless its docstring says why ("Over 400 lines because ...").

Exit 0 when all hold; otherwise one line per breach, `[rule] what`, and exit 1.
"""
from __future__ import annotations

import ast
import re
import sys
from pathlib import Path
from typing import Dict, Iterator, List, Sequence, Set, Tuple

REPO = Path(__file__).resolve().parent.parent
ROOT = REPO / "installer" / "tfsetup"
SCRIPTS = REPO / "scripts"
MAX_LINES = 400
LAYERS: List[Tuple[str, ...]] = [  # lowest first; a name is a module or a folder (prefix)
    ("tfsetup", "tfsetup.errors", "tfsetup.platforms", "tfsetup.pythons", "tfsetup.output", "tfsetup.layout",
     "tfsetup.inputs", "tfsetup.limits",
     "tfsetup.credentials",
     "tfsetup.validate",
     "tfsetup.trust"),
    ("tfsetup.env", "tfsetup.state", "tfsetup.bincache", "tfsetup.child", "tfsetup.probes", "tfsetup.macho",
     "tfsetup.elfcheck"),
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
SIBLING_FOLDERS = ("tfsetup.commands",)  # folders whose modules never import each other
SHARED_SIBLING = "_common"  # ... except this one module of the folder
PROBES = "tfsetup.probes"
LAZY_IMPORTS_ALLOWED = ("tfsetup.cli",)  # start-up time: its commands import their modules when run
LAZY_MARKER = re.compile(r"#.*\blazy:\s*\S")  # `# lazy: start-up time`


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def layer_of(name: str, layers: Sequence[Tuple[str, ...]] = LAYERS) -> int:
    best, level = -1, -1
    for index, names in enumerate(layers):
        for prefix in names:
            folder_match = "." in prefix and name.startswith(prefix + ".")  # the root names only itself
            if (name == prefix or folder_match) and len(prefix) > best:
                best, level = len(prefix), index
    return level


def listed_twice(layers: Sequence[Tuple[str, ...]] = LAYERS) -> List[str]:
    seen: Set[str] = set()
    twice: List[str] = []
    for names in layers:
        for name in names:
            if name in seen and name not in twice:
                twice.append(name)
            seen.add(name)
    return twice


def _is_private(part: str) -> bool:
    return part.startswith("_") and not (part.startswith("__") and part.endswith("__"))


def _imported(node: ast.AST, package: str, root: Path) -> Iterator[str]:
    """The tfsetup modules an import statement names (`from tfsetup.commands import install` names a module)."""
    if isinstance(node, ast.Import):
        yield from (a.name for a in node.names if a.name.split(".")[0] == "tfsetup")
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            parts = package.split(".")
            base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
        if base.split(".")[0] == "tfsetup":
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                names_module = (root.parent / (sub.replace(".", "/") + ".py")).exists() \
                    or (root.parent / sub.replace(".", "/") / "__init__.py").exists()
                yield sub if names_module else base


def _in_function(tree: ast.AST) -> Iterator[ast.stmt]:
    """Import statements that run only when a function runs."""
    def walk(node: ast.AST, inside: bool) -> Iterator[ast.stmt]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)) and inside:
                yield child
            yield from walk(child, inside or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)))
    return walk(tree, False)


def imports_of(path: Path, name: str, root: Path = ROOT) -> Set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = {target for node in ast.walk(tree) for target in _imported(node, package, root)}
    found.discard(name)
    return found


def unmarked_function_imports(path: Path) -> List[int]:
    """Line numbers of imports inside functions without a `# lazy: WHY` comment on any of their lines."""
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    return [node.lineno for node in _in_function(ast.parse(source))
            if not any(LAZY_MARKER.search(line) for line in lines[node.lineno - 1:node.end_lineno or node.lineno])]


def private_uses(path: Path) -> List[str]:
    """The private tfsetup names a script reaches: `from tfsetup.resolve import _x`, `resolve._x`, `tfsetup._m`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: List[str] = []
    bound: Set[str] = set()  # local names that stand for a tfsetup module or one of its names
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "tfsetup":
                    if any(_is_private(part) for part in alias.name.split(".")):
                        found.append(f"{node.lineno}: import {alias.name}")
                    bound.add(alias.asname or "tfsetup")  # `import tfsetup.x` binds the name tfsetup
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "tfsetup" and not node.level:
            module = node.module or ""
            for alias in node.names:
                if any(_is_private(part) for part in module.split(".") + [alias.name]):
                    found.append(f"{node.lineno}: from {module} import {alias.name}")
                bound.add(alias.asname or alias.name)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _is_private(node.attr):
            chain, base = [node.attr], node.value
            while isinstance(base, ast.Attribute):
                chain.insert(0, base.attr)
                base = base.value
            if isinstance(base, ast.Name) and base.id in bound:
                found.append(f"{node.lineno}: {base.id}.{'.'.join(chain)}")
    return sorted(set(found), key=lambda text: (int(text.split(":")[0]), text))


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


def sideways(name: str, target: str) -> bool:
    """A module of a SIBLING_FOLDERS folder importing a sibling, or the folder itself, other than `_common`."""
    for parent in SIBLING_FOLDERS:
        in_folder = name.startswith(parent + ".")
        into_folder = target == parent or target.startswith(parent + ".")
        if in_folder and into_folder and target != f"{parent}.{SHARED_SIBLING}":
            return True
    return False


def check(root: Path = ROOT, scripts: Path = SCRIPTS, layers: Sequence[Tuple[str, ...]] = LAYERS) -> List[str]:
    problems = [f"[layers] {name} is listed in two layers of scripts/check_layers.py" for name in listed_twice(layers)]
    graph: Dict[str, Set[str]] = {}
    for path in sorted(root.rglob("*.py")):
        name = module_name(path, root)
        graph[name] = imports_of(path, name, root)
        if layer_of(name, layers) < 0:
            problems.append(f"[layers] {name}: not in any layer of scripts/check_layers.py")
        text = path.read_text(encoding="utf-8")
        doc = ast.get_docstring(ast.parse(text)) or ""
        if text.count("\n") > MAX_LINES and "Over 400 lines because" not in doc:
            problems.append(f"[size] {name}: {text.count(chr(10))} lines (> {MAX_LINES}) and no "
                            "'Over 400 lines because' in its docstring")
        if name not in LAZY_IMPORTS_ALLOWED:
            problems += [f"[function-import] {name}:{line}: an import inside a function, without a "
                         "`# lazy: WHY` comment" for line in unmarked_function_imports(path)]
    for name, targets in graph.items():
        for target in sorted(targets):
            if layer_of(target, layers) > layer_of(name, layers):
                problems.append(f"[upward] {name} (layer {layer_of(name, layers)}) imports {target} "
                                f"(layer {layer_of(target, layers)}): an arrow pointing up")
            if sideways(name, target):
                problems.append(f"[sideways] {name} imports its sibling {target}: shared helpers belong in "
                                f"{folder(name)}.{SHARED_SIBLING}")
            if name == PROBES or name.startswith(PROBES + "."):
                problems.append(f"[probe] {name} imports {target}: probes run inside other Pythons, "
                                "where tfsetup is not installed")
    cycle = find_cycle(graph)
    if cycle:
        problems.append("[cycle] import cycle: " + " -> ".join(cycle))
    folders: Dict[str, Set[str]] = {}
    for name, targets in graph.items():
        folders.setdefault(folder(name), set()).update(folder(t) for t in targets if folder(t) != folder(name))
    cycle = find_cycle(folders)
    if cycle:
        problems.append("[cycle] folder cycle: " + " -> ".join(cycle))
    for path in sorted(scripts.glob("*.py")):
        problems += [f"[script-private] scripts/{path.name}:{use}: a private tfsetup name"
                     for use in private_uses(path)]
    return problems


def main() -> int:
    problems = check()
    for line in problems:
        print(line)
    if not problems:
        print(f"layers ok: {sum(1 for _ in ROOT.rglob('*.py'))} modules, no upward or sideways arrow, no cycle, "
              "no private name used by scripts/")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
