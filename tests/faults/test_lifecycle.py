"""Issue 14 (items 2, 3, 4, 10): the env lifecycle on real venvs with fake wheels, offline.

A fake TensorFlow that *works* (tiny pure-Python tensors, enough for the verification suite) and a
fake NumPy, locked like a recipe; fake user packages in the same wheelhouse: pandas 2.2.3 (fits
NumPy 2.1.3), pandas 3.0.0 (needs NumPy >= 2.3), oldlib (needs NumPy < 2), tf-breaker (installs,
then the fake TensorFlow refuses to import). Everything else is real: uv, the resolver, the
transaction, the verification probe, the record, the registry.
"""
from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path
from typing import Dict, List

import pytest

from tests.e2e.helpers import env_record, installed_versions, uv
from tests.faults import harness as h

GOOD_TF = '''\
import builtins as _b
import contextlib as _cl
import importlib.metadata as _md

__version__ = "{version}"
if any((d.metadata["Name"] or "").lower() == "tf-breaker" for d in _md.distributions()):
    raise ImportError("tf-breaker is installed: the fake TensorFlow does not import")


class _T:
    def __init__(self, value):
        self.value = value

    def numpy(self):
        return self

    def tolist(self):
        return self.value

    def __int__(self):
        return int(self.value)


def constant(value):
    return _T(value)


def range(n):
    return _T(list(_b.range(n)))


def reduce_sum(t):
    return _T(sum(t.value))


def device(name):
    return _cl.nullcontext()


class linalg:
    @staticmethod
    def matmul(a, b):
        cols = list(zip(*b.value))
        return _T([[float(sum(x * y for x, y in zip(r, c))) for c in cols] for r in a.value])


class config:
    @staticmethod
    def list_physical_devices(kind=None):
        return []


class sysconfig:
    @staticmethod
    def get_build_info():
        return {{"is_cuda_build": False}}


class random:
    @staticmethod
    def set_seed(seed):
        return None


class _History:
    history = {{"loss": [1.0, 0.8, 0.6, 0.4, 0.2]}}


class _Model:
    def __init__(self, layers=None):
        self.layers = layers

    def compile(self, **kw):
        return None

    def fit(self, *a, **kw):
        return _History()


class keras:
    Sequential = _Model
    __version__ = "3.0.0"

    @staticmethod
    def Input(shape=None):
        return None

    class layers:
        @staticmethod
        def Dense(*a, **kw):
            return None

    class optimizers:
        @staticmethod
        def Adam(*a, **kw):
            return None
'''

FAKE_NUMPY = '''\
__version__ = "{version}"


class _A:
    def astype(self, kind):
        return self

    def __matmul__(self, other):
        return self


class _Rng:
    def normal(self, size=None):
        return _A()


class random:
    @staticmethod
    def default_rng(seed=None):
        return _Rng()
'''


class Stack:
    def __init__(self, root: Path) -> None:
        self.wheels = root / "wheels"
        self.table = root / "table" / "recipes.toml"
        self.cache = root / "uv-cache"  # its own: the shared cache may hold the real pandas, which an
        # offline resolution would also consider (this uv has no UV_NO_INDEX)

    def install_args(self, target: Path, *more: str) -> List[str]:
        return ["install", str(target), "--python", h.PY, "--recipes-file", str(self.table), "--offline",
                "--find-links", str(self.wheels), "--yes", *more]

    def env(self) -> Dict[str, str]:
        # add and upgrade have no source flags: uv is pointed at the wheelhouse the way a user's env would
        return {"UV_OFFLINE": "1", "UV_FIND_LINKS": str(self.wheels), "UV_CACHE_DIR": str(self.cache)}


def _tf_wheel(wheels: Path, version: str, numpy: str) -> Path:
    files = {"tensorflow/__init__.py": GOOD_TF.format(version=version).encode(),
             "tfsetup_fault_hello.py": h.HELLO.encode()}
    return h.build_wheel(wheels, h.FAKE_TF, version, files, {"fault-hello": "tfsetup_fault_hello:main"},
                         requires=[f"numpy>={numpy}"])


