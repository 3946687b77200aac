"""trust.py, fast: which owners and modes are trusted, the one opener for steering files, and the census
of every file read in the package (a new reader of a steering file that bypasses the opener fails here).
"""
from __future__ import annotations

import ast
import os
from pathlib import Path
from typing import Dict, List, Optional, Set, Tuple

import pytest

import tfsetup
from tfsetup.errors import BadInput
from tfsetup.trust import Untrusted, file_reason, private_dir_reason, read_steering, untrusted_reason

OTHER_UID = 54321
needs_root = pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                                reason="handing a file to another user needs root")


def made(tmp_path: Path, mode: int = 0o644, dir_mode: int = 0o755, text: str = 'python = "3.11"\n') -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    path = folder / "tfsetup.toml"
    path.write_text(text)
    path.chmod(mode)
    folder.chmod(dir_mode)
    return path


# -- modes: either write bit alone is enough to refuse -------------------------------------------------

REFUSED_FILE = {0o602: "everyone", 0o646: "everyone", 0o666: "everyone", 0o622: "everyone",
                0o620: "its group", 0o664: "its group"}


@pytest.mark.parametrize("mode", sorted(REFUSED_FILE), ids=lambda m: f"{m:o}")
def test_a_file_others_can_write_is_refused(tmp_path, mode):
    path = made(tmp_path, mode)
    reason = untrusted_reason(path)
    assert reason == f"the file {path} is writable by {REFUSED_FILE[mode]} (mode {mode:o})"
    assert file_reason(path) == reason
    with pytest.raises(Untrusted) as caught:
        read_steering(path)
    assert caught.value.message == f"refusing the project file {path}: {reason}"
    assert caught.value.exit_code == 2 and "chmod go-w" in caught.value.fix_text()


@pytest.mark.parametrize("mode", [0o644, 0o600, 0o444, 0o640, 0o604], ids=lambda m: f"{m:o}")
def test_a_file_only_you_can_write_is_read(tmp_path, mode):
    path = made(tmp_path, mode)
    assert untrusted_reason(path) is None and file_reason(path) is None
    assert read_steering(path) == 'python = "3.11"\n'


@pytest.mark.parametrize("dir_mode", [0o757, 0o775, 0o1777, 0o1775, 0o703], ids=lambda m: f"{m:o}")
def test_a_directory_others_can_write_is_refused_even_sticky(tmp_path, dir_mode):
    """Sticky (like /tmp) stops others replacing the file, not planting one beside it: still refused."""
    path = made(tmp_path, dir_mode=dir_mode)
    with pytest.raises(Untrusted) as caught:
        read_steering(path)
    assert f"the directory {path.parent} is writable by" in caught.value.message


@needs_root
@pytest.mark.parametrize("whose", ["file", "directory"])
def test_another_users_file_or_directory_is_refused(tmp_path, whose):
    path = made(tmp_path)
    os.chown(path if whose == "file" else path.parent, OTHER_UID, OTHER_UID)
    with pytest.raises(Untrusted) as caught:
        read_steering(path)
    assert f"belongs to another user (uid {OTHER_UID})" in caught.value.message


# -- tfsetup's private state dir ---------------------------------------------------------------------

def test_the_private_dir_is_a_real_directory_of_yours_that_nobody_else_writes(tmp_path):
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    assert private_dir_reason(state) is None
    assert private_dir_reason(tmp_path / "missing").startswith("cannot stat it:")
    link = tmp_path / "link"
    link.symlink_to(state)
    assert private_dir_reason(link) == f"{link} is a symbolic link"
    plain = tmp_path / "file"
    plain.write_text("")
    assert private_dir_reason(plain) == f"{plain} is not a directory"
    for mode in (0o720, 0o702, 0o777):
        state.chmod(mode)
        assert private_dir_reason(state) == f"{state} is writable by others (mode {mode:o})", oct(mode)
    state.chmod(0o700)


@needs_root
def test_a_private_dir_of_another_user_is_refused(tmp_path):
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    os.chown(state, OTHER_UID, OTHER_UID)
    assert private_dir_reason(state) == f"{state} belongs to another user (uid {OTHER_UID})"


def test_a_steering_file_that_cannot_be_opened_is_bad_input_naming_it(tmp_path):
    with pytest.raises(BadInput) as caught:
        read_steering(tmp_path / "nowhere" / "tfsetup.toml", "team lock")
    assert caught.value.message == f"cannot read team lock {tmp_path / 'nowhere' / 'tfsetup.toml'}: " \
                                   "No such file or directory"  # the reason, not Python's "[Errno 2] ..."


