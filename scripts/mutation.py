#!/usr/bin/env python3
"""Mutation testing of tfsetup's decision modules: do the fast tests notice a small deliberate bug?

For each module below, every mutation site is found with simple AST operators:
  cmp     a comparison flipped (< <= > >= == != in, not in, is, is not) or moved across its boundary
  bool    `and` <-> `or`
  not     a `not` removed
  const   a number +1 (0 -> 1), True <-> False
  return  a returned value replaced by None
  call    a call statement removed (replaced by `pass`)
  stmt    any other statement removed: an assignment, a `raise`, a whole `if`/`for`/`try` block
  with    a `with` dropped, its body kept (the lock, the signal deferral, the temp dir never entered)
  swap    two adjacent statements of one body swapped (a journal written after the rename it guards)
Each mutant is written into a copy of installer/ in a temporary directory (the working tree is never
touched: others may be editing it) and the module's fast tests run against it (pytest -x, with
PYTHONPATH on the copy and a per-mutant timeout). A mutant is killed when a test fails (pytest exit 1)
or the run times out (the mutant hangs a test). Any other exit (2 interrupted or a collection error,
3 internal error, 4 usage, 5 no tests) or a crash is an *error*: reported with its output, never
counted as killed, so a mutant that only breaks the harness does not inflate the score.

Survivors that cannot be killed because they do not change behaviour (equivalent mutants) are listed in
tests/mutation-survivors.md, one `- module :: function :: mutation` key a line, each with its reason;
they count as justified, not as killed. Every other survivor is printed: kill it with a test, or add it
there with the reason it is equivalent.

Not part of CI (minutes per module); run before each release:
    scripts/mutation.sh                                  # every module, every mutant
    scripts/mutation.sh --max-per-module 60 --seed 1     # a sample (about 20 minutes on 2 cores)
    scripts/mutation.sh --module plan.py --list          # the mutants, without running anything
    scripts/mutation.sh --module plan.py --index 12 --index 40 -v    # only these two (the [I] of --list)
    scripts/mutation.sh --max-per-module 40 --seed 1 --report README.md
                                                         # and write the scores table into README.md
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Set, Tuple

REPO = Path(__file__).resolve().parent.parent
SURVIVORS_FILE = REPO / "tests" / "mutation-survivors.md"

# module (under installer/tfsetup) -> the fast tests that must notice a change in it. Every decision and
# safety module is here: what to install, what to trust, what to print, where an env is, what loads.
_TXN_SIGNAL_TESTS = (
    "tests/faults/test_failed_verification.py::test_ctrl_c_during_the_rollback_of_a_failed_install_waits_for_it",
    "tests/faults/test_failed_verification.py::test_ctrl_c_during_the_restore_of_a_failed_repair_waits_for_it",
    "tests/faults/test_failed_verification.py::test_a_second_ctrl_c_during_the_rollback_of_an_interrupted_install",
)
_ELF_LIMIT_TESTS = tuple(f"tests/unit/test_reader_limits.py::{name}" for name in (
    "test_the_elf_version_need_flood_is_refused", "test_elf_vn_cnt_past_the_real_entries_stops_at_the_last_one",
    "test_elf_dynamic_entries_and_strings_past_the_limits"))
_DYLD_LIMIT_TESTS = tuple(f"tests/unit/test_reader_limits.py::{name}" for name in (
    "test_a_reexport_cycle_is_a_missing_symbol_not_a_recursion_error",
    "test_a_chain_of_libraries_deeper_than_the_limit_is_refused_and_a_real_depth_loads"))
MODULES: Dict[str, Tuple[str, ...]] = {
    "plan.py": ("tests/unit/test_plan_matrix.py", "tests/unit/test_plan_order.py", "tests/unit/test_plan_reasons.py"),
    "request.py": ("tests/unit/test_request.py",),
    "doctor/rules.py": ("tests/unit/test_doctor_rules.py", "tests/unit/test_doctor_layers.py"),
    "doctor/explain.py": ("tests/unit/test_explain.py", "tests/unit/test_explain_incompatible.py"),
    "recipes.py": ("tests/unit/test_recipes.py", "tests/unit/test_recipes_table.py",
                   "tests/unit/test_plan_matrix.py"),
    "team/lockfile.py": ("tests/unit/test_lockfile.py", "tests/unit/test_team_config.py",
                         "tests/unit/test_lock_merge.py", "tests/unit/test_lock_check.py",
                         "tests/unit/test_lock_filter.py"),
    "txn.py": ("tests/unit/test_txn.py", *_TXN_SIGNAL_TESTS),
    "install.py": ("tests/unit/test_install.py",),
    "build.py": ("tests/unit/test_build.py", "tests/unit/test_install.py", "tests/unit/test_txn.py"),
    "trust.py": ("tests/unit/test_trust.py",),
    "output.py": ("tests/unit/test_credentials.py", "tests/unit/test_output.py"),  # redaction: with the credentials
    "env/paths.py": ("tests/unit/test_env_paths.py", "tests/unit/test_txn.py", "tests/unit/test_manage.py"),
    "envs/manage.py": ("tests/unit/test_manage.py",),
    "macho/dyld.py": ("tests/unit/test_prove.py", "tests/unit/test_macho_reader.py", *_DYLD_LIMIT_TESTS),
    "elfcheck/reader.py": ("tests/unit/test_elfcheck.py", *_ELF_LIMIT_TESTS),
    "elfcheck/ld.py": ("tests/unit/test_elfcheck.py",),
    "prove/macos.py": ("tests/unit/test_prove.py", "tests/unit/test_prove_startup.py"),
    "prove/linux.py": ("tests/unit/test_elfcheck.py",),
    "bincache.py": ("tests/unit/test_prove_cache.py",),
    "prove/trees.py": ("tests/unit/test_prove_trees.py",),
    "macho/analysis.py": ("tests/unit/test_prove_cache.py", "tests/unit/test_macho_reader.py"),
    "probes/bytecode.py": ("tests/unit/test_bytecode.py",),
}


def existing_tests(tests: Sequence[str]) -> List[str]:
    """The test ids whose file exists (a module's unit test file may not be written yet)."""
    return [t for t in tests if (REPO / t.split("::")[0]).is_file()]


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
            elif isinstance(node, REMOVABLE) and parent is not None and \
                    not isinstance(parent, (ast.Module, ast.ClassDef)):
                yield node, "stmt", None, f"`{_short(node)}` removed"
            if isinstance(node, (ast.With, ast.AsyncWith)):
                yield node, "with", None, f"`with` dropped (body kept) in `{_short(node)}`"
            for attr in ("body", "orelse", "finalbody"):
                body = getattr(node, attr, None)
                if not isinstance(body, list) or isinstance(node, (ast.Module, ast.ClassDef)):
                    continue
                for i in range(len(body) - 1):
                    first, second = body[i], body[i + 1]
                    if _swappable(first) and _swappable(second) and not _feeds(first, second):
                        yield first, "swap", (attr, i), f"swapped `{_short(first, 40)}` and `{_short(second, 40)}`"

    def function_of(self, node: ast.AST) -> str:
        return self.functions.get(id(node), "<module>")


# statements whose removal is a mutant of its own ("call" covers bare calls, "return" returned values)
REMOVABLE = (ast.Assign, ast.AugAssign, ast.Raise, ast.Delete, ast.If, ast.For, ast.While, ast.Try)


def _swappable(node: ast.stmt) -> bool:
    """Two statements are swapped only when neither ends the block's flow or defines a name the reader
    looks for (a swapped `return` or `def` is noise, not a plausible slip; a `global` moved below its
    use is a SyntaxError, which would only break the harness)."""
    return not isinstance(node, (ast.Return, ast.Break, ast.Continue, ast.FunctionDef, ast.AsyncFunctionDef,
                                 ast.ClassDef, ast.Import, ast.ImportFrom, ast.Pass, ast.Global,
                                 ast.Nonlocal)) and \
        not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))


