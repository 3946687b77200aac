"""detect, recipes and plan through the installed `tfsetup` command, as a user runs them."""
from __future__ import annotations

import json
import platform

import pytest

from tests.conftest import FIXTURES
from tests.e2e.helpers import json_out, run_tfsetup

HOSTS = FIXTURES / "hosts"


def assert_clean_error(proc, code: int, *words: str) -> None:
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    assert proc.stderr.startswith("tfsetup: error:"), proc.stderr
    for word in words:
        assert word in proc.stderr


def test_detect_json_is_this_host_in_the_stable_schema(isolated_state):
    proc = run_tfsetup("detect", "--json")
    assert proc.returncode == 0, proc.stderr
    facts = json_out(proc)
    assert facts["schema"] == 1
    assert facts["os"] == "linux"
    assert facts["machine"] == platform.machine()
    assert facts["rosetta"] is False
    assert isinstance(facts["cpu_flags"], list) and isinstance(facts["gpus"], list)
    if platform.machine() == "x86_64":
        with open("/proc/cpuinfo") as cpuinfo:
            has_avx = " avx " in cpuinfo.read().replace("\n", " ")
        assert ("avx" in facts["cpu_flags"]) == has_avx
    assert facts["pythons"], "at least the interpreter running the tests is found"
    for py in facts["pythons"]:
        assert {"executable", "version", "implementation", "archs", "source"} <= set(py)
        assert py["archs"] == [platform.machine()]
    # what detect prints is accepted back by plan --host-file
    host = isolated_state / "host.json"
    host.write_text(proc.stdout)
    planned = run_tfsetup("plan", "--host-file", str(host), "--json")
    assert planned.returncode in (0, 3), planned.stderr


def test_detect_human_output(isolated_state):
    proc = run_tfsetup("detect")
    assert proc.returncode == 0, proc.stderr
    assert "linux" in proc.stdout.lower() and platform.machine() in proc.stdout