def test_a_link_is_judged_by_its_target_and_both_directories(tmp_path):
    target = made(tmp_path)
    shared = tmp_path / "shared"
    shared.mkdir()
    link = shared / "tfsetup.toml"
    link.symlink_to(target)
    assert read_steering(link) == 'python = "3.11"\n'
    shared.chmod(0o777)  # anyone could have replaced the link
    with pytest.raises(Untrusted, match="the directory .*shared is writable by everyone"):
        read_steering(link)
    shared.chmod(0o755)
    target.parent.chmod(0o777)  # or the file it points at
    with pytest.raises(Untrusted, match="the directory .*project is writable by everyone"):
        read_steering(link)


def test_a_fifo_or_a_directory_is_bad_input_and_never_blocks(tmp_path):
    fifo = tmp_path / "tfsetup.lock"
    os.mkfifo(fifo, 0o600)
    with pytest.raises(BadInput, match="is not a regular file"):
        read_steering(fifo)  # a blocking open would wait here forever for a writer
    with pytest.raises(BadInput, match="is not a regular file"):
        read_steering(tmp_path)
    with pytest.raises(BadInput, match="cannot read project file"):
        read_steering(tmp_path / "missing.toml")


@needs_root
def test_another_users_file_is_refused_for_its_owner_first_even_when_also_writable(tmp_path):
    """The owner is the first question (a chmod by the user would not make the file theirs)."""
    path = made(tmp_path, mode=0o666)
    os.chown(path, OTHER_UID, OTHER_UID)
    assert untrusted_reason(path) == f"the file {path} belongs to another user (uid {OTHER_UID})"
    state = tmp_path / "state"
    state.mkdir()
    state.chmod(0o777)
    os.chown(state, OTHER_UID, OTHER_UID)
    assert private_dir_reason(state) == f"{state} belongs to another user (uid {OTHER_UID})"


def test_file_reason_names_the_directory_as_a_directory(tmp_path):
    path = made(tmp_path, dir_mode=0o777)
    assert file_reason(path) == f"the directory {path.parent} is writable by everyone (mode 777)"
    path.parent.chmod(0o755)
    shared = tmp_path / "shared"
    shared.mkdir()
    link = shared / "tfsetup.toml"
    link.symlink_to(path)
    path.parent.chmod(0o777)  # the link's directory is fine, its target's is not
    assert file_reason(link) == f"the directory {path.parent} is writable by everyone (mode 777)"


@pytest.mark.skipif(not Path("/proc/self/mem").exists(), reason="needs Linux's /proc")
def test_a_steering_file_that_fails_while_being_read_is_bad_input_naming_it():
    """/proc/self/mem: a regular file of the user's own that opens but fails to read (EIO at address 0)."""
    with pytest.raises(BadInput) as caught:
        read_steering("/proc/self/mem")
    assert caught.value.message == "cannot read project file /proc/self/mem: Input/output error"


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux's /proc")
def test_a_refused_steering_file_leaves_no_descriptor_open(tmp_path):
    fifo = tmp_path / "tfsetup.lock"
    os.mkfifo(fifo, 0o600)
    open_before = sorted(os.listdir("/proc/self/fd"))
    for refused in (made(tmp_path, mode=0o666), fifo):
        with pytest.raises(BadInput):
            read_steering(refused)
    assert sorted(os.listdir("/proc/self/fd")) == open_before


def test_where_there_are_no_owners_and_modes_everything_is_trusted(tmp_path, monkeypatch):
    """Windows (no geteuid, no write bits): the files are read, the state dir accepted, nothing judged."""
    path = made(tmp_path, mode=0o666, dir_mode=0o777)
    state = tmp_path / "state"
    state.mkdir(mode=0o777)
    state.chmod(0o777)
    monkeypatch.delattr(os, "geteuid")
    assert untrusted_reason(path) is None and file_reason(path) is None
    assert private_dir_reason(state) is None
    assert read_steering(path) == 'python = "3.11"\n'


def test_every_steering_reader_refuses_a_world_writable_file(tmp_path):
    """The readers themselves, not just the opener: config, lock, requirements file."""
    from tfsetup.team.config import load_config
    from tfsetup.team.lockfile import read_team_lock

    config = made(tmp_path, text='python = "3.11"\nrequirements = "extra.txt"\n')
    lock = config.parent / "tfsetup.lock"
    lock.write_text('version = 1\ninputs = "x"\nsection = []\n')
    extra = config.parent / "extra.txt"
    extra.write_text("pandas==2.2.3\n")
    assert load_config(config).extra_requirements() == ["pandas==2.2.3"] and read_team_lock(lock).sections == ()
    for path, read in ((config, lambda: load_config(config)), (lock, lambda: read_team_lock(lock)),
                       (extra, lambda: load_config(config).extra_requirements())):
        path.chmod(0o602)
        with pytest.raises(Untrusted) as caught:
            read()
        what = "team lock" if path == lock else "project file"
        assert f"refusing the {what} {path}" in caught.value.message
        path.chmod(0o644)


