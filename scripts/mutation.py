#!/usr/bin/env python3
"""Mutation testing of tfsetup's decision modules: do the fast tests notice a small deliberate bug?

For each module below, every mutation site is found with simple AST operators:
  cmp     a comparison flipped (< <= > >= == != in, not in, is, is not) or moved across its boundary
  bool    `and` <-> `or`
  not     a `not` removed
  const   a number +1 (0 -> 1), True <-> False
  return  a returned value replaced by None
  call    a call statement removed (replaced by `pass`)
Each mutant is written into a copy of installer/ in a temporary directory (the working tree is never
touched: others may be editing it) and the module's fast tests run against it (pytest -x, with
PYTHONPATH on the copy and a per-mutant timeout). A mutant is killed when a test fails or times out.

Survivors that cannot be killed because they do not change behaviour (equivalent mutants) are listed in
tests/mutation-survivors.md, one `- module :: function :: mutation` key a line, each with its reason;
they count as justified, not as killed. Every other survivor is printed: kill it with a test, or add it
there with the reason it is equivalent.

Not part of CI (minutes per module); run before each release:
    scripts/mutation.sh                                  # every module, every mutant
    scripts/mutation.sh --max-per-module 60 --seed 1     # a sample (about 20 minutes on 2 cores)
    scripts/mutation.sh --module plan.py --list          # the mutants, without running anything
"""
from __future__ import annotations

import argparse
import ast
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Set, Tuple

REPO = Path(__file__).resolve().parent.parent
SURVIVORS_FILE = REPO / "tests" / "mutation-survivors.md"

# module (under installer/tfsetup) -> the fast tests that must notice a change in it
MODULES: Dict[str, Tuple[str, ...]] = {
    "plan.py": ("tests/unit/test_plan_matrix.py", "tests/unit/test_plan_order.py", "tests/unit/test_plan_reasons.py"),
    "doctor/rules.py": ("tests/unit/test_doctor_rules.py", "tests/unit/test_doctor_layers.py"),
    "doctor/explain.py": ("tests/unit/test_explain.py", "tests/unit/test_explain_incompatible.py"),
    "recipes.py": ("tests/unit/test_recipes.py", "tests/unit/test_recipes_table.py",
                   "tests/unit/test_plan_matrix.py"),
    "team/lockfile.py": ("tests/unit/test_lockfile.py", "tests/unit/test_team_config.py",
                         "tests/unit/test_lock_merge.py", "tests/unit/test_lock_check.py",
                         "tests/unit/test_lock_filter.py"),
    "txn.py": ("tests/unit/test_txn.py", "tests/faults/test_failed_verification.py::"
               "test_ctrl_c_during_the_rollback_of_a_failed_install_waits_for_it",
               "tests/faults/test_failed_verification.py::"
               "test_ctrl_c_during_the_restore_of_a_failed_repair_waits_for_it",
               "tests/faults/test_failed_verification.py::"
               "test_a_second_ctrl_c_during_the_rollback_of_an_interrupted_install"),
}

CMP_FLIPS = {ast.Lt: ast.GtE, ast.GtE: ast.Lt, ast.Gt: ast.LtE, ast.LtE: ast.Gt, ast.Eq: ast.NotEq,
             ast.NotEq: ast.Eq, ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is}
CMP_BOUNDARY = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt}
OP_TEXT = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=",
           ast.In: "in", ast.NotIn: "not in", ast.Is: "is", ast.IsNot: "is not"}


@dataclass(frozen=True)
class Mutant:
    module: str
    index: int  # position among the module's mutation sites (stable for one version of the file)
    line: int
    function: str
    description: str

    @property
    def key(self) -> str:
        """Names the mutant independently of line numbers (the file is edited by others)."""
        return f"{self.module} :: {self.function} :: {self.description}"