def test_plan_for_another_machine():
    proc = run_tfsetup("plan", "--host-file", str(HOSTS / "m1-rosetta-universal2.json"), "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json_out(proc)
    assert doc["recipe"] == "macos-arm64-metal-tf2.19"
    assert doc["python"]["launch"][:2] == ["arch", "-arm64"]
    assert doc["packages"]["tensorflow-metal"] == "1.2.0"
    human = run_tfsetup("plan", "--host-file", str(HOSTS / "m1-rosetta-universal2.json"))
    assert human.returncode == 0
    assert "macos-arm64-metal-tf2.19" in human.stdout


def test_plan_nothing_fits_is_exit_3_with_json_error():
    # only the host's own Pythons (by default uv would download a native one: test_managed_python.py)
    host_only = ["--host-file", str(HOSTS / "m1-rosetta-x86-conda-only.json"), "--python-downloads", "never"]
    proc = run_tfsetup("plan", *host_only, "--json")
    assert proc.returncode == 3
    doc = json_out(proc)
    assert "arm64 Python" in doc["fix"] and doc["rejected"]
    human = run_tfsetup("plan", *host_only)
    assert_clean_error(human, 3, "arm64 Python")


@pytest.mark.parametrize("args, code, words", [
    (["--tf", "2.99"], 2, ["no recipe for TensorFlow 2.99", "2.21, 2.20, 2.19"]),
    (["--tf", "2.19.0"], 2, ["2.19 is pinned at 2.19.1", "--tf 2.19"]),
    (["--recipe", "linux-x86_64-cpu-tf2.21"], 3, ["is built for Linux x86_64; this host is macOS arm64"]),
    (["--tf", "two"], 2, ["--tf must look like"]),
    (["--python", "3.8", "--python-downloads", "never"], 3, ["3.8"]),  # auto: a managed 3.8 (asked by name)
    (["--python", "banana"], 2, ["--python must look like"]),
    (["--python", "2.7"], 2, ["Python 2.7 is not supported"]),
    (["--python", "3.11.7"], 2, ["a minor version like 3.11, not 3.11.7"]),
    (["--recipe", "nope"], 2, ["unknown recipe"]),
    (["--tf", "2.21", "--accelerator", "metal"], 3, ["fix: nearest working choice: --tf 2.19"]),
])
def test_plan_bad_requests(args, code, words):
    proc = run_tfsetup("plan", "--host-file", str(HOSTS / "m1-native-homebrew.json"), *args)
    assert_clean_error(proc, code, *words)


@pytest.mark.parametrize("content, words", [
    ("{not json", ["not valid JSON"]),
    (json.dumps({"schema": 1, "os": "plan9"}), ["os"]),
    (json.dumps({"schema": 99}), ["schema"]),
    ("[]", []),
    (json.dumps({"schema": 1, "os": "macos", "os_version": "banana", "machine": "arm64", "pythons": []}),
     ["'os_version' must be a macOS version"]),
    (json.dumps({"schema": 1, "os": "linux", "os_version": "6.1", "machine": "x86_64"}), ["'pythons'"]),
])
def test_plan_malformed_host_file(tmp_path, content, words):
    bad = tmp_path / "host.json"
    bad.write_text(content)
    proc = run_tfsetup("plan", "--host-file", str(bad))
    assert_clean_error(proc, 2, str(bad), *words)
    assert bad.read_text() == content  # input untouched


def test_plan_missing_host_file(tmp_path):
    proc = run_tfsetup("plan", "--host-file", str(tmp_path / "absent.json"))
    assert_clean_error(proc, 2, "absent.json")


def test_recipes_marks_fit_and_reasons(isolated_state):
    proc = run_tfsetup("recipes", "--all", "--json", "--host-file", str(HOSTS / "m2-python313-only.json"))
    assert proc.returncode == 0, proc.stderr
    rows = {row["id"]: row for row in json_out(proc)["recipes"]}
    assert rows["macos-arm64-cpu-tf2.21"]["fits"] is True
    metal = rows["macos-arm64-metal-tf2.19"]
    assert metal["fits"] is False and any("3.13" in reason for reason in metal["reasons"])
    assert rows["linux-x86_64-cpu-tf2.21"]["fits"] is False
    # a Keras 2 row or a pre-release fits, but plan picks it only with its flag
    keras2 = rows["macos-arm64-cpu-tf2.21-keras2"]
    assert keras2["fits"] is True and keras2["only_with"] == ["--keras 2"]
    assert rows["macos-arm64-cpu-tf2.22rc0"]["fits"] is True
    assert rows["macos-arm64-cpu-tf2.22rc0"]["only_with"] == ["--pre"]
    assert rows["macos-arm64-cpu-tf2.21"]["only_with"] == []
    shown = run_tfsetup("recipes", "--host-file", str(HOSTS / "m2-python313-only.json")).stdout
    block = shown[shown.index("macos-arm64-cpu-tf2.21-keras2\n"):].split("\n")[:3]
    assert block[2] == "  fits this host: yes, with --keras 2", shown
    rc = shown[shown.index("macos-arm64-cpu-tf2.22rc0\n"):].split("\n")[:4]
    assert "  fits this host: yes, with --pre" in rc, shown
    assert all(row["sources"] for row in rows.values()), "every recipe cites its sources"
    # without --all: only this host's platform
    own = json_out(run_tfsetup("recipes", "--json", "--host-file", str(HOSTS / "m2-python313-only.json")))
    assert {row["id"].split("-")[0] for row in own["recipes"]} <= {"macos", "macos11"}


def test_malformed_recipes_file(tmp_path):
    bad = tmp_path / "recipes.toml"
    bad.write_text("[[recipe]]\nid = 'x'\nos = 'beos'\n")
    proc = run_tfsetup("plan", "--recipes-file", str(bad), "--host-file", str(HOSTS / "linux-x86_64-avx.json"))
    assert_clean_error(proc, 2, str(bad))


def test_help_and_version():
    proc = run_tfsetup("--help")
    assert proc.returncode == 0
    for command in ("detect", "recipes", "plan", "install", "verify", "doctor", "explain"):
        assert command in proc.stdout
    from tfsetup import __version__

    version = run_tfsetup("--version")
    assert version.returncode == 0 and version.stdout == f"tfsetup {__version__}\n", version.stdout


def _run_clean(*args: str, cwd):
    """tfsetup with no active venv or conda env (run_tfsetup otherwise inherits the caller's environment)."""
    return run_tfsetup(*args, cwd=cwd, unset=("VIRTUAL_ENV", "CONDA_PREFIX"), timeout=300)


@pytest.mark.parametrize("command", ["doctor", "verify"])
def test_no_env_anywhere_is_a_clear_error_not_tfsetups_own_env(command, tmp_path):
    proc = _run_clean(command, "--json", cwd=tmp_path)
    assert_clean_error(proc, 2, "no environment found", "tfsetup install")
    assert json.loads(proc.stdout)["error"].startswith("no environment found")


def test_doctor_and_verify_default_to_the_projects_env(tmp_path):
    """Like install: from a project's subdirectory the default env is the project's `env`."""
    import subprocess
    import sys

    project = tmp_path / "proj"
    (project / "sub").mkdir(parents=True)
    (project / "tfsetup.toml").write_text('env = "tfenv"\n')
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(project / "tfenv")], check=True)
    doctor = _run_clean("doctor", "--json", cwd=project / "sub")
    assert doctor.returncode == 1, doctor.stderr  # an env without TensorFlow is a problem found
    doc = json.loads(doctor.stdout)
    assert doc["env"]["path"] == str(project / "tfenv")
    assert "tensorflow-missing" in [f["id"] for f in doc["findings"]]
    (project / "sub" / ".venv").mkdir()  # a project's env comes first, as for install
    again = _run_clean("doctor", "--json", cwd=project / "sub")
    assert json.loads(again.stdout)["env"]["path"] == str(project / "tfenv")