def _plain(wheels: Path, name: str, version: str, requires=()) -> Path:
    module = name.replace("-", "_")
    return h.build_wheel(wheels, name, version, {f"{module}/__init__.py": f'__version__ = "{version}"\n'.encode()},
                         requires=list(requires))


@pytest.fixture(scope="session")
def stack(tmp_path_factory, traps) -> Stack:
    root = tmp_path_factory.mktemp("lifecycle")
    s = Stack(root)
    numpy1, numpy2 = (h.build_wheel(s.wheels, "numpy", v, {"numpy/__init__.py": FAKE_NUMPY.format(version=v).encode()})
                      for v in ("1.26.4", "2.1.3"))
    tf20 = _tf_wheel(s.wheels, "2.20.0", "1.26")
    tf21 = _tf_wheel(s.wheels, "2.21.0", "1.26")
    _plain(s.wheels, "pandas", "2.2.3", ["numpy>=1.22.4"])
    _plain(s.wheels, "pandas", "3.0.0", ["numpy>=2.3"])
    _plain(s.wheels, "oldlib", "1.0", ["numpy<2"])
    _plain(s.wheels, "tf-breaker", "1.0")
    _plain(s.wheels, "tabulate", "0.9.0")
    s.table.parent.mkdir(parents=True)
    rows = [("fake-tf2.20", "2.20.0", False, [(tf20, "2.20.0"), (numpy1, None)]),
            ("fake-tf2.21", "2.21.0", True, [(tf21, "2.21.0"), (numpy2, None)])]
    text = "schema = 1\n"
    for rid, tf, default, wheels in rows:
        text += h.recipe_row(rid, tf, default, summary=f'"fake TensorFlow {tf} for the lifecycle tests"',
                             sources='["https://example.org/lifecycle"]')
        lock = s.table.parent / "locks" / rid / f"py{h.PY}.txt"
        lock.parent.mkdir(parents=True)
        lines = []
        for wheel, version in wheels:
            name, ver = wheel.name.split("-")[:2]
            lines.append(h.lock_line(wheel, name=name.replace("_", "-"), version=ver))
        lock.write_text("".join(line + "\n" for line in lines))
    s.table.write_text(text)
    return s


@pytest.fixture(scope="session")
def verified_env(tmp_path_factory, stack) -> Path:
    """A verified env of the fake 2.21 stack (numpy 2.1.3), to copy."""
    root = tmp_path_factory.mktemp("verified")
    proc = h.run(*stack.install_args(root / "env", "--json"), cwd=root, env={"TFSETUP_STATE_DIR": str(root / "s")})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["verified"] is True
    return root / "env"


@pytest.fixture
def env21(verified_env, work) -> Path:
    import shutil

    target = work / "env"
    shutil.copytree(verified_env, target, symlinks=True)
    return target


def tfsetup(stack: Stack, *args: str, cwd: Path, **kw) -> subprocess.CompletedProcess:
    return h.run(*args, env=dict(stack.env(), **kw.pop("env", {})), cwd=cwd, **kw)


# ---------------------------------------------------------------------------------------------
# add

def test_add_installs_under_the_lock_quick_verifies_and_records(stack, env21, work):
    before = installed_versions(env21)
    proc = tfsetup(stack, "add", "pandas", "--env", str(env21), "--json", cwd=work)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["added"] == {"pandas": "2.2.3"} and doc["installed"] == ["pandas==2.2.3"]  # 3.0.0 would move numpy
    assert doc["constraints"] == "lock"
    assert [c["id"] for c in doc["verification"]["checks"]] == ["python-arch", "tf-import", "tf-version",
                                                                 "numpy-version", "cpu-ops"]
    after = installed_versions(env21)
    assert after.pop("pandas") == "2.2.3" and after == before  # the stack did not move
    rec = env_record(env21)
    assert rec["user_packages"] == {"pandas": "2.2.3"} and rec["changes"][-1]["command"] == "add"
    assert rec["verification"]["ok"] is True  # still the full verification of install
    assert h.leftovers(work) == []
    again = tfsetup(stack, "add", "pandas", "--env", str(env21), "--json", cwd=work)
    assert again.returncode == 0 and json.loads(again.stdout)["unchanged"] is True


