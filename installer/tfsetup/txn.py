"""The one transaction for changing an env at PATH: `install`/`upgrade`/doctor's rebuild (stage, then
swap), `doctor --fix`/`add` (back up, change in place) and `remove` (rename aside, delete).

Rules, in order: resolve PATH once, as the kernel does (env.paths.resolve_env_path), and key everything
on that directory, never on a spelling; take the path's lock first (nothing at PATH is copied, moved
or deleted before); stop the children a killed run left, then recover what it left (by its journal);
build beside PATH (same filesystem, so moves are renames); write the journal before the first
rename. Each change has one commit point (the rename onto PATH, the journal's "cleanup", the rename
aside): before it, any failure or signal stops every child and puts back exactly what was there;
from it on, signals are absorbed and the rest (removing the old env) is finished, never undone.

The journal, `.<name>.tfsetup-journal-<key>.json` beside PATH, says which phase a run was in, which
sibling directories (by name) belong to it and which children (pid, start time) it has running, so a
SIGKILL at any point is recovered by the next command that meets it. Sibling names carry a digest of
PATH's whole name: leftovers of one env are never taken for another's.

Over 400 lines because the lock, the journal, the recovery and the swap are one protocol: each step
is only safe given the others, so they are read together.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional

from tfsetup import child
from tfsetup.child import held_signals, pause_point
from tfsetup.env.paths import dir_identity, resolve_env_path
from tfsetup.state import private_state_dir
from tfsetup.errors import EXIT_BAD_INPUT, EXIT_INSTALL_FAILED, TfsetupError

STAGE = "stage"
OLD = "old"
BACKUP = "backup"
FAILED = "failed"
KINDS = (STAGE, OLD, BACKUP, FAILED)

Progress = Callable[[str], None]


def _quiet(message: str) -> None:  # noqa: ARG001
    return None


# ---------------------------------------------------------------------------------------------
# names beside PATH

def _key(target: Path) -> str:
    return hashlib.sha256(os.fsencode(target.name)).hexdigest()[:10]


def _short(target: Path) -> str:
    # Any valid name (up to 255 bytes) leaves room for the tag, the key and mkdtemp's suffix.
    return os.fsdecode(os.fsencode(target.name)[:100])


def sibling_prefix(target: Path, kind: str) -> str:
    return f".{_short(target)}.tfsetup-{kind}-{_key(target)}-"


def journal_path(target: Path) -> Path:
    return target.parent / f".{_short(target)}.tfsetup-journal-{_key(target)}.json"


def siblings(target: Path, kind: str) -> List[Path]:
    """The directories of `kind` that runs on exactly this PATH left beside it."""
    prefix = sibling_prefix(target, kind)
    try:
        return sorted(p for p in target.parent.iterdir() if p.name.startswith(prefix))
    except OSError:
        return []


def reserve(target: Path, kind: str) -> Path:
    """A unique sibling name, reserved then freed: the caller (or an engine) creates the directory."""
    with signals_deferred():
        path = Path(tempfile.mkdtemp(prefix=sibling_prefix(target, kind), dir=target.parent))
        os.rmdir(path)
    return path


# ---------------------------------------------------------------------------------------------
# the journal

def read_journal(target: Path) -> Optional[Dict[str, Any]]:
    try:
        with open(journal_path(target), "rb") as handle:  # bounded: a journal is a few hundred bytes
            doc = json.loads(handle.read(1 << 20).decode("utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    return doc if isinstance(doc, dict) else None


def _tmp_journal(target: Path) -> Path:
    path = journal_path(target)
    return path.with_name(path.name + ".tmp")


def write_journal(target: Path, doc: Dict[str, Any]) -> None:
    """Durable before the step it announces: written to a temporary file, synced, renamed. Signals wait
    for it (a half-written temporary is never left by a Ctrl-C); what a SIGKILL leaves, recover() drops."""
    path, tmp = journal_path(target), _tmp_journal(target)
    with held_signals():
        try:
            with open(tmp, "w", encoding="utf-8") as handle:
                json.dump(dict(doc, target=str(target)), handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise


def clear_journal(target: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        journal_path(target).unlink()


def _mine(target: Path, value: Any, kind: str) -> Optional[Path]:
    """A sibling named in the journal, only when it is one of this target's siblings of `kind`. The
    journal names siblings by name; an older journal's full path counts when its directory is PATH's
    parent by identity (device and inode), whatever its spelling."""
    if not isinstance(value, str) or not value:
        return None
    name = os.path.basename(value)
    if os.sep in value or (os.altsep and os.altsep in value):
        try:
            if not os.path.samefile(os.path.dirname(value), target.parent):
                return None
        except OSError:
            return None
    if not name.startswith(sibling_prefix(target, kind)):
        return None
    return target.parent / name


# ---------------------------------------------------------------------------------------------
# one writer per directory

def lock_file_for(target: Path) -> Path:
    """The lock names the directory, not one spelling of it: symlinks, `..` and relative paths to the
    same env share a lock (its parent's device and inode, and its name)."""
    digest = hashlib.sha256(dir_identity(resolve_env_path(target)).encode()).hexdigest()[:24]
    return private_state_dir("locks") / f"{digest}.lock"


def legacy_lock_file_for(target: Path) -> Path:
    """The lock older tfsetups take (the digest of the real path): held too, so an older and a newer
    tfsetup on one env still exclude each other."""
    digest = hashlib.sha256(os.fsencode(os.path.realpath(target))).hexdigest()[:24]
    return private_state_dir("locks") / f"{digest}.lock"


class Busy(TfsetupError):
    def __init__(self, target: Path, owner: str) -> None:
        super().__init__(f"another tfsetup (pid {owner}) is working on {target}; nothing was changed",
                         EXIT_INSTALL_FAILED, fix="wait for it to finish, then run again")


@contextlib.contextmanager
def path_lock(target: Path) -> Iterator[None]:
    """Held for the whole change. The OS drops it when a process dies: never stale."""
    with contextlib.ExitStack() as stack:
        for lock_file in dict.fromkeys([legacy_lock_file_for(target), lock_file_for(target)]):
            stack.enter_context(_flock(target, lock_file))
        yield


@contextlib.contextmanager
def _flock(target: Path, lock_file: Path) -> Iterator[None]:
    # O_NOFOLLOW: a link planted in the state dir must not make the truncate below hit another file.
    try:
        fd = os.open(lock_file, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except OSError as exc:
        raise TfsetupError(f"cannot open the lock file {lock_file}: {exc.strerror or exc}", EXIT_BAD_INPUT,
                           fix=f"remove {lock_file} (tfsetup makes a new one), or set TFSETUP_STATE_DIR to a "
                               "private directory") from None
    handle = os.fdopen(fd, "r+")
    try:
        if os.name == "nt":  # pragma: no cover - exercised on Windows
            import msvcrt  # lazy: only on Windows

            try:
                msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
            except OSError:
                raise Busy(target, "?") from None
        else:
            import fcntl  # lazy: not on Windows

            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.seek(0)
                raise Busy(target, handle.read().strip() or "?") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        handle.close()


# ---------------------------------------------------------------------------------------------
# signals

def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _absorb_pending() -> List[int]:
    """Take the held signals that are pending off the queue (they changed nothing: the command has
    already committed). Only while they are held, so sigwait returns at once."""
    taken: List[int] = []
    if not hasattr(signal, "sigpending") or not _main_thread():
        return taken
    for sig in sorted(set(signal.sigpending()) & set(child.HELD)):
        signal.sigwait([sig])
        taken.append(sig)
    return taken


@contextlib.contextmanager
def signal_handlers(handler: Callable[[int, Any], None], absorb: Callable[[], bool] = lambda: False
                    ) -> Iterator[None]:
    """`handler` for SIGINT, SIGTERM and SIGHUP inside the block; the previous handlers come back when it
    is left, whatever happens: installed and restored with the signals held, so none can arrive half-way
    through and leave one handler changed (a leaked SIG_IGN would make the next Ctrl-C do nothing).
    `absorb()` true when the block is left: signals still pending are dropped instead of delivered."""
    if not _main_thread():
        yield
        return
    previous: Dict[int, Any] = {}
    with held_signals():
        for sig in child.HELD:
            previous[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        with held_signals():
            if absorb():
                _absorb_pending()
            for sig, old in previous.items():
                signal.signal(sig, old if old is not None else signal.SIG_DFL)


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (and SIGHUP) take the same rollback path as Ctrl-C. The first of them interrupts; the
    ones after it are ignored until the block is left, so a hammered Ctrl-C cannot cut the rollback."""
    seen: List[int] = []

    def handler(signum: int, frame: Any) -> None:  # noqa: ARG001
        if not seen:
            seen.append(signum)
            raise KeyboardInterrupt(f"signal {signum}")

    with signal_handlers(handler):
        yield


@contextlib.contextmanager
def signals_deferred(absorb: bool = False) -> Iterator[None]:
    """Hold Ctrl-C, SIGTERM and SIGHUP while a rollback, restore or swap runs; they arrive after it (or,
    with `absorb`, are dropped). Only renames, copies and deletions run inside; a child started inside
    gets a fresh mask (child.spawn)."""
    with held_signals():
        try:
            yield
        finally:
            if absorb:
                _absorb_pending()


# ---------------------------------------------------------------------------------------------
# backups that keep every byte, mode and owner

def _link_or_copy(source: str, destination: str) -> None:
    """A hard link, so a 1.5 GB env is backed up in a moment and without the disk space. Safe because
    the repair engines never write into an existing file (they unlink and recreate; pip's uninstall
    renames; tfsetup writes its record by rename). A filesystem without hard links gets a copy."""
    try:
        os.link(source, destination)
    except OSError:
        shutil.copy2(source, destination)


def _copy_owners(source: Path, destination: Path) -> None:
    """copytree makes the directories (and copied files) as the running user: as root on another
    user's env they would become root's. Give every entry its source's owner back."""
    if not hasattr(os, "lchown") or os.geteuid() != 0:  # only root can create entries for others
        return
    for root, dirs, files in os.walk(source):
        rel = os.path.relpath(root, source)
        for name in [""] + dirs + files:
            src = os.path.join(root, name) if name else root
            dst = os.path.normpath(os.path.join(destination, rel, name))
            st = os.lstat(src)
            with contextlib.suppress(OSError):
                if os.lstat(dst).st_uid != st.st_uid or os.lstat(dst).st_gid != st.st_gid:
                    os.lchown(dst, st.st_uid, st.st_gid)


def copy_tree(source: Path, destination: Path) -> None:
    shutil.copytree(source, destination, symlinks=True, copy_function=_link_or_copy)
    shutil.copystat(source, destination)
    _copy_owners(source, destination)


def _swap_back(target: Path, saved: Path) -> None:
    """Put `saved` at PATH; whatever is at PATH now goes aside first and is then deleted."""
    failed = None
    if target.exists() or target.is_symlink():
        failed = reserve(target, FAILED)
        os.rename(target, failed)
    os.rename(saved, target)
    if failed is not None:
        shutil.rmtree(failed, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# recovery of what a killed run left

class OrphanRunning(TfsetupError):
    def __init__(self, target: Path, pid: int) -> None:
        super().__init__(f"a process (pid {pid}) started by an interrupted tfsetup is still changing {target} "
                         "and could not be stopped; nothing was changed", EXIT_INSTALL_FAILED,
                         fix=f"stop process {pid}, then run the command again")


def _stop_orphans(target: Path, journal: Dict[str, Any]) -> None:
    """Children a killed tfsetup left running in PATH (named in its journal by pid and start time):
    stopped before anything is restored, or the orphan would change the restored env."""
    for entry in journal.get("children") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("pid"), int) or entry["pid"] <= 1:
            continue
        if not child.stop_orphan(entry["pid"], str(entry.get("start") or "")):
            raise OrphanRunning(target, entry["pid"])


def recover(target: Path) -> List[str]:
    """Under the lock: finish or undo an interrupted run on PATH, by its journal; drop stray siblings."""
    notes: List[str] = []
    journal = read_journal(target)
    phase = (journal or {}).get("phase")
    if journal is not None:
        _stop_orphans(target, journal)
        stage = _mine(target, journal.get("stage"), STAGE)
        old = _mine(target, journal.get("old"), OLD)
        backup = _mine(target, journal.get("backup"), BACKUP)
        if phase == "swap":  # killed between the renames of a promotion
            if stage is not None and not stage.exists() and target.exists():
                notes.append(f"completed an interrupted swap: the new env stays at {target}")
            elif old is not None and old.exists():
                if target.exists():
                    shutil.rmtree(target, ignore_errors=True)
                os.rename(old, target)
                notes.append(f"restored {target} from an interrupted run")
        elif phase in ("repair", "restore") and backup is not None and backup.exists():
            _swap_back(target, backup)
            notes.append(f"restored {target} from the backup of an interrupted repair")
        clear_journal(target)
    with contextlib.suppress(FileNotFoundError):  # a journal write a SIGKILL cut short
        _tmp_journal(target).unlink()
    for kind in (STAGE, FAILED, BACKUP, OLD):
        for path in siblings(target, kind):
            if kind == OLD and not target.exists():
                os.rename(path, target)
                notes.append(f"restored {target} from an interrupted run")
                continue
            shutil.rmtree(path, ignore_errors=True)
            if kind == STAGE:
                notes.append(f"removed a staging directory left by an interrupted run ({path.name})")
            elif kind == BACKUP and phase not in ("repair", "restore"):
                notes.append(f"removed the backup of a finished repair ({path.name})")
    return notes


def needs_recovery(target: Path) -> bool:
    return journal_path(target).exists() or _tmp_journal(target).exists() or any(siblings(target, k) for k in KINDS)


def recover_if_idle(target: Path) -> List[str]:
    """For commands that only read an env: recover leftovers when no other tfsetup holds PATH (a run
    in progress owns its siblings); never fails the command."""
    target = resolve_env_path(target)
    if not needs_recovery(target):
        return []
    try:
        with path_lock(target), signals_deferred():
            return recover(target)
    except (TfsetupError, OSError):
        return []


# ---------------------------------------------------------------------------------------------
# the transaction

# The envs this process has committed a change to: a Ctrl-C after a command's transaction must not be
# reported as "left as it was" (cli.py reads it).
COMMITTED: List[Path] = []


@contextlib.contextmanager
def _past_commit() -> Iterator[None]:
    """The cleanup after a commit point: an interrupt here (the transaction's handler absorbs signals, but
    not off the main thread) stops the cleanup, never the command; recover() finishes it next time."""
    try:
        yield
    except KeyboardInterrupt:
        pass


class Transaction:
    """with Transaction(PATH) as txn: ...  -- lock held, leftovers recovered, signals -> rollback.

    Install: `staging = txn.new_stage()`, build there, then `txn.promote(staging)`.
    Repair in place: `txn.backup()`, change PATH, then `txn.keep()`; an exception restores it.
    Remove: `txn.discard()`.
    Leaving the block without promote/keep/discard rolls back: PATH holds exactly what it held before,
    and no child it started is still running.

    PATH is resolved once (env.paths.resolve_env_path): every spelling of one env is one transaction.
    A signal before the commit point interrupts (rollback, exit 130); from the commit point on, signals
    are absorbed until the block is left: the command finishes and reports what is on disk.
    """

    def __init__(self, target: Path, progress: Progress = _quiet) -> None:
        self.target = resolve_env_path(target)
        self.progress = progress
        self.committed = False
        self.late_signals: List[int] = []
        self.notes: List[str] = []
        self._stage: Optional[Path] = None
        self._backup: Optional[Path] = None
        self._backup_complete = False
        self._interrupted = False
        self._doc: Dict[str, Any] = {}
        self._children: Dict[int, str] = {}
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> "Transaction":
        self.target.parent.mkdir(parents=True, exist_ok=True)  # the lock keys on the parent's identity
        self._stack.enter_context(path_lock(self.target))
        try:
            self._stack.enter_context(signal_handlers(self._on_signal, absorb=lambda: self.committed))
            child.add_listener(self._on_child)
            self._stack.callback(child.remove_listener, self._on_child)
            with signals_deferred():
                self.notes = recover(self.target)
            for note in self.notes:
                self.progress(note)
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            if not self.committed:
                self.roll_back()
        finally:
            self._stack.close()

    def _on_signal(self, signum: int, frame: Any) -> None:  # noqa: ARG002
        if self.committed:  # past the commit point: the command finishes and reports success
            self.late_signals.append(signum)
            return
        if self._interrupted:  # one interrupt: a hammered Ctrl-C cannot cut the rollback
            return
        self._interrupted = True
        raise KeyboardInterrupt(f"signal {signum}")

    # -- the journal, with the children running in PATH ------------------------------------------

    def _write(self, doc: Dict[str, Any]) -> None:
        self._doc = dict(doc)
        children = [{"pid": pid, "start": started} for pid, started in sorted(self._children.items())]
        write_journal(self.target, dict(doc, children=children))

    def _on_child(self, event: str, pid: int, started: str) -> None:
        """child.spawn/stop: the journal names every child running for this transaction (pid and start
        time), written before the child is let go, so the next command can stop an orphan."""
        if event == "start":
            self._children[pid] = started
        elif self._children.pop(pid, None) is None:
            return
        if self.committed:
            return
        try:
            self._write(self._doc or {"phase": "build"})
        except OSError:  # a full disk: the child will fail too; on Linux PDEATHSIG still bounds its life
            pass

    # -- staging and promotion -------------------------------------------------------------

    def new_stage(self) -> Path:
        self.target.parent.mkdir(parents=True, exist_ok=True)
        self._stage = reserve(self.target, STAGE)
        return self._stage

    def promote(self, staging: Path, replace_check: Optional[Callable[[Path], None]] = None) -> None:
        """Swap `staging` onto PATH. The rename onto PATH is the commit point: signals during the swap wait
        for it, then change nothing; the old env is deleted after it and the command succeeds.
        `replace_check(PATH)`, run here under the lock just before the swap, may refuse it (raise)."""
        target = self.target
        child.stop_all()  # nothing started for the build may still write into it
        if replace_check is not None and target.exists():
            replace_check(target)
        old: Optional[Path] = None
        with signals_deferred():
            if target.exists() and not target.is_symlink() and any(target.iterdir()):
                old = reserve(target, OLD)
            self._write({"phase": "swap", "stage": staging.name, "old": old.name if old else None})
            pause_point("swap-before-renames")
            if old is not None:
                os.rename(target, old)
            elif target.exists():
                os.rmdir(target)  # an empty directory the user made for us
            pause_point("swap-between-renames")
            os.rename(staging, target)
            self._commit()
            self._stage = None
            pause_point("swap-committed")
        with _past_commit():  # signals are absorbed from here on
            if old is not None:
                self.progress("removing the old env ...")
                shutil.rmtree(old, ignore_errors=True)
            clear_journal(target)

    def _commit(self) -> None:
        self.committed = True
        COMMITTED.append(self.target)

    def discard(self) -> None:
        """Delete PATH: it leaves in one rename (the commit point; a killed run's rest is deleted by the
        next command on PATH), then the deletion, which signals no longer interrupt."""
        child.stop_all()
        with signals_deferred():
            aside = reserve(self.target, FAILED)
            pause_point("discard-before-rename")
            os.rename(self.target, aside)
            self._commit()
            pause_point("discard-committed")
        with _past_commit():
            shutil.rmtree(aside, ignore_errors=True)

    # -- in-place changes with a backup -------------------------------------------------------

    def backup(self) -> Path:
        """A complete copy of PATH beside it (hard links: instant, no extra disk). Interrupted, the partial
        copy is dropped by the rollback (or by the next command, from the journal)."""
        backup = reserve(self.target, BACKUP)
        with signals_deferred():
            self._backup, self._backup_complete = backup, False
            self._write({"phase": "backup", "backup": backup.name})
        copy_tree(self.target, backup)
        pause_point("backup-copied")
        with signals_deferred():
            self._write({"phase": "repair", "backup": backup.name})
            self._backup_complete = True
        return backup

    def keep(self) -> None:
        """The in-place change verified: the journal's "cleanup" is the commit point; then the backup goes."""
        child.stop_all()
        with signals_deferred():
            self._write({"phase": "cleanup"})
            self._commit()
        with _past_commit():
            if self._backup is not None:
                shutil.rmtree(self._backup, ignore_errors=True)
            clear_journal(self.target)

    # -- rollback ------------------------------------------------------------------------------

    def roll_back(self) -> None:
        """Exactly what was there before, no child still running, no temporary directories (signals
        wait until done)."""
        with signals_deferred():
            child.stop_all()  # first: an engine still running would change the restored env
            if self._backup is not None and self._backup.exists():
                if self._backup_complete:
                    self.progress(f"restoring {self.target} from the backup ...")
                    self._write({"phase": "restore", "backup": self._backup.name})
                    _swap_back(self.target, self._backup)
                else:  # interrupted while copying: PATH was not touched yet
                    shutil.rmtree(self._backup, ignore_errors=True)
            if self._stage is not None and self._stage.exists():
                shutil.rmtree(self._stage, ignore_errors=True)
            clear_journal(self.target)
            self._backup = self._stage = None