@pytest.mark.parametrize("make, words", [
    (lambda p: None, ["does not exist"]),
    (lambda p: p.write_text("notes"), ["is a file, not an environment"]),
    (lambda p: p.symlink_to(p.parent / "gone"), ["does not exist", "which is missing"]),
    (lambda p: p.mkdir(), ["is not a Python environment"]),
])
@pytest.mark.parametrize("command", ["doctor", "verify"])
def test_a_path_that_is_not_an_env(command, make, words, tmp_path):
    path = tmp_path / "my env"
    make(path)
    before = path.read_text() if path.is_file() else None
    proc = run_tfsetup(command, str(path))
    assert_clean_error(proc, 2, *words)
    assert (path.read_text() if path.is_file() else None) == before


@pytest.mark.parametrize("args, words", [
    (["plan", "--bogus"], ["No such option: --bogus", "`tfsetup plan --help`"]),
    (["plna"], ["No such command 'plna'", "Did you mean 'plan'"]),
    (["plan", "extra-arg"], ["unexpected extra argument"]),
    (["wheelhouse"], ["Missing argument"]),
    (["verify", "--timeout", "abc"], ["'abc' is not a valid float"]),
    (["verify", "--timeout", "0"], ["--timeout must be a positive number"]),
    (["plan", "--host-file", "/"], ["is a directory"]),
])
def test_usage_errors_are_one_line_and_exit_2(args, words):
    proc = run_tfsetup(*args)
    assert_clean_error(proc, 2, *words)
    lines = proc.stderr.strip().splitlines()
    assert len([ln for ln in lines if not ln.startswith("  fix: ")]) == 1 and proc.stdout == ""  # + its fix
    with_json = run_tfsetup(*args, "--json")
    assert with_json.returncode == 2
    assert json.loads(with_json.stdout)["exit_code"] == 2  # still one document on stdout


def test_help_keeps_literal_brackets():
    proc = run_tfsetup("install", "--help")
    assert proc.returncode == 0 and "[tool.tfsetup]" in proc.stdout and "--offline" in proc.stdout
    assert run_tfsetup().returncode == 0  # bare `tfsetup` shows the help


def test_host_file_from_stdin_and_not_utf8(tmp_path):
    facts = (HOSTS / "m1-native-homebrew.json").read_text()
    proc = run_tfsetup("plan", "--host-file", "-", "--json", input=facts)
    assert proc.returncode == 0, proc.stderr
    assert json_out(proc)["recipe"] == "macos-arm64-metal-tf2.19"
    binary = tmp_path / "host.json"
    binary.write_bytes(b"\xff\xfe{}")
    assert_clean_error(run_tfsetup("plan", "--host-file", str(binary)), 2, "is not UTF-8 text")