def test_add_refuses_what_would_move_numpy_with_the_nearest_version(stack, env21, work):
    before = h.manifest(env21)
    proc = tfsetup(stack, "add", "pandas==3.0.0", "--env", str(env21), "--json", cwd=work)
    assert proc.returncode == 4, proc.stderr
    line = h.error_line(proc.stderr)
    assert "pandas==3.0.0 would move numpy" in line and "2.1.3" in line, line
    assert "tfsetup add pandas==2.2.3" in proc.stderr  # the nearest version that fits
    doc = json.loads(proc.stdout)
    assert doc["conflicts"][0]["moves"] == ["numpy"] and doc["conflicts"][0]["nearest"] == "2.2.3"
    assert doc["target_unchanged"] is True
    assert h.manifest(env21) == before


def test_add_refuses_a_package_that_needs_numpy_1_and_names_the_conflict(stack, env21, work):
    before = h.manifest(env21)
    proc = tfsetup(stack, "add", "oldlib", "--env", str(env21), cwd=work)
    assert proc.returncode == 4
    line = h.error_line(proc.stderr)
    assert "oldlib" in line and "numpy<2" in line and "numpy 2.1.3" in line, line
    # what it needs is another NumPy: said, and no `tfsetup upgrade` is offered where none has it (this
    # env's table is not the one upgrade plans from)
    assert "fix: numpy<2 conflicts with the env's locked stack (numpy 2.1.3)" in proc.stderr, proc.stderr
    assert h.manifest(env21) == before


def test_add_that_breaks_tensorflow_is_rolled_back_exactly(stack, env21, work):
    before = h.manifest(env21)
    proc = tfsetup(stack, "add", "tf-breaker", "--env", str(env21), "--json", cwd=work)
    assert proc.returncode == 4, proc.stderr
    doc = json.loads(proc.stdout)
    assert "quick verification" in doc["error"] and doc["target_unchanged"] is True
    assert {c["id"] for c in doc["verification"]["checks"] if c["status"] == "fail"} == {"tf-import"}
    assert h.manifest(env21) == before
    assert h.leftovers(work) == []


@pytest.mark.parametrize("what", ["not-tfsetup", "bad-spec"])
def test_add_bad_input_exits_2(stack, work, what):
    from tests.faults.test_doctor_faults import bare_env

    env = bare_env(work / "plain")
    args = ["add", "pandas", "--env", str(env)] if what == "not-tfsetup" else ["add", "pan das!", "--env", str(env)]
    proc = tfsetup(stack, *args, cwd=work)
    assert proc.returncode == 2
    h.error_line(proc.stderr)


# ---------------------------------------------------------------------------------------------
# upgrade

