"""The one transaction for changing an env at PATH: `install` (stage, then swap) and `doctor --fix`
(back up, change in place, or stage a rebuild and swap).

Rules, in order: take the path's lock first (nothing at PATH is copied, moved or deleted before);
recover what a killed run left (by its journal); build beside PATH (same filesystem, so moves are
renames); write the journal before the first rename; the rename of the new env onto PATH is the
commit point: before it, any failure or signal puts back exactly what was there; after it, the
outcome is success and the rest (removing the old env) is finished, never undone.

The journal, `.<name>.tfsetup-journal-<key>.json` beside PATH, says which phase a run was in and
which sibling directories belong to it, so a SIGKILL at any point is recovered by the next command
that meets it. Sibling names carry a digest of PATH's whole name: leftovers of one env are never
taken for another's.

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

from tfsetup.envpaths import private_state_dir
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


def write_journal(target: Path, doc: Dict[str, Any]) -> None:
    """Durable before the step it announces: written to a temporary file, synced, renamed."""
    path = journal_path(target)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(dict(doc, target=str(target)), handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def clear_journal(target: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        journal_path(target).unlink()


def _mine(target: Path, value: Any, kind: str) -> Optional[Path]:
    """A path named in the journal, only when it is one of this target's siblings of `kind`."""
    if not isinstance(value, str):
        return None
    path = Path(value)
    if path.parent != target.parent or not path.name.startswith(sibling_prefix(target, kind)):
        return None
    return path


# ---------------------------------------------------------------------------------------------
# one writer per directory

def lock_file_for(target: Path) -> Path:
    """The lock names the directory, not one spelling of it: symlinks, `..` and relative paths to the
    same env share a lock."""
    digest = hashlib.sha256(os.fsencode(os.path.realpath(target))).hexdigest()[:24]
    return private_state_dir("locks") / f"{digest}.lock"


class Busy(TfsetupError):
    def __init__(self, target: Path, owner: str) -> None:
        super().__init__(f"another tfsetup (pid {owner}) is working on {target}; nothing was changed",
                         EXIT_INSTALL_FAILED, fix="wait for it to finish, then run again")


