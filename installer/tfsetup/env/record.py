"""The env record, `tfsetup-env.json` at an env's root: what tfsetup built there, from which lock, on
which host, and what the verification found. Here: reading and writing it, and what it says (accessors).
Built by build.py (install, upgrade, doctor); read by every command that looks at an env (verify,
doctor, fleet report, list)."""
from __future__ import annotations

import datetime as _dt
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

RECORD_FILE = "tfsetup-env.json"
RECORD_SCHEMA = 1
MAX_RECORD_BYTES = 1 << 20  # a record is a few KB; anything bigger is not one of ours


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def write_record(env: Path, record: Dict[str, Any]) -> None:
    """Atomic: a reader sees the old record or the new one, never half of one."""
    tmp = env / (RECORD_FILE + ".tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, env / RECORD_FILE)


def read_record(env: Path) -> Optional[Dict[str, Any]]:
    """The env's record, or None when there is none or it is unreadable (never raises)."""
    try:
        path = env / RECORD_FILE
        if path.stat().st_size > MAX_RECORD_BYTES or not path.is_file():  # a link to /dev/zero has size 0
            return None
        with open(path, "rb") as handle:
            doc = json.loads(handle.read(MAX_RECORD_BYTES + 1).decode("utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    return doc if isinstance(doc, dict) else None


def is_verified(record: Optional[Dict[str, Any]]) -> bool:
    return bool(record) and (record.get("verification") or {}).get("ok") is True


def verification_state(record: Optional[Dict[str, Any]]) -> str:
    """"ok" (the last verification passed), "failed" (it failed), "timed-out" (it was stopped at its
    deadline: a slow machine, not a broken env) or "not-verified" (never ran: --no-verify)."""
    verification = (record or {}).get("verification") or {}
    if verification.get("ok") is True:
        return "ok"
    if verification.get("ok") is False:
        return "timed-out" if verification.get("timed_out") is True else "failed"
    return "not-verified"


def lock_pins(record: Optional[Dict[str, Any]]) -> Dict[str, str]:
    """The exact versions the env's lock installed (records written before they were kept: {})."""
    pins = ((record or {}).get("lock") or {}).get("pins")
    return {str(k): str(v) for k, v in pins.items()} if isinstance(pins, dict) else {}


def user_packages(record: Optional[Dict[str, Any]]) -> Dict[str, str]:
    """The packages the user added with `tfsetup add` (name -> version), carried by `tfsetup upgrade`."""
    found = (record or {}).get("user_packages")
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def with_user_packages(record: Dict[str, Any], versions: Dict[str, str], replace: bool = False) -> Dict[str, Any]:
    """A copy of the record with these user packages added (or, with replace, exactly these)."""
    updated = dict(record)
    merged = {} if replace else user_packages(record)
    merged.update(versions)
    updated["user_packages"] = dict(sorted(merged.items()))
    return updated


def describe(record: Optional[Dict[str, Any]]) -> str:
    """"linux-x86_64-cpu-tf2.15 (tensorflow-cpu 2.15.1)": what the record says the env holds."""
    record = record if isinstance(record, dict) else {}
    distribution = record.get("distribution") or "tensorflow"
    packages = record.get("packages")
    version = packages.get(distribution) if isinstance(packages, dict) else None  # a damaged record: no version
    recipe = record.get("recipe")
    if not recipe:
        return ""
    return f"{recipe} ({distribution} {version})" if version else str(recipe)


# ---------------------------------------------------------------------------------------------
# what a replace drops or changes: the one answer for install --force, upgrade and doctor's rebuild

NOT_CARRIED_BY_INSTALL = "install builds from the lock only; `tfsetup upgrade` carries them"


@dataclass(frozen=True)
class Dropped:
    name: str
    version: str
    reason: str

    def to_json(self) -> Dict[str, str]:
        return {"package": self.name, "version": self.version, "reason": self.reason}


@dataclass(frozen=True)
class ReplaceChanges:
    dropped: Tuple[Dropped, ...]  # the user's packages the new env will not have
    python_from: Optional[str]  # the old env's Python version ("3.12.4"); None when it cannot be known
    python_to: str
    unknown: Optional[str] = None  # why the hand-installed packages could not be listed (a broken env)

    @property
    def python_changes(self) -> bool:
        return bool(self.python_from) and self.python_from != self.python_to

    @property
    def anything(self) -> bool:
        return bool(self.dropped) or self.python_changes or self.unknown is not None

    def lines(self) -> List[str]:
        """One line per kind of change, in words (the question, the warning before the swap)."""
        lines = []
        by_reason: Dict[str, List[str]] = {}
        for d in self.dropped:
            by_reason.setdefault(d.reason, []).append(f"{d.name} {d.version}")
        for reason, names in by_reason.items():
            lines.append(f"your added packages {', '.join(names)} will not be carried over ({reason})")
        if self.unknown:
            lines.append(f"packages installed by hand could not be listed ({self.unknown}); they will not be "
                         "carried over")
        if self.python_changes:
            lines.append(f"the env's Python changes: {self.python_from} -> {self.python_to}")
        return lines

    def to_json(self) -> Dict[str, Any]:
        return {"dropped": [d.to_json() for d in self.dropped],
                "python": {"from": self.python_from, "to": self.python_to, "changes": self.python_changes},
                "unlisted": self.unknown}


def replace_changes(record: Optional[Dict[str, Any]], python_to: str, new_pins: Mapping[str, str],
                    added: Mapping[str, str] = {}, python_now: Optional[str] = None, carried: Iterable[str] = (),
                    reasons: Optional[Mapping[str, str]] = None, default_reason: str = NOT_CARRIED_BY_INSTALL,
                    unlisted: Optional[str] = None) -> ReplaceChanges:
    """What replacing an env (its record, if any) by one on Python `python_to` from a lock of `new_pins`
    drops and changes. `added`: the env's top-level packages outside its lock (pip/uv by hand), besides
    those the record keeps (`tfsetup add`); `python_now`: the env's Python when the record does not say;
    `carried`: what the command takes along; `reasons`: why each other one cannot follow (else
    `default_reason`); `unlisted`: why the env's packages could not be listed (its Python does not run)."""
    found = {k: v for k, v in user_packages(record).items() if k not in new_pins}
    for name, version in added.items():
        if name not in new_pins:
            found.setdefault(name, version)
    python_from = str(((record or {}).get("python") or {}).get("version") or "") or python_now
    taken = set(carried)
    why = dict(reasons or {})
    dropped = tuple(Dropped(name, version, why.get(name, default_reason))
                    for name, version in sorted(found.items()) if name not in taken)
    return ReplaceChanges(dropped, python_from or None, python_to, unlisted)