@pytest.mark.slow  # 3.5-6 s: the full run's, not the fast tier's (issue 23)
def test_upgrade_carries_packages_and_lists_the_ones_that_cannot_follow(stack, work):
    env = work / "old env"
    proc = h.run(*stack.install_args(env, "--tf", "2.20"), cwd=work)
    assert proc.returncode == 0, proc.stderr
    for spec in ("pandas", "oldlib"):
        added = tfsetup(stack, "add", spec, "--env", str(env), cwd=work)
        assert added.returncode == 0, added.stderr
    uv("pip", "install", "--quiet", "--python", str(env / "bin" / "python"), "--offline",  # by hand, not by tfsetup
       "--no-index", "--find-links", str(stack.wheels), "tabulate")
    assert installed_versions(env)["numpy"] == "1.26.4"
    proc = tfsetup(stack, "upgrade", str(env), "--yes", "--json", "--recipes-file", str(stack.table), cwd=work)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["upgraded"] is True and doc["recipe"] == "fake-tf2.21"
    assert doc["carried"] == {"pandas": {"from": "2.2.3", "to": "2.2.3"}, "tabulate": {"from": "0.9.0", "to": "0.9.0"}}
    assert [d["package"] for d in doc["dropped"]] == ["oldlib"] and "numpy<2" in doc["dropped"][0]["reason"]
    after = installed_versions(env)
    assert after["numpy"] == "2.1.3" and after["tensorflow-cpu"] == "2.21.0" and after["pandas"] == "2.2.3"
    assert after["tabulate"] == "0.9.0" and "oldlib" not in after
    rec = env_record(env)
    assert rec["recipe"] == "fake-tf2.21" and rec["verification"]["ok"] is True
    assert rec["user_packages"] == {"pandas": "2.2.3", "tabulate": "0.9.0"}
    assert rec["upgraded_from"]["recipe"] == "fake-tf2.20" and "oldlib" in rec["upgraded_from"]["dropped"]
    assert h.python_runs(env) and h.leftovers(work) == []
    again = tfsetup(stack, "upgrade", str(env), "--json", "--recipes-file", str(stack.table), cwd=work)
    assert again.returncode == 0 and json.loads(again.stdout)["up_to_date"] is True


def test_failed_upgrade_leaves_the_old_env_exactly(stack, work):
    env = work / "env"
    assert h.run(*stack.install_args(env, "--tf", "2.20"), cwd=work).returncode == 0
    assert tfsetup(stack, "add", "pandas", "--env", str(env), cwd=work).returncode == 0
    before = h.manifest(env)
    proc = tfsetup(stack, "upgrade", str(env), "--yes", "--json", "--recipes-file", str(stack.table), cwd=work,
                   env={"TFSETUP_TEST_FAIL_VERIFY": "1"})
    assert proc.returncode == 4, proc.stderr
    assert json.loads(proc.stdout)["target_unchanged"] is True
    h.error_line(proc.stderr)
    assert h.manifest(env) == before and h.leftovers(work) == []


def test_upgrade_without_yes_on_a_pipe_refuses(stack, env21, work):
    proc = tfsetup(stack, "upgrade", str(env21), "--tf", "2.20", "--recipes-file", str(stack.table), cwd=work)
    assert proc.returncode == 2 and "--yes" in proc.stderr


def _with_added_packages(stack: Stack, env: Path, work: Path, python: str = "3.10.0") -> None:
    """pandas through `tfsetup add`, tabulate by hand (uv pip), and a record that says the env was made
    with another Python than the one the plan picks now (an env from an older interpreter)."""
    assert tfsetup(stack, "add", "pandas", "--env", str(env), cwd=work).returncode == 0
    uv("pip", "install", "--quiet", "--python", str(env / "bin" / "python"), "--offline",
       "--no-index", "--find-links", str(stack.wheels), "tabulate")
    rec = env_record(env)
    rec["python"]["version"] = python
    (env / "tfsetup-env.json").write_text(json.dumps(rec))


WILL_NOT_CARRY = "your added packages pandas 2.2.3, tabulate 0.9.0 will not be carried over"


@pytest.mark.parametrize("how", ["--force", "--yes"])
@pytest.mark.parametrize("json_out", [True, False])
def test_install_over_an_env_says_what_it_drops_and_the_python_change(stack, env21, work, how, json_out):
    """Issue 18 item 6: with --force or --yes nobody is asked, and still it is said (stderr), and in JSON."""
    _with_added_packages(stack, env21, work)
    args = [a for a in stack.install_args(env21) if a != "--yes"] + [how]
    proc = tfsetup(stack, *args, *(["--json"] if json_out else []), cwd=work)
    assert proc.returncode == 0, proc.stderr
    now = f"3.10.0 -> {h.PY}."
    said = " ".join(proc.stderr.split())
    assert f"warning: {WILL_NOT_CARRY}" in said and f"warning: the env's Python changes: {now}" in said, said
    if json_out:
        replace = json.loads(proc.stdout)["replace"]
        assert [(x["package"], x["version"]) for x in replace["dropped"]] == [("pandas", "2.2.3"), ("tabulate", "0.9.0")]
        assert "`tfsetup upgrade` carries them" in replace["dropped"][0]["reason"]
        assert replace["python"]["from"] == "3.10.0" and replace["python"]["to"].startswith(h.PY + ".")
        assert replace["python"]["changes"] is True
    assert "pandas" not in installed_versions(env21) and "tabulate" not in installed_versions(env21)