# -- the census: every file read in the package ---------------------------------------------------------

PACKAGE = Path(tfsetup.__file__).parent
# Calls that read a file (writes, told by their mode or flags, are not listed).
READ_CALLS = {"read_text", "read_bytes", "load_json", "read_private", "read_stream",
              "read_steering", "open_input", "open_binary"}  # the last two: the non-blocking primitives' callers
WRITE_FLAGS = ("O_WRONLY", "O_RDWR", "O_CREAT")

# The readers of steering files (trust.STEERING): each reads only through trust.read_steering.
STEERING_READERS = {
    "team.config:load_config",  # tfsetup.toml / [tool.tfsetup], found upwards or named in an env's record
    "team.config:ProjectConfig.extra_requirements",  # the `requirements` file a config names
    "team.lockfile:read_team_lock",  # tfsetup.lock (install, plan, lock, wheelhouse, doctor via the record)
}
# Every other file read, and why what it reads steers nothing another user could have written.
NOT_STEERING = {
    "trust:read_steering": "the opener itself",
    "inputs:read_bytes": "the bounded primitives: callers are listed here by what they read",
    "inputs:read_text": "the bounded primitives",
    "inputs:load_json": "the bounded primitives",
    "state:read_private": "tfsetup's private state dir (private_dir_reason: yours, 0700, never a link)",
    "env.registry:registered_envs": "the env registry in the private state dir",
    "host.interpreters:ProbeCache.__init__": "the interpreter cache in the private state dir",
    "team.lockfile:materialize": "a lock section tfsetup wrote itself into the private state dir",
    "team.pylock:recorded_digest": "a pylock file tfsetup exports: only its digest is compared with the lock "
                                   "(lock --check says stale or not); tfsetup never installs from it",
    "bytecode:key_file": "the per-user HMAC key in the private state dir (0600, checked owner and mode)",
    "probes.bytecode:read_nofollow": "bytecode cache entries: HMAC-checked before use",
    "probes.bytecode:restore": "env sources, hashed to match a signed cache entry",
    "probes.bytecode:harvest": "env sources tfsetup compiles itself",
    "verify:run_verification": "the probe's report channel: O_EXCL in a private directory",
    "probes.verify_env:main": "the probe's report channel, created O_EXCL by the probe",
    "verify:LineFollower.__call__": "a child's output file tfsetup created",
    "txn:read_journal": "the journal tfsetup writes beside PATH under the path's lock (its identity is txn's)",
    "env.record:read_record": "the env's own record: whoever can write it can write the env's site-packages, "
                          "which every command runs anyway; the files it names are read as steering files",
    "recipes:load_recipes": "the bundled table, or --recipes-file: given on the command line, the user's choice",
    "recipes:read_lock": "a recipe's lock: bundled, or beside the --recipes-file the user named",
    "build:check_lock_hashes": "the plan's lock: a recipe's (above) or a team section materialized privately",
    "build:lock_digest": "the plan's lock, as above",
    "team.project:wheelhouse_locks": "a recipe's lock, as above",
    "host.facts:load_facts_file": "--host-file: given on the command line",
    "commands.explain:read_log": "the log file `explain` is given on the command line",
    "team.config:_has_tool_table": "only decides whether a pyproject is a tfsetup config; obeyed only after "
                                   "load_config reads it through the opener",
    "resolve:_fetch": "an index's HTTP response (hash-checked lock entries), not a file",
    "team.pylock:recipe_sections": "a recipe's lock: bundled, or beside the --recipes-file the user named",
    "inputs:file_sha256": "hashes a downloaded wheel or Python archive to compare with the lock's sha256",
    "managed_python:_read_file": "a Python downloads list a trusted config or a wheelhouse named: uv reads it as "
                                 "is; with a team lock only its url is taken, the lock's sha256 decides",
    "build:relocate_scripts": "the staged env's own scripts",
    "build:broken_scripts": "the env's own scripts",
    "probes.env_facts:wheel_tags": "dist-info of the env, read inside the env's own interpreter",
    "probes.env_facts:read_small": "dist-info of the env, read inside the env's own interpreter",
    "host.linux:detect_linux": "/proc and /etc/os-release",
    "host.runner:SystemRunner.read_text": "/proc and /etc files for host detection",
    "elfcheck.reader:is_elf": "binaries of the env or a fetched wheel, judged (prove/doctor), never obeyed",
    "elfcheck.reader:read_elf": "binaries, as above",
    "macho.reader:is_macho": "binaries, as above",
    "macho.reader:_opened.__enter__": "binaries, as above",
    "macho.dyld:minos_by_file": "a wheel's binaries, as above",
    "inputs:open_input": "the bounded primitives",
    "env.facts:read_pyvenv_cfg": "the env's own pyvenv.cfg, to name its base Python (judged, never run)",
    "child:start_time": "/proc/PID/stat of a child tfsetup started, to know it again in recovery",
    "build:apply_recipe_env": "the staged env's own activate scripts, rewritten (new file + rename)",
    "limits:open_binary": "the binary readers' primitive (non-blocking, regular files only)",
    "env.files:_native": "binaries' headers, judged (arch), never obeyed",
    "env.files:check_distribution": "the env's RECORD files, compared with the files on disk",
    "commands.prove:_interpreter": "pyvenv.cfg of the env being proven: names its platform, judged, never obeyed",
    "commands.prove:_wheel_platforms": "WHEEL files of the env being proven: its platform, judged",
    "macho.startup:startup_rules": "the env's tensorflow/__init__.py, read as text to learn what it loads; never run",
    "prove.fetch:fetching": "the lock or pins being proven, counted for the progress line",
    "prove.fetch:reading": "RECORD files of the tree being proven, counted for the progress line",
    "prove.trees:tree_key": "the lock being proven, hashed into its kept tree's key (uv reads the lock itself)",
    "prove.trees:_hold": "a kept tree's empty marker, opened only to hold a lock on it (never read)",
    "prove.trees:_fetch": "a fresh tree's empty marker, opened only to hold a lock on it (never read)",
    "prove.trees:prune": "a kept tree's empty marker, opened only to try a lock on it (never read)",
    "bincache:_listing": "RECORD files of the tree being proven: name each binary's content for the analysis "
                         "cache key (with its size and mtime), never obeyed",
    "bincache:load_bytes": "binary analyses in the private state dir, checked against their key and sha256",
    "prove.verdicts:record_listing": "RECORD files of the tree being proven: name each file's content for the "
                                     "verdict's key (with its size and mtime), never obeyed",
    "prove.verdicts:source_hash": "tfsetup's own checker source files, hashed into the verdict's key",
}


