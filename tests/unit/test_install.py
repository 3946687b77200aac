"""install.py's checks before anything is built (PATH, lock) and the scripts check before the swap."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tfsetup.errors import TfsetupError
from tfsetup.build import broken_scripts, check_lock_hashes, relocate_scripts, safe_prompt
from tfsetup.install import Declined, check_target


def _venv(path: Path) -> Path:
    (path / "bin").mkdir(parents=True)
    (path / "lib").mkdir()
    (path / "pyvenv.cfg").write_text("home = /usr/bin\n")
    return path


def test_missing_or_empty_targets_are_fine_and_untouched(tmp_path):
    assert check_target(tmp_path / "new" / "env", False, None) is False
    (tmp_path / "empty").mkdir()
    assert check_target(tmp_path / "empty", False, None) is False


def test_a_venv_is_replaced_only_when_asked(tmp_path):
    env = _venv(tmp_path / "env")
    with pytest.raises(TfsetupError, match="existing virtual environment") as info:
        check_target(env, False, None)
    assert info.value.fix == "pass --force to replace it"
    assert check_target(env, True, None) is True
    assert check_target(env, False, lambda ask: ask.kind == "virtual environment" and ask.target == env) is True
    with pytest.raises(Declined):  # a no at the prompt is the user's choice, not an error to fix with --force
        check_target(env, False, lambda ask: False)


def test_a_directory_that_is_not_a_venv_is_never_touched(tmp_path):
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "main.py").write_text("")
    with pytest.raises(TfsetupError, match="not a virtual environment"):
        check_target(tmp_path / "proj", True, None)


def test_a_venv_holding_the_users_files_is_refused_and_they_are_listed(tmp_path):
    env = _venv(tmp_path / "proj")  # `python -m venv .` in a project
    (env / "train.py").write_text("")
    (env / "data").mkdir()
    with pytest.raises(TfsetupError) as info:
        check_target(env, True, None)
    assert "data, train.py" in info.value.message and info.value.fix


def test_the_env_tfsetup_runs_from_is_refused():
    with pytest.raises(TfsetupError, match="tfsetup itself is running from"):
        check_target(Path(sys.prefix), True, None)


def test_a_file_or_dangling_link_is_refused(tmp_path):
    (tmp_path / "f").write_text("")
    with pytest.raises(TfsetupError, match="is a file"):
        check_target(tmp_path / "f", True, None)
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    with pytest.raises(TfsetupError, match="dangling"):
        check_target(tmp_path / "dangling", True, None)


def test_lock_hashes_must_be_strong_and_present(tmp_path):
    lock = tmp_path / "lock.txt"
    lock.write_text("numpy==2.1.3 --hash=sha256:" + "a" * 64 + "\n")
    check_lock_hashes(lock)
    lock.write_text("numpy==2.1.3 --hash=md5:" + "a" * 32 + "\n")
    with pytest.raises(TfsetupError, match="malformed hash"):
        check_lock_hashes(lock)
    lock.write_text("numpy==2.1.3\n")
    with pytest.raises(TfsetupError, match="no --hash"):
        check_lock_hashes(lock)


def test_scripts_are_checked_as_they_will_be_at_the_final_place(tmp_path):
    stage, final = tmp_path / ".env.stage", tmp_path / "env"
    _venv(stage)
    os.symlink(sys.executable, stage / "bin" / "python")
    (stage / "bin" / "tool").write_text(f"#!{stage}/bin/python\nprint(1)\n")
    assert relocate_scripts(stage, stage, final) == 1
    assert (stage / "bin" / "tool").read_text().startswith(f"#!{final}/bin/python")
    assert broken_scripts(stage, final=final) == []
    (stage / "bin" / "gone").write_text("#!/nonexistent/python3\n")
    assert broken_scripts(stage, final=final) == ["gone -> /nonexistent/python3"]


def test_the_prompt_cannot_run_commands():
    assert safe_prompt("$(touch pwned)") == "__touch pwned_"
    assert safe_prompt("my env") == "my env"


def test_a_failed_verification_is_never_promoted(tmp_path, isolated_state):
    """The verify gate, for real and fast: a real venv built by uv from an empty lock fails `tf-import`,
    so the install fails and PATH stays absent, with no staging directory left beside it."""
    import platform
    from dataclasses import replace

    from tfsetup.host.facts import PythonInfo
    from tfsetup.install import InstallFailed, InstallOptions, run_install
    from tfsetup.plan import PlanRequest, plan
    from tfsetup.recipes import load_recipes

    from tests.conftest import host_fixture

    facts = host_fixture("linux-x86_64-avx")
    chosen = plan(facts, load_recipes(), PlanRequest(python_downloads="never"))
    me = PythonInfo(sys.executable, platform.python_version(), archs=[platform.machine()], source="other")
    chosen = replace(chosen, python=me, launch=[sys.executable])
    lock = tmp_path / "empty-lock.txt"
    lock.write_text("# no packages: nothing to import\n")
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(InstallFailed) as caught:
        run_install(chosen, facts, InstallOptions(target=work / "env", lock_path=lock), lambda step, line: None)
    assert "verification failed" in str(caught.value) and "tf-import" in str(caught.value)
    assert os.listdir(work) == []  # not promoted, and the stage was removed


def test_a_path_below_a_file_is_refused_as_such(tmp_path):
    (tmp_path / "f").write_text("")
    with pytest.raises(TfsetupError) as info:
        check_target(tmp_path / "f" / "sub" / "env", True, None)
    assert info.value.message == f"{tmp_path / 'f'} is a file, not a directory; choose another path"


def _my_plan():
    import platform
    from dataclasses import replace

    from tfsetup.host.facts import PythonInfo
    from tfsetup.plan import PlanRequest, plan
    from tfsetup.recipes import load_recipes

    from tests.conftest import host_fixture

    facts = host_fixture("linux-x86_64-avx")
    chosen = plan(facts, load_recipes(), PlanRequest(python_downloads="never"))
    me = PythonInfo(sys.executable, platform.python_version(), archs=[platform.machine()], source="other")
    return replace(chosen, python=me, launch=[sys.executable]), facts


def test_up_to_date_only_for_this_recipe_lock_python_and_a_passed_verification(tmp_path):
    from tfsetup.env.record import write_record
    from tfsetup.install import up_to_date

    chosen, _ = _my_plan()
    env = _venv(tmp_path / "env")
    (env / "bin" / "python").write_text("")
    minor = ".".join(chosen.python.version.split(".")[:2])
    good = {"recipe": chosen.recipe.id, "lock": {"digest": "d1"}, "python": {"version": minor + ".99"},
            "verification": {"ok": True}}
    write_record(env, good)
    assert up_to_date(env, chosen, "d1") == good
    assert up_to_date(env, chosen, "d2") is None  # another lock
    for changed in ({"recipe": "another-recipe"}, {"python": {"version": "2.7.18"}}, {"verification": {"ok": False}},
                    {"verification": None}):
        write_record(env, {**good, **changed})
        assert up_to_date(env, chosen, "d1") is None, changed
    write_record(env, good)
    (env / "bin" / "python").unlink()  # its Python is gone: not up to date, whatever the record says
    assert up_to_date(env, chosen, "d1") is None


def test_a_lock_without_hashes_is_refused_before_anything_is_built(tmp_path, isolated_state):
    from tfsetup.backends.base import PackageSource
    from tfsetup.install import InstallOptions, run_install

    chosen, facts = _my_plan()
    lock = tmp_path / "lock.txt"
    lock.write_text("numpy==2.1.3\n")
    house = tmp_path / "house"
    house.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(TfsetupError) as info:
        run_install(chosen, facts, InstallOptions(target=work / "env", lock_path=lock, verify=False,
                                                  source=PackageSource(find_links=[str(house)], offline=True)),
                    lambda step, line: None)
    assert info.value.message.startswith(f"{lock}: numpy==2.1.3: no --hash")
    assert os.listdir(work) == []


def test_what_a_forced_replace_drops_is_said_again_as_the_build_starts(tmp_path, isolated_state):
    """With --force (or --yes) nobody was asked: the warning lines are the user's only notice."""
    from tfsetup.env.record import ReplaceChanges
    from tfsetup.install import InstallOptions, run_install

    chosen, facts = _my_plan()
    lock = tmp_path / "empty-lock.txt"
    lock.write_text("# no packages\n")
    env = _venv(tmp_path / "work" / "env")
    changes = ReplaceChanges((), "3.1.0", chosen.python.version)
    events = []
    result = run_install(chosen, facts, InstallOptions(target=env, lock_path=lock, verify=False, force=True,
                                                       replace_changes=lambda target: changes),
                         lambda step, line: events.append((step, line)))
    assert result.replaced and result.changes == changes
    assert ("replace", f"warning: the env's Python changes: 3.1.0 -> {chosen.python.version}") in events
