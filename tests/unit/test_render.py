"""render.show, the one output rule, on each command's Outcome: with --json exactly one document on stdout,
else the human report; and the lines stderr gets in both modes. In-process: the outcomes are built here."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tfsetup import output, render
from tfsetup.commands.doctor import DoctorOutcome
from tfsetup.commands.explain import ExplainOutcome
from tfsetup.commands.lock import LockOutcome
from tfsetup.commands.recipes import run as recipes_run
from tfsetup.commands.remove import RemoveOutcome
from tfsetup.commands.verify import VerifyOutcome
from tfsetup.commands.wheelhouse import WheelhouseOutcome
from tfsetup.doctor.findings import Finding
from tfsetup.doctor.repair import RepairPlan
from tfsetup.envs.manage import RemoveResult
from tfsetup.verify import Check, VerifyResult

from tests.conftest import FIXTURES

FINDING = Finding("numpy-abi-mismatch", "error", "NumPy 2 under a TensorFlow built for NumPy 1.",
                  "pip install 'numpy<2'", evidence=("module compiled against API version",))


@pytest.fixture(autouse=True)
def captured_console(monkeypatch):
    """rich's console is made on first use, on the stdout of that moment: here, the captured one."""
    monkeypatch.setattr(output, "_console", None)


def shown(capsys, outcome, json_out: bool):
    render.show(outcome, json_out)
    return capsys.readouterr()


def test_json_is_one_document_and_stderr_still_says_why(capsys):
    out = shown(capsys, ExplainOutcome([]), json_out=True)
    assert json.loads(out.out) == {"findings": []}
    assert out.err == "no known problem matched\n"


def test_explain_human_report_names_the_finding_its_fix_and_evidence(capsys):
    outcome = ExplainOutcome([FINDING])
    out = shown(capsys, outcome, json_out=False)
    assert outcome.exit_code == 0 and out.err == ""
    lines = out.out.splitlines()
    assert lines[0] == "error numpy-abi-mismatch"
    assert "  fix: pip install 'numpy<2'" in lines and "  > module compiled against API version" in lines


def test_one_severity_style_for_doctor_and_explain():
    assert render.severity_heading(Finding("x", "info", "m", "f")) == "[bold cyan]info[/] [bold]x[/]"
    assert render.severity_heading(Finding("y", "warning", "m", "f")).startswith("[bold yellow]warning[/]")
    assert not hasattr(render, "SEVERITY_COLORS")


def test_lock_check_stale_lines_go_to_stderr_in_both_modes(capsys, tmp_path):
    stale = LockOutcome(tmp_path / "tfsetup.lock", [], checked=True, reasons=["tfsetup.lock does not exist"])
    human = shown(capsys, stale, json_out=False)
    assert (human.out, human.err) == ("", "stale: tfsetup.lock does not exist\n")
    machine = shown(capsys, stale, json_out=True)
    assert json.loads(machine.out)["up_to_date"] is False and machine.err == human.err
    assert stale.exit_code == 1


def test_lock_human_report_says_up_to_date_or_what_was_written(capsys, tmp_path):
    section = {"platform": "linux-x86_64", "python": "3.11", "recipe": "r"}
    current = LockOutcome(tmp_path / "tfsetup.lock", [section], checked=True)
    assert shown(capsys, current, json_out=False).out == "tfsetup.lock is up to date (1 section)\n"
    written = LockOutcome(tmp_path / "tfsetup.lock", [section, section])
    assert shown(capsys, written, json_out=False).out == f"wrote {tmp_path / 'tfsetup.lock'} (2 sections)\n"
    assert set(json.loads(shown(capsys, written, json_out=True).out)) == {"lock", "sections", "notes"}