def _names(node: ast.AST, ctx: type) -> Set[str]:
    names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ctx)}
    if ctx is ast.Load:  # `x += 1` reads x too
        names |= {n.target.id for n in ast.walk(node) if isinstance(n, ast.AugAssign) and isinstance(n.target, ast.Name)}
    return names


def _feeds(first: ast.stmt, second: ast.stmt) -> bool:
    """`second` reads a name `first` binds: swapping them is a NameError any test kills, not a plausible
    slip, so it would only inflate the score."""
    return bool(_names(first, ast.Store) & _names(second, ast.Load))


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
    elif kind in ("call", "stmt"):
        _replace(parent, node, ast.Pass())
    elif kind == "with":
        _replace_with_body(parent, node, node.body)  # type: ignore[attr-defined]
    elif kind == "swap":
        attr, i = payload  # type: ignore[misc]
        body = getattr(parent, attr)
        body[i], body[i + 1] = body[i + 1], body[i]
    return ast.unparse(ast.fix_missing_locations(tree))


def _replace_with_body(parent: Optional[ast.AST], old: ast.AST, body: List[ast.stmt]) -> None:
    """A statement replaced by several (a `with` by its body), in the statement list that holds it."""
    assert parent is not None
    for _field, value in ast.iter_fields(parent):
        if isinstance(value, list):
            for i, item in enumerate(value):
                if item is old:
                    value[i:i + 1] = body
                    return
    raise AssertionError("statement not found under its parent")