def test_install_prompt_names_the_changes_and_a_no_changes_nothing(stack, env21, work):
    """On a terminal without --force/--yes: the question says what goes; N is the user's choice: nothing
    changed, exit 1 (as for upgrade and remove), no error line and no "pass --force" advice."""
    from tests.e2e.terminal import run_in_pty

    _with_added_packages(stack, env21, work)
    before = h.manifest(env21)
    args = [a for a in stack.install_args(env21) if a != "--yes"]
    code, screen = run_in_pty([h.tfsetup_exe(), *args], cols=200, cwd=work, env=dict(h.BASE_ENV, **stack.env()),
                              reply=("Replace it", b"n\n"))
    flat = " ".join(screen.split())
    assert code == 1, screen
    assert WILL_NOT_CARRY in flat and f"the env's Python changes: 3.10.0 -> {h.PY}." in flat
    assert "declined; nothing was changed" in flat
    assert "tfsetup: error" not in flat and "--force" not in flat.split("Replace it")[-1]
    assert h.manifest(env21) == before


@pytest.mark.parametrize("json_out", [True, False])
def test_upgrade_says_when_the_python_changes(stack, env21, work, json_out):
    """upgrade --tf 2.20 from an env the record says is on Python 3.10: no 3.10 lock, so another Python;
    said in the plan it prints (with --yes too) and in JSON."""
    _with_added_packages(stack, env21, work)
    proc = tfsetup(stack, "upgrade", str(env21), "--tf", "2.20", "--yes", *(["--json"] if json_out else []),
                   "--recipes-file", str(stack.table), cwd=work)
    assert proc.returncode == 0, proc.stderr
    if json_out:
        doc = json.loads(proc.stdout)
        assert doc["replace"]["python"]["from"] == "3.10.0" and doc["replace"]["python"]["changes"] is True
        assert doc["replace"]["dropped"] == [] and set(doc["carried"]) == {"pandas", "tabulate"}
    else:
        assert f"Python: 3.10.0 -> {h.PY}." in " ".join(proc.stdout.split()), proc.stdout


# ---------------------------------------------------------------------------------------------
# list, remove, not verified

@pytest.mark.slow  # 3.5-6 s: the full run's, not the fast tier's (issue 23)
def test_no_verify_is_marked_until_verify_passes(stack, work):
    env = work / "quick"
    proc = h.run(*stack.install_args(env, "--no-verify"), cwd=work)
    assert proc.returncode == 0 and "not verified" in proc.stdout and "tfsetup verify" in proc.stdout
    listed = json.loads(h.run("list", "--json", cwd=work).stdout)["envs"]
    assert [(e["path"], e["status"]) for e in listed] == [(str(env.resolve()), "not-verified")]
    doctor = h.run("doctor", str(env), "--json", "--recipes-file", str(stack.table), cwd=work)
    finding = [f for f in json.loads(doctor.stdout)["findings"] if f["id"] == "not-verified"]
    assert finding and finding[0]["severity"] == "warning" and "tfsetup verify" in finding[0]["fix"]
    report = json.loads(h.run("report", "--json", "--recipes-file", str(stack.table), cwd=work).stdout)
    assert report["envs"][0]["status"] == "not-verified" and report["summary"]["not_verified"] == 1
    verify = h.run("verify", str(env), "--json", cwd=work)
    assert verify.returncode == 0, verify.stderr
    assert env_record(env)["verification"]["ok"] is True and env_record(env)["verified_at"]
    listed = json.loads(h.run("list", "--json", cwd=work).stdout)["envs"]
    assert listed[0]["status"] == "ok" and listed[0]["tensorflow"] == "2.21.0" and listed[0]["verified_at"]
    doctor = h.run("doctor", str(env), "--json", "--recipes-file", str(stack.table), cwd=work)
    assert "not-verified" not in [f["id"] for f in json.loads(doctor.stdout)["findings"]]


