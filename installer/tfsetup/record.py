"""The env record, `tfsetup-env.json` at an env's root: what tfsetup built there, from which lock, on
which host, and what the verification found. Built by install and doctor, read by every command that
looks at an env (verify, doctor, fleet report, list)."""
from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Optional

from tfsetup import __version__

if TYPE_CHECKING:  # pragma: no cover
    from tfsetup.host.facts import HostFacts
    from tfsetup.plan import Plan
    from tfsetup.verify import VerifyResult

RECORD_FILE = "tfsetup-env.json"
RECORD_SCHEMA = 1
MAX_RECORD_BYTES = 1 << 20  # a record is a few KB; anything bigger is not one of ours


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def host_summary(facts: "HostFacts") -> Dict[str, Any]:
    return {"os": facts.os, "os_version": facts.os_version, "machine": facts.machine, "cpu": facts.cpu,
            "rosetta": facts.rosetta, "gpus": [g.name for g in facts.gpus]}


def verification_summary(verification: Optional["VerifyResult"]) -> Optional[Dict[str, Any]]:
    if verification is None:
        return None
    return {"ok": verification.ok, "timed_out": bool(getattr(verification, "timed_out", False)),
            "seconds": round(float(getattr(verification, "seconds", 0.0) or 0.0), 1),
            "checks": [{"id": c.id, "status": c.status, "message": c.message} for c in verification.checks]}


def build_record(plan: "Plan", facts: "HostFacts", backend: str, lock_digest: str, lock_name: str,
                 verification: Optional["VerifyResult"], started_at: str) -> Dict[str, Any]:
    return {
        "schema": RECORD_SCHEMA,
        "tfsetup": __version__,
        "recipe": plan.recipe.id,
        "accelerator": plan.recipe.accelerator,
        "distribution": plan.recipe.distribution,
        "packages": plan.packages,
        "keras": plan.recipe.keras,
        "env": dict(plan.recipe.env),
        "lock": {"name": lock_name, "digest": lock_digest, "python_platform": plan.recipe.python_platform,
                 "pins": dict(sorted(plan.lock.pins.items()))},  # what `add` and `upgrade` keep in place
        "python": {"base": plan.python.executable, "version": plan.python.version, "launch": plan.launch},
        "backend": backend,
        "host": host_summary(facts),
        "created_at": started_at,
        "verified_at": now_iso() if verification else None,
        "verification": verification_summary(verification),
        "repairs": [],
    }


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


def with_verification(record: Dict[str, Any], verification: "VerifyResult") -> Dict[str, Any]:
    """A copy of the record that says what `tfsetup verify` found just now (clears "not verified")."""
    updated = dict(record)
    updated["verification"] = verification_summary(verification)
    updated["verified_at"] = now_iso()
    return updated


def describe(record: Optional[Dict[str, Any]]) -> str:
    """"linux-x86_64-cpu-tf2.15 (tensorflow-cpu 2.15.1)": what the record says the env holds."""
    record = record or {}
    distribution = record.get("distribution") or "tensorflow"
    version = (record.get("packages") or {}).get(distribution)
    recipe = record.get("recipe")
    if not recipe:
        return ""
    return f"{recipe} ({distribution} {version})" if version else str(recipe)


def replace_question(target: Any, kind: str, record: Optional[Dict[str, Any]], new: str = "") -> str:
    """install's "replace?" question: old -> new, and the user's packages the new env will not have."""
    old = describe(record)
    change = f" ({old} -> {new})" if old and new else ""
    users = user_packages(record)
    dropped = (f"; its added packages {', '.join(f'{k} {v}' for k, v in users.items())} will not be carried "
               "over (`tfsetup upgrade` carries them)") if users else ""
    return f"{target} is an existing {kind}{change}{dropped}. Replace it (it stays intact until the new env " \
           "has verified)?"