def _short(node: ast.AST, limit: int = 70) -> str:
    text = " ".join(ast.unparse(node).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_docstring(parent: ast.AST, node: ast.AST) -> bool:
    body = getattr(parent, "body", None)
    return bool(body) and body[0] is node and isinstance(node, ast.Expr) and \
        isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


class _Sites:
    """Walks a module; yields (node path, kind, payload, description) for every mutation site, in a
    deterministic order; `apply` re-finds site i in a fresh tree and changes it."""

    def __init__(self, tree: ast.Module) -> None:
        self.tree = tree
        self.parents: Dict[int, ast.AST] = {}
        self.functions: Dict[int, str] = {}
        self._index(tree, None, "<module>")

    def _index(self, node: ast.AST, parent: Optional[ast.AST], function: str) -> None:
        if parent is not None:
            self.parents[id(node)] = parent
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            function = node.name if function == "<module>" else f"{function}.{node.name}"
        self.functions[id(node)] = function
        for child in ast.iter_child_nodes(node):
            self._index(child, node, function)

    def sites(self) -> Iterator[Tuple[ast.AST, str, object, str]]:
        for node in ast.walk(self.tree):
            parent = self.parents.get(id(node))
            if isinstance(node, ast.Compare):
                for i, op in enumerate(node.ops):
                    for table, kind in ((CMP_FLIPS, "cmp"), (CMP_BOUNDARY, "cmp")):
                        new = table.get(type(op))
                        if new is not None:
                            yield node, kind, (i, new), \
                                f"`{OP_TEXT[type(op)]}` -> `{OP_TEXT[new]}` in `{_short(node)}`"
            elif isinstance(node, ast.BoolOp):
                other = "or" if isinstance(node.op, ast.And) else "and"
                yield node, "bool", None, f"`{'and' if other == 'or' else 'or'}` -> `{other}` in `{_short(node)}`"
            elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
                yield node, "not", None, f"`not` removed in `{_short(node)}`"
            elif isinstance(node, ast.Constant) and type(node.value) in (int, float, bool) \
                    and not isinstance(parent, (ast.JoinedStr, ast.FormattedValue)):
                if isinstance(node.value, bool):
                    yield node, "const", (not node.value), f"`{node.value}` -> `{not node.value}` " \
                                                            f"in `{_short(parent or node)}`"
                else:
                    yield node, "const", node.value + 1, f"`{node.value!r}` -> `{node.value + 1!r}` " \
                                                         f"in `{_short(parent or node)}`"
            elif isinstance(node, ast.Return) and node.value is not None and \
                    not (isinstance(node.value, ast.Constant) and node.value.value is None):
                yield node, "return", None, f"`{_short(node)}` -> `return None`"
            elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) and parent is not None \
                    and not _is_docstring(parent, node):
                yield node, "call", None, f"`{_short(node)}` removed"

    def function_of(self, node: ast.AST) -> str:
        return self.functions.get(id(node), "<module>")


def _annotations(tree: ast.Module) -> Set[int]:
    """Nodes inside annotations and decorators (`Optional[int]`, `@dataclass(frozen=True)`): mutating
    them changes no decision."""
    skip: Set[int] = set()
    for node in ast.walk(tree):
        anns = []
        for decorator in getattr(node, "decorator_list", []):
            skip.update(id(n) for n in ast.walk(decorator))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            anns = [a.annotation for a in node.args.args + node.args.kwonlyargs + node.args.posonlyargs] + \
                   [node.returns]
        elif isinstance(node, ast.AnnAssign):
            anns = [node.annotation]
        for ann in anns:
            if ann is not None:
                skip.update(id(n) for n in ast.walk(ann))
    return skip


def list_mutants(module: str, source: str) -> List[Mutant]:
    tree = ast.parse(source)
    sites = _Sites(tree)
    skip = _annotations(tree)
    out = []
    for node, _kind, _payload, description in sites.sites():
        if id(node) in skip:
            continue
        out.append(Mutant(module, len(out), getattr(node, "lineno", 0), sites.function_of(node), description))
    return out


def mutate(source: str, index: int) -> str:
    tree = ast.parse(source)
    sites = _Sites(tree)
    skip = _annotations(tree)
    found = [s for s in sites.sites() if id(s[0]) not in skip]
    node, kind, payload, _ = found[index]
    parent = sites.parents.get(id(node))
    if kind == "cmp":
        i, new = payload  # type: ignore[misc]
        node.ops[i] = new()  # type: ignore[attr-defined]
    elif kind == "bool":
        node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()  # type: ignore[attr-defined]
    elif kind == "not":
        _replace(parent, node, node.operand)  # type: ignore[attr-defined]
    elif kind == "const":
        node.value = payload  # type: ignore[attr-defined]
    elif kind == "return":
        node.value = ast.Constant(None)  # type: ignore[attr-defined]
    elif kind == "call":
        _replace(parent, node, ast.Pass())
    return ast.unparse(ast.fix_missing_locations(tree))


def _replace(parent: Optional[ast.AST], old: ast.AST, new: ast.AST) -> None:
    assert parent is not None
    for field, value in ast.iter_fields(parent):
        if value is old:
            setattr(parent, field, new)
            return
        if isinstance(value, list):
            for i, item in enumerate(value):
                if item is old:
                    value[i] = new
                    return
    raise AssertionError("node not found under its parent")


# ---------------------------------------------------------------------------------------------
# running

def justified_keys(path: Path = SURVIVORS_FILE) -> Set[str]:
    """`- module :: function :: mutation` lines of the survivors file (the reason follows on the line
    after, or after ` -- `)."""
    keys = set()
    if not path.exists():
        return keys
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("- ") and " :: " in line:
            keys.add(line[2:].split(" -- ")[0].strip())
    return keys


_LAST_OUTPUT = [""]  # the last test run's output, shown when the unmutated control fails


def run_tests(copy_root: Path, tests: Sequence[str], timeout: float) -> Tuple[str, float]:
    """'killed' | 'survived' | 'timeout' | 'error' (the copy's tests could not even start)."""
    env = dict(os.environ, PYTHONPATH=str(copy_root / "installer"), PYTHONDONTWRITEBYTECODE="1",
               TFSETUP_STATE_DIR=str(copy_root / "state"))
    started = time.monotonic()
    try:
        proc = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                               "-m", "not slow and not network", *tests], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", time.monotonic() - started
    seconds = time.monotonic() - started
    _LAST_OUTPUT[0] = proc.stdout + proc.stderr
    if proc.returncode == 0:
        return "survived", seconds
    if proc.returncode in (1, 2, 3):  # tests failed, interrupted or an internal error: the mutant showed
        return "killed", seconds
    return "error", seconds  # 4 usage, 5 no tests collected