# Issue 18 items 4, 5, 7: one status everywhere, judged by the fast pass; the command that settles it

SLOW_PTH = "import os, time; time.sleep(float(os.environ.get('FAKE_SLOW_START') or 0))\n"


def statuses(stack: Stack, env: Path, work: Path) -> Dict[str, tuple]:
    """The env's status as list, report and doctor give it: (status, status_reason) each."""
    listed = json.loads(tfsetup(stack, "list", "--json", cwd=work).stdout)["envs"]
    report = json.loads(tfsetup(stack, "report", "--json", "--recipes-file", str(stack.table), cwd=work).stdout)
    doctor = json.loads(tfsetup(stack, "doctor", str(env), "--json", "--recipes-file", str(stack.table),
                                cwd=work).stdout)
    mine = [e for e in listed if e["path"] == str(env.resolve())]
    reported = [e for e in report["envs"] if e["path"] == str(env.resolve())]
    return {"list": (mine[0]["status"], mine[0]["status_reason"]),
            "report": (reported[0]["status"], reported[0]["status_reason"]),
            "doctor": (doctor["status"], doctor["status_reason"])}


def registered(env: Path) -> Path:
    from tfsetup.env.registry import register_env

    register_env(env)  # the copy of a verified env, made by tfsetup: listed like one
    return env


@pytest.mark.slow  # 3.5-6 s: the full run's, not the fast tier's (issue 23)
def test_a_timed_out_verification_is_not_verified_everywhere_and_doctor_fix_settles_it(stack, env21, work):
    env = registered(env21)
    site = next((env / "lib").glob("python*/site-packages"))
    (site / "zz_slow_start.pth").write_text(SLOW_PTH)  # not in any RECORD: a slow machine, not a damage
    timed_out = tfsetup(stack, "verify", str(env), "--timeout", "1", "--json", cwd=work,
                        env={"FAKE_SLOW_START": "3"})
    assert timed_out.returncode == 1
    doc = json.loads(timed_out.stdout)
    assert doc["timed_out"] is True and (doc["status"], doc["status_reason"]) == ("not-verified", "timed out")
    assert env_record(env)["verification"]["timed_out"] is True
    assert set(statuses(stack, env, work).values()) == {("not-verified", "timed out")}  # was "broken" in list
    finding = next(f for f in json.loads(tfsetup(stack, "doctor", str(env), "--json", "--recipes-file",
                                                 str(stack.table), cwd=work).stdout)["findings"]
                   if f["id"] == "not-verified")
    assert "timed out" in finding["message"] and "--timeout 600" in finding["fix"]
    fixed = tfsetup(stack, "doctor", str(env), "--fix", "--yes", "--json", "--recipes-file", str(stack.table), cwd=work)
    assert fixed.returncode == 0, fixed.stderr  # it verifies (it did nothing and exited 1 before)
    doc = json.loads(fixed.stdout)
    assert doc["verified"] is True and doc["verification"]["ok"] is True and doc["status"] == "ok"
    assert env_record(env)["verification"]["ok"] is True
    assert set(statuses(stack, env, work).values()) == {("ok", None)}


def test_never_verified_doctor_fix_verifies_without_asking(stack, work):
    env = work / "quick"
    assert h.run(*stack.install_args(env, "--no-verify"), cwd=work).returncode == 0
    assert set(statuses(stack, env, work).values()) == {("not-verified", "never verified")}
    fixed = tfsetup(stack, "doctor", str(env), "--fix", "--recipes-file", str(stack.table), cwd=work, input="")
    assert fixed.returncode == 0, fixed.stderr  # nothing in the env changes: no --yes needed
    assert "verified" in fixed.stdout and env_record(env)["verification"]["ok"] is True


