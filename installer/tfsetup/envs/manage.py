"""`tfsetup list` and `tfsetup remove`: the envs tfsetup made on this machine (fleet.py's registry), their
status from their records, and removal of one of them under the path's lock, so it cannot race an
install or a repair of the same env.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from tfsetup.doctor.status import STATUSES, status_of
from tfsetup.env.paths import foreign_files, name_some, resolve_env_path, running_env
from tfsetup.env.registry import registered_envs, unregister_env
from tfsetup.envs import tfsetup_env
from tfsetup.errors import EXIT_BAD_INPUT, TfsetupError
from tfsetup.env.record import read_record, user_packages
from tfsetup.txn import Transaction


def list_entry(path: Path, host: Any, table: Any) -> Dict[str, Any]:
    """One env of the list: path, status (doctor/status.py: ok / not-verified / broken / missing, judged by
    doctor's fast pass and the record) and why, recipe, TF, verified when."""
    status, _, _ = status_of(path, host, table)
    record = read_record(path) or {}
    distribution = record.get("distribution") or "tensorflow"
    return {"path": str(path), "status": status.state, "status_reason": status.reason or None,
            "recipe": record.get("recipe"),
            "distribution": distribution if record else None,
            "tensorflow": (record.get("packages") or {}).get(distribution),
            "verified_at": record.get("verified_at") if (record.get("verification") or {}).get("ok") else None,
            "user_packages": user_packages(record)}


@dataclass
class ListResult:
    envs: List[Dict[str, Any]]
    pruned: List[str] = field(default_factory=list)

    def to_json(self) -> Dict[str, Any]:
        return {"envs": self.envs, "pruned": self.pruned,
                "summary": {status: sum(1 for e in self.envs if e["status"] == status)
                            for status in STATUSES}}


def list_envs(prune: bool, host: Any, table: Any) -> ListResult:
    """The registered envs; with prune, the missing ones are forgotten (and left out)."""
    entries = [list_entry(Path(p), host, table) for p in registered_envs()]
    pruned: List[str] = []
    if prune:
        missing = [Path(e["path"]) for e in entries if e["status"] == "missing"]
        if missing:
            try:
                pruned = unregister_env(missing)
            except OSError as exc:
                raise TfsetupError(f"cannot update the list of envs: {exc.strerror or exc}") from None
        entries = [e for e in entries if e["path"] not in pruned]
    return ListResult(entries, pruned)


@dataclass
class RemoveResult:
    path: Path
    removed: bool
    forgotten: bool
    description: str = ""

    def to_json(self) -> Dict[str, Any]:
        return {"ok": True, "path": str(self.path), "removed": self.removed, "forgotten": self.forgotten,
                "env": self.description or None}


def forget_env(path: Path) -> RemoveResult:
    """Only drop PATH from the list (an env that is gone, or one tfsetup should stop reporting)."""
    target = Path(os.path.abspath(os.path.expanduser(str(path))))
    try:
        dropped = unregister_env([target])
    except OSError as exc:
        raise TfsetupError(f"cannot update the list of envs: {exc.strerror or exc}") from None
    if not dropped:
        raise TfsetupError(f"{target} is not in tfsetup's list of envs", EXIT_BAD_INPUT,
                           fix="`tfsetup list` shows the envs tfsetup knows")
    return RemoveResult(target, False, True)


def remove_env(path: Path, confirm: Optional[Callable[[str], bool]]) -> RemoveResult:
    """Delete a tfsetup env and forget it. Only envs tfsetup made (record + pyvenv.cfg), never the env
    tfsetup runs from, never a directory that also holds the user's files. `confirm` None: not asked
    (no terminal and no --yes) -> bad input."""
    # Resolved once, as the kernel does (`x/link/../env` is the env beside the link's target); a link as
    # the last component is refused, not followed: deleting through it would leave it dangling.
    target = resolve_env_path(path, follow=False)
    if not target.exists() and not target.is_symlink() and str(target) in registered_envs():
        raise TfsetupError(f"{target} does not exist (it was removed outside tfsetup)", EXIT_BAD_INPUT,
                           fix=f"forget it: `tfsetup remove --forget {target}` (or `tfsetup list --prune`)")
    if target.is_symlink():
        raise TfsetupError(f"{target} is a symlink; give the env's own path", EXIT_BAD_INPUT,
                           fix=f"`tfsetup remove {os.path.realpath(target)}`")
    opened = tfsetup_env(target)
    env = opened.path
    foreign = foreign_files(env)
    if foreign:
        raise TfsetupError(f"{env} also holds files that are not part of the env ({name_some(foreign)}); "
                           "refusing to delete them", EXIT_BAD_INPUT, fix="move those files out of the env first")
    description = opened.describe()
    if confirm is None:
        raise TfsetupError(f"removing {env} needs confirmation and stdin is not a terminal", EXIT_BAD_INPUT,
                           fix="pass --yes to remove it without asking")
    if not confirm(f"Remove {env}{' (' + description + ')' if description else ''} and everything in it?"):
        return RemoveResult(env, False, False, description)
    # The lock: an install, add, upgrade or repair of this env waits for nothing, it is refused. The
    # rename aside is the commit point: from it on, a signal changes nothing and the env is forgotten.
    with Transaction(env) as txn:
        if Path(os.path.realpath(env)) == running_env() or not env.is_dir():
            raise TfsetupError(f"{env} changed while waiting; nothing was removed", EXIT_BAD_INPUT)
        txn.discard()
        try:
            unregister_env([env])
        except OSError:
            pass  # the env is gone; a stale entry shows as missing in `tfsetup list`
    return RemoveResult(env, True, True, description)
