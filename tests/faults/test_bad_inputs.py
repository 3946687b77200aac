"""Issue 7.5: malformed inputs and awkward targets. Each gives one clear error line with the right exit
code (DESIGN §4: 2 usage/bad input, 3 no compatible recipe, 4 install failed), no traceback, and
touches no file of the user's (a manifest of the whole work directory is taken before and after)."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.faults import harness as h
from tests.faults.harness import python_runs

GOOD_FACTS = {"schema": 1, "os": "linux", "os_version": "debian-12", "machine": "x86_64", "cpu": "x",
              "rosetta": False, "cpu_flags": ["avx", "avx2"], "gpus": [],
              "pythons": [{"executable": "/usr/bin/python3.11", "version": "3.11.7", "implementation": "cpython",
                           "archs": ["x86_64"], "source": "system"}]}


def facts(**change) -> str:
    doc = dict(GOOD_FACTS)
    doc.update(change)
    return json.dumps(doc)


def expect_error(proc, code: int, *needles: str) -> str:
    assert proc.returncode == code, f"exit {proc.returncode}, wanted {code}\n{proc.stdout}\n{proc.stderr}"
    line = h.error_line(proc.stderr)
    for needle in needles:
        assert needle in line, line
    return line


def table_text(fake) -> str:
    return fake.table.read_text()


def lock_text(fake) -> str:
    return (fake.table.parent / "locks" / "faults-fake-tf" / f"py{h.PY}.txt").read_text()


# -- recipes file and its locks, through `tfsetup install` ---------------------------------------------

RECIPES_CASES = {
    "truncated": (lambda t: t[: len(t) // 2], "not valid TOML"),
    "empty": (lambda t: "", "missing key 'schema'"),
    "wrong type: pythons": (lambda t: t.replace(f'pythons = ["{h.PY}"]', f'pythons = "{h.PY}"'), "'pythons' must be"),
    "wrong type: schema": (lambda t: t.replace("schema = 1", 'schema = "1"'), "'schema' must be 1"),
    "wrong type: default": (lambda t: t.replace("default = true", 'default = "yes"'), "'default' must be bool"),
    "unknown key in a recipe": (lambda t: t + 'colour = "red"\n', "unknown key(s) colour"),
    "unknown top-level table": (lambda t: "[extras]\nx = 1\n" + t, "unknown key(s) extras"),
}
LOCK_CASES = {
    "no hash at all": (lambda t: t.split(" \\")[0] + "\n", 2, "lock has no hashes"),
    "one package without a hash": (lambda t: t + "numpy==2.1.3\n", 2, "numpy==2.1.3: no --hash"),
    "an option line": (lambda t: "--index-url http://evil.example/simple\n" + t, 2, "not a pinned requirement"),
    "not pinned": (lambda t: t.replace("==2.21.0", ">=2.0"), 2, "not a pinned requirement"),
    "truncated inside the hash": (lambda t: t[: t.index("sha256:") + 20] + "\n", 2, "sha256"),
    "a weak hash (md5)": (lambda t: t.replace("sha256:", "md5:")[: t.index("sha256:") + 36] + "\n", 2,
                          "malformed hash 'md5:"),
}


def copy_table(fake, directory: Path, table: str = None, lock: str = None) -> Path:
    directory.mkdir()
    (directory / "recipes.toml").write_text(table if table is not None else table_text(fake))
    lock_dir = directory / "locks" / "faults-fake-tf"
    lock_dir.mkdir(parents=True)
    (lock_dir / f"py{h.PY}.txt").write_text(lock if lock is not None else lock_text(fake))
    return directory / "recipes.toml"


def install_with(fake, work: Path, recipes: Path, target_name: str = "env") -> tuple:
    target = work / target_name
    args = ["install", str(target), "--python", h.PY, "--recipes-file", str(recipes), "--offline",
            "--find-links", str(fake.wheels), "--yes", "--no-verify"]
    return h.run(*args, cwd=work), target


@pytest.mark.parametrize("case", list(RECIPES_CASES))
def test_malformed_recipes_file(fake, work, case):
    change, needle = RECIPES_CASES[case]
    recipes = copy_table(fake, work / "my table", table=change(table_text(fake)))
    before = h.manifest(work)
    proc, target = install_with(fake, work, recipes)
    expect_error(proc, 2, needle)
    assert not target.exists() and h.manifest(work) == before


def test_recipes_file_not_utf8_missing_or_a_directory(fake, work):
    binary = work / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00schema = 1\n")
    before = h.manifest(work)
    expect_error(install_with(fake, work, binary)[0], 2, "not valid TOML")
    expect_error(install_with(fake, work, work / "missing.toml")[0], 2, "cannot read recipes file")
    proc, _ = install_with(fake, work, work)  # a directory: the argument parser refuses it
    assert proc.returncode == 2 and "is a directory" in proc.stderr and "Traceback" not in proc.stderr
    assert h.manifest(work) == before and not (work / "env").exists()


@pytest.mark.parametrize("case", list(LOCK_CASES))
def test_malformed_lock_file(fake, work, case):
    change, code, needle = LOCK_CASES[case]
    recipes = copy_table(fake, work / "my table", lock=change(lock_text(fake)))
    before = h.manifest(work)
    proc, target = install_with(fake, work, recipes)
    expect_error(proc, code, needle)
    assert not target.exists() and h.manifest(work) == before


# -- host facts, through `tfsetup plan --host-file` --------------------------------------------------

HOST_CASES = {
    "truncated": (facts()[:40], "not valid JSON"),
    "a list, not an object": ("[]", "must be a JSON object"),
    "wrong type: rosetta": (facts(rosetta="no"), "'rosetta' must be bool"),
    "wrong type: pythons": (facts(pythons="3.11"), "'pythons' must be list"),
    "wrong type: schema": (facts(schema="1"), "'schema' must be int"),
    "wrong type inside cpu_cores": (facts(cpu_cores={"performance": "many"}), "not a valid host-facts file"),
    "wrong type inside a python": (facts(pythons=[{"executable": 3, "version": "3.11.7", "archs": []}]),
                                   "'executable' must be str"),
    "unknown os": (facts(os="plan9"), "'os' must be one of"),
}


@pytest.mark.parametrize("case", list(HOST_CASES))
def test_malformed_host_facts(work, case):
    text, needle = HOST_CASES[case]
    path = work / "host facts.json"
    path.write_text(text)
    proc = h.run("plan", "--host-file", str(path), "--json", cwd=work)
    expect_error(proc, 2, needle)
    assert json.loads(proc.stdout)["exit_code"] == 2


def test_host_facts_not_utf8_or_missing(work):
    path = work / "binary.json"
    path.write_bytes(b'{"schema": 1, "os": "\xff"}')
    expect_error(h.run("plan", "--host-file", str(path), cwd=work), 2, str(path))
    expect_error(h.run("plan", "--host-file", str(work / "nope.json"), cwd=work), 2, "cannot read host file")


def test_unknown_keys_in_host_facts_are_ignored_on_purpose(work):
    """Host facts are an interface that is extended, never renamed (DESIGN §4): a document from a newer
    `tfsetup detect` with more keys still plans, and the plan is the same."""
    plain, extended = work / "plain.json", work / "extended.json"
    plain.write_text(facts())
    extended.write_text(facts(npu={"vendor": "future"}, colour="red"))
    a = h.run("plan", "--host-file", str(plain), "--json", cwd=work)
    b = h.run("plan", "--host-file", str(extended), "--json", cwd=work)
    assert a.returncode == b.returncode == 0, a.stderr + b.stderr
    assert json.loads(a.stdout) == json.loads(b.stdout)


# -- project config and team lock, through `tfsetup install` in the project ---------------------------

CONFIG_CASES = {
    "tfsetup.toml truncated": ("tfsetup.toml", 'python = "3.1', "not valid TOML"),
    "tfsetup.toml wrong type": ("tfsetup.toml", "python = 3.11\n", "python"),
    "tfsetup.toml unknown key": ("tfsetup.toml", 'pyhton = "3.11"\n', "pyhton"),
    "pyproject [tool.tfsetup] wrong type": ("pyproject.toml", '[tool.tfsetup]\ncpu-only = "yes"\n', "cpu-only"),
    "tfsetup.lock truncated": ("tfsetup.lock", "version = 1\ninputs = \"abc\"\n[[section]]\nplatform = \"lin",
                               "not valid TOML"),
    "tfsetup.lock wrong type": ("tfsetup.lock", 'version = "1"\ninputs = "abc"\n', "'version' must be"),
    "tfsetup.lock unknown key": ("tfsetup.lock", 'version = 1\ninputs = "abc"\nsection = []\ncolour = 1\n',
                                 "unknown key 'colour'"),
}


@pytest.mark.parametrize("case", list(CONFIG_CASES))
def test_malformed_project_config_or_team_lock(fake, work, case):
    name, text, needle = CONFIG_CASES[case]
    project = work / "my project"
    project.mkdir()
    if name == "tfsetup.lock":
        (project / "tfsetup.toml").write_text(f'python = "{h.PY}"\n')
    (project / name).write_text(text)
    (project / "train.py").write_text("print('the user's code')\n")
    before = h.manifest(work)
    proc = h.run("install", "--python", h.PY, "--recipes-file", str(fake.table), "--offline", "--find-links",
                 str(fake.wheels), "--yes", "--no-verify", cwd=project)
    expect_error(proc, 2, needle)
    assert h.manifest(work) == before


# -- the request -------------------------------------------------------------------------------------

REQUEST_CASES = {
    "unknown TF version": (["--tf", "9.99"], 2, "no recipe for TensorFlow 9.99"),
    "malformed TF version": (["--tf", "two"], 2, "--tf must look like"),
    "unknown recipe id": (["--recipe", "no-such-recipe"], 2, "unknown recipe 'no-such-recipe'"),
    "malformed Python": (["--python", "3.x"], 2, "--python must look like"),
    "unknown backend": (["--backend", "conda"], 2, "unknown backend 'conda'"),
    "unknown accelerator": (["--accelerator", "quantum"], 2, "unknown accelerator 'quantum'"),
    "no Python for the recipe": (["--python", "3.99"], 3, "no recipe fits"),
}


@pytest.mark.parametrize("case", list(REQUEST_CASES))
def test_bad_request(fake, work, case):
    args, code, needle = REQUEST_CASES[case]
    target = work / "env"
    base = ["install", str(target), "--recipes-file", str(fake.table), "--offline", "--find-links", str(fake.wheels),
            "--yes", "--no-verify"]
    if "--python" not in args:
        base += ["--python", h.PY]
    expect_error(h.run(*base, *args, cwd=work), code, needle)
    assert not target.exists() and list(work.iterdir()) == []


# -- the target --------------------------------------------------------------------------------------

def test_target_that_is_a_file_or_inside_a_file(fake, work):
    afile = work / "notes.txt"
    afile.write_text("mine")
    before = h.manifest(work)
    expect_error(h.run(*fake.install_args(afile), cwd=work), 2, "is a file, not an environment")
    expect_error(h.run(*fake.install_args(afile / "env"), cwd=work), 2, "notes.txt is a file, not a directory")
    dangling = work / "link"
    dangling.symlink_to(work / "gone")
    expect_error(h.run(*fake.install_args(dangling), cwd=work), 2, "dangling symlink")
    assert h.manifest(work) == dict(before, link="link:" + str(work / "gone"))


def test_non_venv_directory_with_user_files_is_refused(fake, work):
    project = work / "thesis"
    (project / "chapters").mkdir(parents=True)
    (project / "thesis.tex").write_text("precious")
    (project / "chapters" / "one.tex").write_text("also precious")
    before = h.manifest(work)
    for extra in ([], ["--force"]):
        line = expect_error(h.run(*fake.install_args(project, *extra), cwd=work), 2)
        assert "not a virtual environment" in line
    assert h.manifest(work) == before


@pytest.fixture
def unwritable(work):
    """A directory this process cannot write in: read-only tmpfs as root (root ignores modes), else 0555."""
    path = work / "read only"
    path.mkdir()
    if os.geteuid() == 0:
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tfsetup-faults", str(path)],
                              capture_output=True)
        if proc.returncode != 0:
            pytest.skip(f"cannot mount a read-only tmpfs here: {proc.stderr.decode().strip()}")
        yield path
        subprocess.run(["umount", str(path)], check=True)
    else:
        path.chmod(0o555)
        yield path
        path.chmod(0o755)


def test_unwritable_directory(fake, unwritable):
    proc = h.run(*fake.install_args(unwritable / "env", "--json"), cwd=unwritable.parent)
    expect_error(proc, 2, "permission denied")
    assert json.loads(proc.stdout)["exit_code"] == 2 and list(unwritable.iterdir()) == []
    assert "sudo" not in proc.stdout + proc.stderr  # the fix offered is another path, never privileges


def test_spaces_and_non_ascii_work_where_valid(fake, work):
    target = work / "envs for Zoë" / "tf 2.21 — ünïcode"
    proc = h.run(*fake.install_args(target, "--no-verify", "--json"), cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert python_runs(target)
    activate = subprocess.run(["bash", "-c", 'source "$1/bin/activate" && command -v fault-hello && fault-hello',
                               "_", str(target)], capture_output=True, text=True)
    assert activate.returncode == 0, activate.stderr
    assert activate.stdout.splitlines() == [str(target / "bin" / "fault-hello"), str(target)]
    assert h.leftovers(target.parent) == []
