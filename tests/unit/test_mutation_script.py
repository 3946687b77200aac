"""scripts/mutation.py: its operators make the mutants the review asked for (a `with` dropped, two
statements swapped, any statement removed), only "tests failed" counts as a kill, and the README table is
written from a run, between its markers."""
from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

from tests.conftest import REPO, load_script

SOURCE = textwrap.dedent('''
    def promote(target, staged):
        write_journal(target)
        with signals_deferred():
            os.rename(staged, target)
        count = 1
        count += 1
        if count > 1:
            raise RuntimeError("no")
        return count
''')


@pytest.fixture(scope="module")
def mutation():
    return load_script("mutation")


def _mutants_of(mutation, kind_word: str):
    return [m for m in mutation.list_mutants("m.py", SOURCE) if kind_word in m.description]


def test_a_with_is_dropped_and_its_body_kept(mutation):
    [dropped] = _mutants_of(mutation, "`with` dropped")
    out = mutation.mutate(SOURCE, dropped.index)
    assert "signals_deferred" not in out
    assert "os.rename(staged, target)" in out
    ast.parse(out)


def test_adjacent_statements_are_swapped_journal_after_rename(mutation):
    swaps = _mutants_of(mutation, "swapped")
    texts = [mutation.mutate(SOURCE, m.index) for m in swaps]
    # the journal written after the swap it guards: the mutant txn's signal tests must kill
    assert any(t.index("with signals_deferred") < t.index("write_journal(target)") for t in texts)


def test_a_swap_whose_second_statement_reads_what_the_first_binds_is_not_offered(mutation):
    swaps = _mutants_of(mutation, "swapped")
    # `count = 1` then `count += 1` reads count: swapping them is a NameError, noise that inflates a score
    assert not any("`count = 1` and `count += 1`" in m.description for m in swaps)


def test_a_global_statement_is_never_swapped(mutation):
    """`global x` below the code that uses x is a SyntaxError: a harness error, never a plausible slip."""
    source = "def console():\n    global _console\n    if _console is None:\n        _console = 1\n    return _console\n"
    mutants = mutation.list_mutants("m.py", source)
    assert not [m for m in mutants if "swapped" in m.description]
    for m in mutants:
        compile(mutation.mutate(source, m.index), "m.py", "exec")


def test_any_statement_can_be_removed(mutation):
    removed = {m.description for m in mutation.list_mutants("m.py", SOURCE) if m.description.endswith("removed")}
    assert "`count = 1` removed" in removed
    assert "`count += 1` removed" in removed
    assert any(d.startswith("`if count > 1:") for d in removed)
    raise_mutant = next(m for m in mutation.list_mutants("m.py", SOURCE)
                        if m.description.startswith("`raise RuntimeError"))
    assert "raise" not in mutation.mutate(SOURCE, raise_mutant.index)


@pytest.mark.parametrize("code,outcome", [(0, "survived"), (1, "killed"), (2, "error"), (3, "error"),
                                          (4, "error"), (5, "error"), (-11, "error")])
def test_only_failed_tests_kill_a_mutant(mutation, code, outcome):
    assert mutation.classify(code) == outcome


def test_errors_count_against_the_score(mutation):
    m = mutation.Mutant("m.py", 0, 1, "f", "x")
    result = mutation.ModuleResult("m.py", sites=4, run=4, killed=2, justified=[m], errors=[m])
    assert result.score == 75.0


def test_the_report_replaces_only_its_block(mutation, tmp_path: Path):
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{mutation.REPORT_START}\nold table\n{mutation.REPORT_END}\noutro\n")
    result = mutation.ModuleResult("txn.py", sites=10, run=4, killed=4)
    mutation.write_report(readme, mutation.scores_table([result], "scripts/mutation.sh --seed 1"))
    text = readme.read_text()
    assert text.startswith("intro\n") and text.endswith("outro\n")
    assert "old table" not in text
    assert "| txn.py | 100% | 4 | 0 | 0 | 0 | 4 / 10 |" in text


def test_every_listed_module_exists_and_names_its_tests(mutation):
    for module, tests in mutation.MODULES.items():
        assert (REPO / "installer" / "tfsetup" / module).is_file(), module
        assert tests, module


def test_readme_has_the_report_markers(mutation):
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert mutation.REPORT_START in text and mutation.REPORT_END in text


def test_index_runs_the_chosen_mutants_and_the_sample_is_stable(mutation):
    mutants = mutation.list_mutants("m.py", SOURCE)
    assert [m.index for m in mutation.select(mutants, 3, 1, only=[4, 1])] == [1, 4]
    sample = mutation.select(mutants, 3, 1)
    assert len(sample) == 3 and sample == mutation.select(mutants, 3, 1)  # the seed alone decides
    assert [m.index for m in sample] == sorted(m.index for m in sample)
    assert mutation.select(mutants, None, 1) == mutants
    with pytest.raises(SystemExit):  # indexes are per module: one --module
        mutation.main(["--index", "1"])