def test_a_failed_verification_says_why_on_stderr_and_exits_1(capsys, tmp_path):
    result = VerifyResult([Check("import", "pass", "ok"), Check("matmul", "fail", "wrong result")], 3.0, 1)
    outcome = VerifyOutcome(tmp_path / "env", result)
    out = shown(capsys, outcome, json_out=False)
    assert outcome.exit_code == 1
    assert f"Verification of {tmp_path / 'env'}" in out.out and "wrong result" in out.out
    assert out.err.startswith("tfsetup: verification failed (matmul)\n  fix: `tfsetup doctor --deep --fix ")
    machine = shown(capsys, outcome, json_out=True)
    assert json.loads(machine.out)["ok"] is False and machine.err == out.err


def test_a_failed_repair_is_one_error_line_and_exit_4(capsys, tmp_path):
    doc = {"repaired": False, "error": "the repaired env failed verification", "restored": True,
           "fix": "see the findings"}
    outcome = DoctorOutcome(doc, 4, [], RepairPlan(env=str(tmp_path)), None)  # type: ignore[arg-type]
    out = shown(capsys, outcome, json_out=False)
    assert out.out.splitlines() == ["repair failed: the repaired env failed verification",
                                    "the env is exactly as it was before the repair"]
    assert out.err == "tfsetup: error: repair failed: the repaired env failed verification\n  fix: see the findings\n"
    machine = shown(capsys, outcome, json_out=True)
    assert json.loads(machine.out) == doc and machine.err == out.err


def test_doctor_fix_that_only_verified_reports_the_verification(capsys, tmp_path):
    doc = {"verified": True, "verification": {"checks": []}}
    outcome = DoctorOutcome(doc, 0, [], RepairPlan(env=str(tmp_path)), None)  # type: ignore[arg-type]
    out = shown(capsys, outcome, json_out=False)
    assert out.out == "verified: the env passed verification\n" and out.err == ""


def test_remove_declined_says_nothing_was_removed(capsys, tmp_path):
    outcome = RemoveOutcome(RemoveResult(tmp_path / "env", removed=False, forgotten=False))
    assert shown(capsys, outcome, json_out=False).out == "declined; nothing was removed\n"
    assert outcome.exit_code == 1


def test_wheelhouse_says_how_to_install_from_it(capsys, tmp_path):
    summary = {"wheels": ["a.whl", "b.whl", "c.whl"], "downloaded": 2, "pythons": ["3.12"]}
    out = shown(capsys, WheelhouseOutcome(summary, tmp_path), json_out=False).out
    assert out == (f"3 wheels in {tmp_path} (2 downloaded); install with: tfsetup install --offline "
                   f"--find-links {tmp_path} --python 3.12\n")


def test_recipes_human_report_names_the_host(capsys):
    outcome = recipes_run(False, FIXTURES / "hosts" / "linux-x86_64-avx.json", None)
    out = shown(capsys, outcome, json_out=False).out
    assert out.startswith("Recipes (this host: linux-x86_64)")
    assert outcome.to_json()["recipes"][0]["id"] in out


def test_plan_in_a_project_says_which_config_on_stderr(capsys):
    from tfsetup.commands.plan import run as plan_run

    outcome = plan_run({}, True, FIXTURES / "hosts" / "linux-x86_64-avx.json", None)
    outcome.record["project"] = {"config": "/p/tfsetup.toml"}
    out = shown(capsys, outcome, json_out=False)
    assert out.err == "using /p/tfsetup.toml (--no-project ignores it)\n"
    assert out.out.startswith(f"recipe  {outcome.plan.recipe.id} ")


def test_progress_lines_are_indented_on_stderr_and_silent_with_json(capsys):
    assert render.progress_lines(True) is None
    line = render.progress_lines(False)
    assert line is not None
    line("resolving")
    assert capsys.readouterr().err == "   resolving\n"


def test_every_command_has_a_human_report():
    commands = Path(render.__file__).parent / "commands"
    names = {p.stem for p in commands.glob("*.py") if not p.stem.startswith("_")} - {"prove"}
    assert names == set(render._HUMAN), "a command without a drawing in render._HUMAN (or one too many)"