def make_copy(root: Path) -> Path:
    shutil.copytree(REPO / "installer", root / "installer",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    os.symlink(REPO / "recipes", root / "recipes")  # data, read only: recipes.py finds it beside installer/
    return root


def run_module(module: str, tests: Sequence[str], max_mutants: Optional[int], seed: int, timeout: float,
               justified: Set[str], verbose: bool) -> Dict[str, object]:
    path = REPO / "installer" / "tfsetup" / module
    source = path.read_text(encoding="utf-8")
    mutants = list_mutants(module, source)
    total = len(mutants)
    if max_mutants is not None and len(mutants) > max_mutants:
        mutants = sorted(random.Random(f"{seed}:{module}").sample(mutants, max_mutants), key=lambda m: m.index)
    result: Dict[str, object] = {"module": module, "sites": total, "run": len(mutants), "killed": 0,
                                 "justified": [], "survivors": [], "seconds": 0.0}
    with tempfile.TemporaryDirectory(prefix="tfsetup-mutation-") as tmp:
        root = make_copy(Path(tmp))
        target = root / "installer" / "tfsetup" / module
        target.write_text(ast.unparse(ast.parse(source)), encoding="utf-8")  # the control: unparsed, unmutated
        outcome, seconds = run_tests(root, tests, timeout * 3)
        if outcome != "survived":
            raise SystemExit(f"{_LAST_OUTPUT[0][-3000:]}\n{module}: the tests fail on the unmutated copy "
                             f"({outcome}); fix them first")
        for n, mutant in enumerate(mutants, 1):
            target.write_text(mutate(source, mutant.index), encoding="utf-8")
            outcome, seconds = run_tests(root, tests, timeout)
            result["seconds"] = float(result["seconds"]) + seconds  # type: ignore[arg-type]
            if outcome in ("killed", "timeout", "error"):
                result["killed"] = int(result["killed"]) + 1  # type: ignore[call-overload]
            elif mutant.key in justified:
                result["justified"].append(mutant)  # type: ignore[attr-defined]
            else:
                result["survivors"].append(mutant)  # type: ignore[attr-defined]
            if verbose:
                print(f"  [{n}/{len(mutants)}] {outcome:8s} {seconds:5.1f}s {module}:{mutant.line} "
                      f"{mutant.description}", flush=True)
    return result


def score(result: Dict[str, object]) -> float:
    run = int(result["run"])  # type: ignore[call-overload]
    ok = int(result["killed"]) + len(result["justified"])  # type: ignore[call-overload, arg-type]
    return 100.0 * ok / run if run else 100.0


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--module", action="append", choices=sorted(MODULES), help="only these (repeatable)")
    parser.add_argument("--max-per-module", type=int, default=None, metavar="N",
                        help="a random sample of N mutants per module (default: all)")
    parser.add_argument("--seed", type=int, default=0, help="the sample's seed (default 0)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per mutant's test run (default 120)")
    parser.add_argument("--min-score", type=float, default=85.0, help="exit 1 below this score (default 85)")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("-v", "--verbose", action="store_true", help="one line per mutant")
    args = parser.parse_args(argv)
    # Started in the background (`&`), this process inherits SIGINT ignored, and so would the tests (the
    # signal tests need a real Ctrl-C): a handled SIGINT is reset to the default in every child.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    modules = args.module or list(MODULES)
    if args.list:
        for module in modules:
            for m in list_mutants(module, (REPO / "installer" / "tfsetup" / module).read_text(encoding="utf-8")):
                print(f"{module}:{m.line} [{m.index}] {m.key}")
        return 0
    justified = justified_keys()
    results = []
    for module in modules:
        print(f"== {module} ({', '.join(t.split('::')[0] for t in dict.fromkeys(MODULES[module]))})", flush=True)
        result = run_module(module, MODULES[module], args.max_per_module, args.seed, args.timeout, justified,
                            args.verbose)
        results.append(result)
        for m in result["survivors"]:  # type: ignore[attr-defined]
            print(f"  SURVIVED {module}:{m.line}  - {m.key}")
        print(f"  {module}: {score(result):.0f}% ({result['killed']} killed + {len(result['justified'])} "
              f"justified of {result['run']} run; {result['sites']} sites; {result['seconds']:.0f}s)", flush=True)
    print("\nmodule               score  killed  justified  survived  run/sites")
    worst = 100.0
    for r in results:
        worst = min(worst, score(r))
        print(f"{r['module']:20s} {score(r):5.0f}%  {r['killed']:6}  {len(r['justified']):9}  "
              f"{len(r['survivors']):8}  {r['run']}/{r['sites']}")
    return 0 if worst >= args.min_score else 1


if __name__ == "__main__":
    sys.exit(main())
