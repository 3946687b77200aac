"""Fleet inventory: one JSON document per machine (host facts, the envs tfsetup manages, doctor findings).

tfsetup remembers the envs it installed in `<state>/envs.json`; envs given on the command line or
the current project's env are added. An MDM or CI job collects `tfsetup report --json`.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Sequence

from tfsetup import __version__
from tfsetup.doctor.status import status_of
from tfsetup.env.paths import is_venv
from tfsetup.env.registry import registered_envs
from tfsetup.env.record import read_record

REPORT_SCHEMA = 1


def env_entry(path: Path, host: Any, table: Any, registered: bool = False) -> Dict[str, Any]:
    """What the fleet needs to know about one env; never raises for a broken or missing env."""
    status, env, findings = status_of(path, host, table)  # the one vocabulary (doctor/status.py)
    entry: Dict[str, Any] = {"path": str(path), "exists": path.is_dir(), "venv": is_venv(path),
                             "registered": registered,  # installed by tfsetup on this machine
                             "status": status.state, "status_reason": status.reason or None}
    if not entry["exists"]:
        return entry
    record = read_record(path) or {}
    verification = record.get("verification") or {}
    entry.update({
        "recipe": record.get("recipe"),
        "packages": record.get("packages"),
        "tfsetup_version": record.get("tfsetup"),
        "installed_at": record.get("created_at"),
        "repairs": len(record.get("repairs") or []),
        "last_verification": {"ok": verification.get("ok"), "timed_out": verification.get("timed_out"),
                              "at": record.get("verified_at")} if verification else None,
        "user_packages": record.get("user_packages") or {},
    })
    entry["findings"] = [f.to_json() for f in findings]
    if env is not None:
        entry["tensorflow"] = {d.key: d.version for d in env.tf_distributions()}
    else:
        entry["error"] = status.reason
    return entry


def build_report(paths: Sequence[Path], host: Any, table: Any, generated_at: str) -> Dict[str, Any]:
    seen: List[Path] = []
    registered = [Path(os.path.abspath(p)) for p in registered_envs()]
    for path in list(paths) + registered:
        resolved = Path(os.path.abspath(path))
        if resolved not in seen:
            seen.append(resolved)
    envs = [env_entry(p, host, table, p in registered) for p in seen]
    problems = sum(1 for e in envs for f in e.get("findings", []) if f.get("severity") == "error")
    return {"schema": REPORT_SCHEMA, "generated_at": generated_at, "tfsetup_version": __version__,
            "host": host.to_json(), "envs": envs,
            "summary": {"envs": len(envs), "missing": sum(1 for e in envs if not e["exists"]),
                        "not_verified": sum(1 for e in envs if e["status"] == "not-verified"),
                        "errors": problems}}