def _replace(parent: Optional[ast.AST], old: ast.AST, new: ast.AST) -> None:
    assert parent is not None
    for name, value in ast.iter_fields(parent):
        if value is old:
            setattr(parent, name, new)
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


def classify(returncode: int) -> str:
    """pytest's exit code -> the mutant's outcome. Only 1 (tests failed) is a kill: 2 (interrupted or a
    collection error), 3 (internal error), 4 (usage), 5 (no tests ran) and a crash mean the harness
    broke, which says nothing about whether a test noticed the mutant."""
    if returncode == 0:
        return "survived"
    if returncode == 1:
        return "killed"
    return "error"


def run_tests(copy_root: Path, tests: Sequence[str], timeout: float) -> Tuple[str, float]:
    """'killed' | 'survived' | 'timeout' | 'error' (see classify)."""
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
    return classify(proc.returncode), seconds


def make_copy(root: Path) -> Path:
    shutil.copytree(REPO / "installer", root / "installer",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    os.symlink(REPO / "recipes", root / "recipes")  # data, read only: recipes.py finds it beside installer/
    return root


@dataclass
class ModuleResult:
    module: str
    sites: int
    run: int
    killed: int = 0
    timeouts: int = 0  # counted as killed: the mutant hung a test, which a test run notices
    justified: List[Mutant] = field(default_factory=list)
    survivors: List[Mutant] = field(default_factory=list)
    errors: List[Mutant] = field(default_factory=list)
    seconds: float = 0.0
    skipped: str = ""  # why the module was not run (no test file yet)

    @property
    def score(self) -> float:
        """killed (timeouts included) + justified, of all mutants run: errors count against the score."""
        return 100.0 * (self.killed + len(self.justified)) / self.run if self.run else 100.0


def select(mutants: Sequence[Mutant], max_mutants: Optional[int], seed: int, only: Sequence[int] = ()) -> List[Mutant]:
    """The mutants to run: those of `only` (--index: re-check the survivors a --list names), else a sample
    of `max_mutants` that depends only on the seed and the module's name, else all."""
    if only:
        return [m for m in mutants if m.index in set(only)]
    if max_mutants is not None and len(mutants) > max_mutants:
        module = mutants[0].module
        return sorted(random.Random(f"{seed}:{module}").sample(list(mutants), max_mutants), key=lambda m: m.index)
    return list(mutants)


def run_module(module: str, tests: Sequence[str], max_mutants: Optional[int], seed: int, timeout: float,
               justified: Set[str], verbose: bool, only: Sequence[int] = ()) -> ModuleResult:
    path = REPO / "installer" / "tfsetup" / module
    source = path.read_text(encoding="utf-8")
    every = list_mutants(module, source)
    mutants = select(every, max_mutants, seed, only)
    result = ModuleResult(module, len(every), len(mutants))
    tests = existing_tests(tests)
    if not tests:
        result.run, result.skipped = 0, "no test file yet"
        return result
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
            result.seconds += seconds
            if outcome == "killed":
                result.killed += 1
            elif outcome == "timeout":
                result.killed += 1
                result.timeouts += 1
            elif outcome == "error":
                result.errors.append(mutant)
                print(f"  ERROR {module}:{mutant.line} - {mutant.key}\n"
                      + "\n".join("      " + line for line in _LAST_OUTPUT[0].strip().splitlines()[-5:]), flush=True)
            elif mutant.key in justified:
                result.justified.append(mutant)
            else:
                result.survivors.append(mutant)
            if verbose:
                print(f"  [{n}/{len(mutants)}] {outcome:8s} {seconds:5.1f}s {module}:{mutant.line} "
                      f"{mutant.description}", flush=True)
    return result


TABLE_HEAD = ("| module | score | killed | justified | survived | errors | run / sites |\n"
              "|---|---:|---:|---:|---:|---:|---:|")
REPORT_START = "<!-- mutation-report:start (written by scripts/mutation.sh --report; do not edit) -->"
REPORT_END = "<!-- mutation-report:end -->"


def scores_table(results: Sequence[ModuleResult], command: str) -> str:
    """The markdown block README includes: generated from one run, never typed."""
    rows = []
    for r in results:
        if r.skipped:
            rows.append(f"| {r.module} | – | – | – | – | – | not run: {r.skipped} |")
            continue
        rows.append(f"| {r.module} | {r.score:.0f}% | {r.killed} | {len(r.justified)} | {len(r.survivors)} | "
                    f"{len(r.errors)} | {r.run} / {r.sites} |")
    return "\n".join([f"`{command}` ({time.strftime('%Y-%m-%d')}):", "", TABLE_HEAD, *rows])


def write_report(path: Path, table: str) -> None:
    """Replaces the block between the report markers in `path` (README.md); a file without them gets the
    block appended, so the first report is written where the reader is told to look."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    block = f"{REPORT_START}\n{table}\n{REPORT_END}"
    if REPORT_START in text and REPORT_END in text:
        head, rest = text.split(REPORT_START, 1)
        text = head + block + rest.split(REPORT_END, 1)[1]
    else:
        text = text.rstrip("\n") + ("\n\n" if text else "") + block + "\n"
    path.write_text(text, encoding="utf-8")


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--module", action="append", choices=sorted(MODULES), help="only these (repeatable)")
    parser.add_argument("--max-per-module", type=int, default=None, metavar="N",
                        help="a random sample of N mutants per module (default: all)")
    parser.add_argument("--seed", type=int, default=0, help="the sample's seed (default 0)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per mutant's test run (default 120)")
    parser.add_argument("--min-score", type=float, default=85.0, help="exit 1 below this score (default 85)")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--index", type=int, action="append", default=[], metavar="I",
                        help="run only mutant I of the one --module (the [I] of --list; repeatable)")
    parser.add_argument("--report", type=Path, metavar="FILE",
                        help="write the scores table between the report markers of FILE (README.md)")
    parser.add_argument("-v", "--verbose", action="store_true", help="one line per mutant")
    args = parser.parse_args(argv)
    # Started in the background (`&`), this process inherits SIGINT ignored, and so would the tests (the
    # signal tests need a real Ctrl-C): a handled SIGINT is reset to the default in every child.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    modules = args.module or list(MODULES)
    if args.index and len(modules) != 1:
        parser.error("--index needs exactly one --module (indexes are per module)")
    if args.list:
        for module in modules:
            for m in list_mutants(module, (REPO / "installer" / "tfsetup" / module).read_text(encoding="utf-8")):
                print(f"{module}:{m.line} [{m.index}] {m.key}")
        return 0
    results: List[ModuleResult] = []
    for module in modules:
        justified = justified_keys()  # read as each module starts: a long run sees the file as it stands then
        print(f"== {module} ({', '.join(dict.fromkeys(t.split('::')[0] for t in MODULES[module]))})", flush=True)
        result = run_module(module, MODULES[module], args.max_per_module, args.seed, args.timeout, justified,
                            args.verbose, args.index)
        results.append(result)
        if result.skipped:
            print(f"  {module}: not run ({result.skipped})", flush=True)
            continue
        for m in result.survivors:
            print(f"  SURVIVED {module}:{m.line}  - {m.key}")
        print(f"  {module}: {result.score:.0f}% ({result.killed} killed ({result.timeouts} by timeout) + "
              f"{len(result.justified)} justified of {result.run} run; {len(result.errors)} errors; "
              f"{result.sites} sites; {result.seconds:.0f}s)", flush=True)
    command = "scripts/mutation.sh " + " ".join(a for a in (argv if argv is not None else sys.argv[1:])
                                                 if not a.startswith("--report") and a != str(args.report))
    table = scores_table(results, command.strip())
    print("\n" + table)
    if args.report:
        write_report(args.report, table)
        print(f"\nwrote the table into {args.report}")
    ran = [r for r in results if not r.skipped]
    worst = min((r.score for r in ran), default=100.0)
    return 0 if worst >= args.min_score and all(not r.skipped for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