@pytest.mark.slow  # 3.5-6 s: the full run's, not the fast tier's (issue 23)
def test_a_damaged_env_is_broken_everywhere_and_doctor_fix_repairs_it(stack, env21, work):
    env = registered(env21)
    assert set(statuses(stack, env, work).values()) == {("ok", None)}
    init = next((env / "lib").glob("python*/site-packages")) / "tensorflow" / "__init__.py"
    init.unlink()
    assert set(statuses(stack, env, work).values()) == {("broken", "files-missing")}  # was "ok" in list
    doc = json.loads(tfsetup(stack, "doctor", str(env), "--json", "--recipes-file", str(stack.table), cwd=work).stdout)
    finding = next(f for f in doc["findings"] if f["id"] == "files-missing")
    assert finding["evidence"][0].startswith("tensorflow-cpu 2.21.0: 1 of ") and "tensorflow/__init__.py" in \
        finding["evidence"][0]
    listed = tfsetup(stack, "list", cwd=work)
    assert "broken (files-missing)" in listed.stdout and "tfsetup doctor --fix" in listed.stdout
    fixed = tfsetup(stack, "doctor", str(env), "--fix", "--yes", "--json", "--recipes-file", str(stack.table), cwd=work)
    assert fixed.returncode == 0, fixed.stderr
    assert json.loads(fixed.stdout)["repaired"] is True and init.is_file()
    assert set(statuses(stack, env, work).values()) == {("ok", None)}


@pytest.mark.slow  # 3.5-6 s: the full run's, not the fast tier's (issue 23)
def test_a_failed_verification_advises_what_repairs_it(stack, env21, work):
    """numpy moved under the lock: the fast pass sees nothing (the requirement still holds), verify fails;
    its advice reinstalls the lock and verifies again."""
    env = registered(env21)
    from tfsetup.backends.uv import find_uv

    moved = subprocess.run([find_uv(), "pip", "install", "--python", str(env / "bin" / "python"), "--no-deps",
                            "numpy==1.26.4"], capture_output=True, text=True, env=h.child_env(stack.env()))
    assert moved.returncode == 0, moved.stderr
    failed = tfsetup(stack, "verify", str(env), cwd=work)
    assert failed.returncode == 1 and "numpy-version" in failed.stderr
    assert f"fix: `tfsetup doctor --deep --fix {shlex.quote(str(env))}`" in failed.stderr, failed.stderr
    assert set(statuses(stack, env, work).values()) == {("broken", "its last verification failed")}
    fixed = tfsetup(stack, "doctor", "--deep", "--fix", "--yes", str(env), "--json", "--recipes-file",
                    str(stack.table), cwd=work)
    assert fixed.returncode == 0, fixed.stderr
    assert json.loads(fixed.stdout)["repaired"] is True and installed_versions(env)["numpy"] == "2.1.3"
    assert set(statuses(stack, env, work).values()) == {("ok", None)}


@pytest.mark.slow  # 3.5-6 s: the full run's, not the fast tier's (issue 23)
def test_list_marks_missing_and_prunes_and_remove_deletes_only_tfsetup_envs(stack, work):
    import shutil

    keep, gone = work / "keep", work / "gone"
    for env in (keep, gone):
        assert h.run(*stack.install_args(env, "--no-verify"), cwd=work).returncode == 0
    shutil.rmtree(gone)
    listed = h.run("list", cwd=work)
    assert "missing" in listed.stdout and "--prune" in listed.stdout
    refused = h.run("remove", str(gone), "--yes", cwd=work)
    assert refused.returncode == 2 and "--forget" in refused.stderr
    pruned = json.loads(h.run("list", "--prune", "--json", cwd=work).stdout)
    assert pruned["pruned"] == [str(gone.resolve())] and [e["path"] for e in pruned["envs"]] == [str(keep.resolve())]
    no_yes = h.run("remove", str(keep), cwd=work)
    assert no_yes.returncode == 2 and keep.is_dir() and "--yes" in no_yes.stderr
    removed = h.run("remove", str(keep), "--yes", "--json", cwd=work)
    assert removed.returncode == 0, removed.stderr
    assert json.loads(removed.stdout)["removed"] is True and not keep.exists()
    assert json.loads(h.run("list", "--json", cwd=work).stdout)["envs"] == [] and h.leftovers(work) == []