def _read_kind(call: ast.Call, source: str) -> Optional[str]:
    func = call.func
    name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
    if name == "open":
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "os":
            flags = (ast.get_source_segment(source, call.args[1]) or "") if len(call.args) > 1 else ""
            return None if any(w in flags for w in WRITE_FLAGS) else "os.open"
        mode = call.args[1] if len(call.args) > 1 else next((k.value for k in call.keywords if k.arg == "mode"), None)
        if isinstance(mode, ast.Constant) and any(c in str(mode.value) for c in "wax+"):
            return None
        return "open"
    return name if name in READ_CALLS else None


def census() -> Dict[str, List[Tuple[str, int]]]:
    """{"module:Qual.name": [(read call, line), ...]} for every file read in the installed package."""
    found: Dict[str, List[Tuple[str, int]]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        source = path.read_text(encoding="utf-8")
        scope: List[str] = []

        def visit(node: ast.AST) -> None:
            named = isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            if named:
                scope.append(node.name)  # type: ignore[attr-defined]
            if isinstance(node, ast.Call):
                kind = _read_kind(node, source)
                if kind:
                    found.setdefault(f"{module}:{'.'.join(scope) or '<module>'}", []).append((kind, node.lineno))
            for child in ast.iter_child_nodes(node):
                visit(child)
            if named:
                scope.pop()

        visit(ast.parse(source))
    return found


def test_the_census_finds_reads_it_should():
    """The scanner itself: a steering reader and a plain open are seen (else the test below is empty)."""
    found = census()
    assert ("read_steering", ) == tuple({k for k, _ in found["team.lockfile:read_team_lock"]})
    assert "open" in {k for k, _ in found["team.config:_has_tool_table"]}


def test_every_file_read_is_a_steering_reader_through_the_opener_or_listed_with_its_reason():
    found = census()
    steering: Set[str] = {where for where, calls in found.items() if any(k == "read_steering" for k, _ in calls)}
    assert steering - {"trust:read_steering"} == STEERING_READERS, \
        "read_steering callers changed: list a new steering reader in STEERING_READERS (and trust.STEERING)"
    for where in STEERING_READERS:
        other = [(k, line) for k, line in found[where] if k != "read_steering"]
        assert not other, f"{where} reads a steering file around the opener: {other}"
    unlisted = sorted(set(found) - STEERING_READERS - set(NOT_STEERING))
    assert not unlisted, (
        f"new file reads {[(w, found[w]) for w in unlisted]}: a file that steers tfsetup (trust.STEERING: a "
        "config, a lock, a file a project names) must be read through trust.read_steering; anything else "
        "goes into NOT_STEERING with the reason it cannot steer")
    stale = sorted(set(NOT_STEERING) - set(found))
    assert not stale, f"NOT_STEERING lists readers that no longer read a file: {stale}"