def test_plan_says_which_project_config_it_uses(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "tfsetup.toml").write_text('tensorflow = "2.19"\n')
    host = str(HOSTS / "linux-x86_64-avx.json")
    human = run_tfsetup("plan", "--host-file", host, cwd=tmp_path / "sub")
    assert human.returncode == 0, human.stderr
    assert f"using {tmp_path / 'tfsetup.toml'}" in human.stderr and "2.19.1" in human.stdout
    doc = json_out(run_tfsetup("plan", "--host-file", host, "--json", cwd=tmp_path / "sub"))
    assert doc["project"] == {"config": str(tmp_path / "tfsetup.toml")} and doc["recipe"].endswith("tf2.19")
    bare = json_out(run_tfsetup("plan", "--host-file", host, "--json", "--no-project", cwd=tmp_path / "sub"))
    assert "project" not in bare and bare["recipe"].endswith("tf2.21")


def test_wheelhouse_into_a_file_is_refused(tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("mine")
    proc = run_tfsetup("wheelhouse", str(target), "--platform", "linux-x86_64", "--python", "3.11")
    assert_clean_error(proc, 2, "is a file, not a directory")
    assert target.read_text() == "mine"


def test_report_refuses_a_named_path_that_is_not_an_env(tmp_path, isolated_state):
    assert_clean_error(run_tfsetup("report", str(tmp_path / "nope"), "--json"), 2, "does not exist")
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert_clean_error(run_tfsetup("report", str(afile)), 2, "is a file, not an environment")


def test_failed_wheelhouse_leaves_no_empty_directory(tmp_path):
    target = tmp_path / "new wheelhouse"
    proc = run_tfsetup("wheelhouse", str(target), "--platform", "linux-x86_64", "--python", "3.11",
                       "--no-project", "--index-url", "http://127.0.0.1:9/simple/")
    assert_clean_error(proc, 4, "cannot fetch the index listing", "check the network")
    assert not target.exists()


@pytest.mark.slow  # ~11 s of uv's retries against the unreachable index
def test_lock_with_the_index_unreachable_writes_nothing(tmp_path):
    (tmp_path / "tfsetup.toml").write_text('python = "3.11"\nplatforms = ["linux-x86_64"]\n'
                                           'index-url = "http://127.0.0.1:9/simple/"\n')
    proc = run_tfsetup("lock", cwd=tmp_path, env={"UV_CACHE_DIR": str(tmp_path / "empty cache")})
    assert proc.returncode == 4, proc.stderr
    assert "the package index could not be reached" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "tfsetup.lock").exists()


def test_plan_lists_every_row_of_the_platform_human_and_json():
    """--keras 2 on an M1: the Keras-2 CPU row fits but ranks below Metal; it is listed, with the flag that
    picks it, in the JSON "rejected" and in the human "not chosen" (issue 18, item 8)."""
    host = str(HOSTS / "m1-native-homebrew.json")
    doc = json_out(run_tfsetup("plan", "--host-file", host, "--no-project", "--keras", "2", "--json"))
    rows = {r["recipe"]: r for r in doc["rejected"]}
    assert doc["recipe"] not in rows
    assert sorted([doc["recipe"], *rows]) == sorted(r["id"] for r in json_out(
        run_tfsetup("recipes", "--host-file", host, "--json"))["recipes"] if r["platform"] == "macos-arm64")
    assert rows["macos-arm64-cpu-tf2.21-keras2"]["select"]["flags"] == ["--recipe macos-arm64-cpu-tf2.21-keras2"]
    human = run_tfsetup("plan", "--host-file", host, "--no-project", "--keras", "2")
    assert human.returncode == 0, human.stderr
    assert f"macos-arm64-cpu-tf2.21-keras2: fits too, but {doc['recipe']} is chosen" in \
        " ".join(human.stdout.split())
    assert doc["recipe"] == "macos-arm64-metal-tf2.19-keras2"  # Keras 2 on Metal, not the 2.15 legacy set