def test_remove_refuses_other_dirs_the_running_env_and_user_files(stack, env21, work):
    import sys

    plain = work / "plain"
    plain.mkdir()
    (plain / "data.csv").write_text("1,2\n")
    for path in (plain, Path(sys.prefix)):
        proc = h.run("remove", str(path), "--yes", cwd=work)
        assert proc.returncode == 2, proc.stderr
        h.error_line(proc.stderr)
    (env21 / "notes.txt").write_text("mine\n")
    proc = h.run("remove", str(env21), "--yes", cwd=work)
    assert proc.returncode == 2 and "notes.txt" in proc.stderr and env21.is_dir()
    assert (plain / "data.csv").exists()


def test_remove_waits_for_nothing_while_an_install_holds_the_env(stack, env21, work):
    from tfsetup.txn import path_lock

    with path_lock(env21):  # as an install or add in progress holds it
        proc = h.run("remove", str(env21), "--yes", cwd=work)
    assert proc.returncode == 4 and "another tfsetup" in proc.stderr and env21.is_dir()


# ---------------------------------------------------------------------------------------------
# advice that works (issue 18, item 9)

def test_add_takes_the_env_positionally_like_every_other_command(stack, env21, work):
    proc = tfsetup(stack, "add", "tabulate", str(env21), "--json", cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["added"] == {"tabulate": "0.9.0"}
    assert installed_versions(env21)["tabulate"] == "0.9.0"
    alone = tfsetup(stack, "add", str(env21), cwd=work)  # the env, and no package
    assert alone.returncode == 2 and "no package was named" in h.error_line(alone.stderr)
    both = tfsetup(stack, "add", "pandas", "--env", str(env21), cwd=work)  # with --env every argument is a package
    assert both.returncode == 0, both.stderr
    kernel = tfsetup(stack, "add", "pandas", "/proc/self/tf-env", cwd=work)  # the PATH rules of --env apply
    assert kernel.returncode == 2 and "kernel interface" in h.error_line(kernel.stderr)


def test_add_of_a_package_that_does_not_exist_does_not_suggest_upgrade(stack, env21, work):
    proc = tfsetup(stack, "add", "this-package-does-not-exist", str(env21), cwd=work)
    assert proc.returncode == 4, proc.stderr
    assert "upgrade" not in proc.stderr and "check the name" in proc.stderr, proc.stderr


def test_add_of_a_locked_package_never_suggests_the_version_already_there(stack, env21, work):
    proc = tfsetup(stack, "add", "numpy<2", str(env21), "--json", cwd=work)
    assert proc.returncode == 4, proc.stderr
    fix = json.loads(proc.stdout)["fix"]
    assert "numpy==2.1.3" not in fix and "tfsetup add" not in fix, fix
    assert "numpy<2" in fix and "numpy 2.1.3" in fix


FIX_COMMAND = re.compile(r"`(tfsetup [^`]+)`")


def test_every_fix_a_failure_prints_works(stack, env21, work):
    """Each failure below prints a fix with a command; running that command must not fail the same way:
    it succeeds, or is refused for another reason."""
    import shlex

    failures = [("add", "pandas==3.0.0", str(env21)),  # the nearest version that fits
                ("add", str(env21)),  # the env but no package
                ("add", "oldlib", "--env", str(env21))]
    checked = 0
    for args in failures:
        first = tfsetup(stack, *args, "--json", cwd=work)
        assert first.returncode != 0, first.stderr
        doc = json.loads(first.stdout)
        for command in FIX_COMMAND.findall(doc.get("fix") or ""):
            argv = shlex.split(command)[1:]
            then = tfsetup(stack, *argv, "--json", cwd=work)
            assert then.returncode == 0 or json.loads(then.stdout).get("error") != doc["error"], (args, command)
            checked += 1
    assert checked >= 2