@contextlib.contextmanager
def path_lock(target: Path) -> Iterator[None]:
    """Held for the whole change. The OS drops it when a process dies: never stale."""
    # O_NOFOLLOW: a link planted in the state dir must not make the truncate below hit another file.
    lock_file = lock_file_for(target)
    try:
        fd = os.open(lock_file, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except OSError as exc:
        raise TfsetupError(f"cannot open the lock file {lock_file}: {exc.strerror or exc}", EXIT_BAD_INPUT,
                           fix=f"remove {lock_file} (tfsetup makes a new one), or set TFSETUP_STATE_DIR to a "
                               "private directory") from None
    handle = os.fdopen(fd, "r+")
    try:
        if os.name == "nt":  # pragma: no cover - exercised on Windows
            import msvcrt

            try:
                msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
            except OSError:
                raise Busy(target, "?") from None
        else:
            import fcntl

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


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (and SIGHUP) take the same rollback path as Ctrl-C. The first of them interrupts; the
    ones after it are ignored until the block is left, so a hammered Ctrl-C cannot cut the rollback."""
    if not _main_thread():
        yield
        return

    def handler(signum, frame):  # noqa: ARG001
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)
        raise KeyboardInterrupt(f"signal {signum}")

    previous = {}
    for sig in (signal.SIGINT, getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)):
        if sig is not None:
            previous[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold Ctrl-C, SIGTERM and SIGHUP while a rollback, restore or swap runs; they arrive after it.
    Only renames, copies and deletions run inside: no child inherits the blocked mask."""
    sigs = {s for s in (getattr(signal, n, None) for n in ("SIGINT", "SIGTERM", "SIGHUP")) if s is not None}
    if not hasattr(signal, "pthread_sigmask") or not _main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


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

def recover(target: Path) -> List[str]:
    """Under the lock: finish or undo an interrupted run on PATH, by its journal; drop stray siblings."""
    notes: List[str] = []
    journal = read_journal(target)
    phase = (journal or {}).get("phase")
    if journal is not None:
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


def recover_if_idle(target: Path) -> List[str]:
    """For commands that only read an env: recover leftovers when no other tfsetup holds PATH (a run
    in progress owns its siblings); never fails the command."""
    if not (journal_path(target).exists() or any(siblings(target, k) for k in KINDS)):
        return []
    try:
        with path_lock(target), signals_deferred():
            return recover(target)
    except (TfsetupError, OSError):
        return []


# ---------------------------------------------------------------------------------------------
# the transaction

class Transaction:
    """with Transaction(PATH) as txn: ...  -- lock held, leftovers recovered, signals -> rollback.

    Install: `staging = txn.new_stage()`, build there, then `txn.promote(staging)`.
    Repair in place: `txn.backup()`, change PATH, then `txn.keep()`; an exception restores it.
    Leaving the block without promote/keep rolls back: PATH holds exactly what it held before.
    """

    def __init__(self, target: Path, progress: Progress = _quiet) -> None:
        self.target = Path(os.path.abspath(target))
        self.progress = progress
        self.committed = False
        self.notes: List[str] = []
        self._stage: Optional[Path] = None
        self._backup: Optional[Path] = None
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> "Transaction":
        self._stack.enter_context(path_lock(self.target))
        try:
            self._stack.enter_context(sigterm_as_interrupt())
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

    # -- staging and promotion -------------------------------------------------------------

    def new_stage(self) -> Path:
        self.target.parent.mkdir(parents=True, exist_ok=True)
        self._stage = reserve(self.target, STAGE)
        return self._stage

    def promote(self, staging: Path) -> None:
        """Swap `staging` onto PATH. The rename onto PATH is the commit point; a signal during the
        swap waits for it, and one during the cleanup after it is absorbed: the new env stands."""
        target = self.target
        old: Optional[Path] = None
        with signals_deferred():
            if target.exists() and not target.is_symlink() and any(target.iterdir()):
                old = reserve(target, OLD)
            write_journal(target, {"phase": "swap", "stage": str(staging), "old": str(old) if old else None})
            if old is not None:
                os.rename(target, old)
            elif target.exists():
                os.rmdir(target)  # an empty directory the user made for us
            os.rename(staging, target)
            self.committed = True
            self._stage = None
        try:
            with signals_deferred():  # a signal now waits for the cleanup, then changes nothing
                if old is not None:
                    self.progress("removing the old env ...")
                    shutil.rmtree(old, ignore_errors=True)
                clear_journal(target)
        except KeyboardInterrupt:
            pass  # after the commit point the outcome is success

    # -- in-place changes with a backup -------------------------------------------------------

    def backup(self) -> Path:
        """A complete copy of PATH beside it (hard links: instant, no extra disk)."""
        backup = reserve(self.target, BACKUP)
        write_journal(self.target, {"phase": "backup", "backup": str(backup)})
        try:
            copy_tree(self.target, backup)
        except BaseException:
            with signals_deferred():
                shutil.rmtree(backup, ignore_errors=True)
                clear_journal(self.target)
            raise
        write_journal(self.target, {"phase": "repair", "backup": str(backup)})
        self._backup = backup
        return backup

    def keep(self) -> None:
        """The in-place change verified: drop the backup. A signal now changes nothing."""
        self.committed = True
        try:
            with signals_deferred():
                write_journal(self.target, {"phase": "cleanup"})
                if self._backup is not None:
                    shutil.rmtree(self._backup, ignore_errors=True)
                clear_journal(self.target)
        except KeyboardInterrupt:
            pass

    # -- rollback ------------------------------------------------------------------------------

    def roll_back(self) -> None:
        """Exactly what was there before, and no temporary directories (signals wait until done)."""
        with signals_deferred():
            if self._backup is not None and self._backup.exists():
                self.progress(f"restoring {self.target} from the backup ...")
                write_journal(self.target, {"phase": "restore", "backup": str(self._backup)})
                _swap_back(self.target, self._backup)
            if self._stage is not None and self._stage.exists():
                shutil.rmtree(self._stage, ignore_errors=True)
            clear_journal(self.target)
            self._backup = self._stage = None
