"""commands/: each command, called in-process, decides its own outcome and exit code (what the process
exits with), checks its inputs before any work, and asks its questions through the Terminal seam."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import List

import pytest

from tfsetup.commands import _common, add, detect, doctor, explain, install, list as list_command, lock, plan
from tfsetup.commands import recipes, remove, report, verify, wheelhouse
from tfsetup.env.record import write_record
from tfsetup.env.registry import register_env, registered_envs
from tfsetup.errors import EXIT_BAD_INPUT, TfsetupError

from tests.conftest import FIXTURES

HOST = FIXTURES / "hosts" / "linux-x86_64-avx.json"
LOGS = FIXTURES / "errors"


class FakeTerminal(_common.Terminal):
    """A terminal that answers: is it one, what stdin holds, and the answer to every question (recorded)."""

    def __init__(self, tty: bool, answer: bool = False, stdin: bytes = b"") -> None:
        self.tty, self.answer, self.stdin = tty, answer, stdin
        self.asked: List[str] = []

    def is_tty(self) -> bool:
        return self.tty

    def read(self, limit: int) -> bytes:
        return self.stdin[:limit]

    def ask(self, question: str) -> bool:
        self.asked.append(question)
        return self.answer


def refused(call, says: str) -> TfsetupError:
    with pytest.raises(TfsetupError) as caught:
        call()
    assert caught.value.exit_code == EXIT_BAD_INPUT, caught.value.render()
    assert says in caught.value.render()
    return caught.value


@pytest.fixture
def state(isolated_state):
    """A registry of its own (tfsetup's state dir)."""
    return isolated_state


def tfsetup_env(path: Path) -> Path:
    """The shape of an env tfsetup made: pyvenv.cfg, a python, its record; registered."""
    (path / "bin").mkdir(parents=True)
    (path / "pyvenv.cfg").write_text(f"home = {Path(sys.executable).parent}\nversion = 3.11.7\n")
    os.symlink(sys.executable, path / "bin" / "python")
    write_record(path, {"schema": 1, "recipe": "linux-x86_64-cpu-tf2.21", "packages": {"tensorflow": "2.21.0"}})
    register_env(path)
    return path


# ---------------------------------------------------------------------------------------------
# the seam: --yes, a terminal, or none


def test_confirmer_says_yes_with_yes_asks_on_a_terminal_and_is_none_without_one():
    terminal = FakeTerminal(tty=True, answer=False)
    assert _common.confirmer(True, FakeTerminal(tty=False))("Remove it?") is True
    assert _common.confirmer(False, FakeTerminal(tty=False)) is None
    ask = _common.confirmer(False, terminal)
    assert ask is not None and ask("Remove it?") is False and terminal.asked == ["Remove it?"]


def test_doctor_fix_asks_on_a_terminal_and_refuses_without_one():
    terminal = FakeTerminal(tty=True, answer=True)
    assert doctor.confirm_repair(False, terminal)(None) is True and terminal.asked == ["Apply this repair plan?"]
    assert doctor.confirm_repair(True, FakeTerminal(tty=False))(None) is True
    error = refused(lambda: doctor.confirm_repair(False, FakeTerminal(tty=False))(None), "stdin is not a terminal")
    assert error.fix == "pass --yes to repair without asking"


def test_check_url_takes_http_https_and_file_only():
    _common.check_url(None, "--index-url")
    _common.check_url("https://example.org/simple", "--index-url")
    refused(lambda: _common.check_url("example.org", "--index-url"), "is not an http(s):// or file:// URL")


# ---------------------------------------------------------------------------------------------
# explain: the log from a file or stdin; exit 0 found, 1 nothing matched


def test_explain_a_known_log_exits_0_with_its_findings():
    log = LOGS / "numpy-abi-mismatch--array-api-not-found-linux.txt"
    outcome = explain.run(str(log), None)
    assert outcome.exit_code == 0
    assert "numpy-abi-mismatch" in [f["id"] for f in outcome.to_json()["findings"]]


def test_explain_nothing_known_exits_1_with_an_empty_document(tmp_path):
    log = tmp_path / "fine.log"
    log.write_text("all good\n")
    outcome = explain.run(str(log), None)
    assert (outcome.exit_code, outcome.to_json()) == (1, {"findings": []})


def test_explain_reads_stdin_and_on_a_terminal_says_how_to_end_it(capsys):
    text = (LOGS / "numpy-abi-mismatch--array-api-not-found-linux.txt").read_bytes()
    outcome = explain.run("-", None, FakeTerminal(tty=True, stdin=text))
    assert outcome.exit_code == 0 and "paste the log, then press" in capsys.readouterr().err
    piped = explain.run(None, None, FakeTerminal(tty=False, stdin=text))
    assert piped.to_json() == outcome.to_json() and capsys.readouterr().err == ""


def test_explain_of_a_missing_file_is_bad_input(tmp_path):
    refused(lambda: explain.run(str(tmp_path / "missing.log"), None), "missing.log")


# ---------------------------------------------------------------------------------------------
# detect, recipes, plan: read-only, exit 0


def test_detect_is_this_machines_facts():
    outcome = detect.run()
    doc = outcome.to_json()
    assert outcome.exit_code == 0 and doc == outcome.facts.to_json() and doc["machine"]


def test_recipes_for_a_host_file_lists_that_hosts_rows():
    outcome = recipes.run(False, HOST, None)
    doc = outcome.to_json()
    assert outcome.exit_code == 0 and doc["host"] == "linux-x86_64"
    assert doc["recipes"] and {r["platform"] for r in doc["recipes"]} == {"linux-x86_64"}
    assert any(r["fits"] for r in doc["recipes"])


def test_plan_for_a_host_file_chooses_a_recipe_of_that_platform():
    outcome = plan.run({}, True, HOST, None)
    assert outcome.exit_code == 0 and outcome.to_json()["recipe"].startswith("linux-x86_64-")


def test_plan_checks_the_host_file_before_the_flags():
    """Order of the checks, as before the move: --host-file first, then the flags (--cpu-only with cuda)."""
    refused(lambda: plan.run({"cpu_only": True, "accelerator": "cuda"}, True, Path("-host.json"), None),
            "--host-file '-host.json' starts with '-'")
    refused(lambda: plan.run({"cpu_only": True, "accelerator": "cuda"}, True, HOST, None), "--cpu-only contradicts")


# ---------------------------------------------------------------------------------------------
# install, wheelhouse, verify, add: bad input is refused before any work (exit 2)


def test_install_checks_the_index_url_then_the_path_then_the_flags(tmp_path):
    refused(lambda: install.run({"index_url": "pypi", "path": Path("-env")}, True, None, "uv", False, True, True,
                                lambda stage, event: None), "--index-url 'pypi'")
    refused(lambda: install.run({"path": tmp_path / "env", "keras": 5}, True, None, "uv", False, True, True,
                                lambda stage, event: None), "--keras must be 2 or 3")


def test_wheelhouse_checks_its_directory_before_the_index_url():
    refused(lambda: wheelhouse.run(Path("-wheels"), [], [], None, False, "pypi", True, None, None), "-wheels")


def test_verify_refuses_a_bad_timeout_and_a_missing_env(tmp_path):
    refused(lambda: verify.run(tmp_path, False, -1), "--timeout")
    refused(lambda: verify.run(tmp_path / "missing", False, 60), "does not exist")


def test_add_with_only_an_env_names_no_package():
    refused(lambda: add.run(["./env"], None, print), "no package was named")


# ---------------------------------------------------------------------------------------------
# remove, list, report: the registry (own state dir)


def test_remove_declined_at_the_prompt_exits_1_and_keeps_the_env(state):
    env = tfsetup_env(state / "env")
    terminal = FakeTerminal(tty=True, answer=False)
    outcome = remove.run(env, False, False, terminal)
    assert outcome.exit_code == 1 and env.is_dir() and len(terminal.asked) == 1
    assert outcome.to_json()["removed"] is False


def test_remove_with_yes_exits_0_and_without_a_terminal_refuses(state):
    env = tfsetup_env(state / "env")
    refused(lambda: remove.run(env, False, False, FakeTerminal(tty=False)), "pass --yes")
    outcome = remove.run(env, False, True, FakeTerminal(tty=False))
    assert outcome.exit_code == 0 and outcome.to_json()["removed"] is True and not env.exists()


def test_remove_forget_exits_0_and_keeps_the_files(state):
    env = tfsetup_env(state / "env")
    outcome = remove.run(env, True, False, FakeTerminal(tty=False))
    assert outcome.exit_code == 0 and outcome.to_json()["forgotten"] is True and env.is_dir()
    assert str(env) not in [str(p) for p in registered_envs()]


def test_list_with_no_envs_is_empty_and_exits_0(state):
    outcome = list_command.run(False)
    assert outcome.exit_code == 0 and outcome.to_json()["envs"] == []


def test_report_is_one_document_and_exits_0(state, monkeypatch):
    monkeypatch.chdir(state)
    outcome = report.run([], None)
    assert outcome.exit_code == 0 and {"host", "envs", "summary"} <= set(outcome.to_json())


# ---------------------------------------------------------------------------------------------
# lock --check: 1 when stale


def test_lock_check_of_a_missing_lock_exits_1_with_the_reason(tmp_path, monkeypatch):
    (tmp_path / "tfsetup.toml").write_text('python = "3.11"\nplatforms = ["linux-x86_64"]\n')
    monkeypatch.chdir(tmp_path)
    outcome = lock.run([], [], True, None, None)
    doc = outcome.to_json()
    assert outcome.exit_code == 1 and doc["up_to_date"] is False
    assert doc["reasons"] == ["tfsetup.lock does not exist"]


def test_lock_exit_code_is_1_only_for_a_stale_check(tmp_path):
    assert lock.LockOutcome(tmp_path / "tfsetup.lock", [], checked=True).exit_code == 0
    assert lock.LockOutcome(tmp_path / "tfsetup.lock", [], checked=False, reasons=["x"]).exit_code == 0
    assert lock.LockOutcome(tmp_path / "tfsetup.lock", [], checked=True, reasons=["x"]).exit_code == 1
