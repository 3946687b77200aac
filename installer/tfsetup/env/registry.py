"""The registry of the envs tfsetup made: `<state>/envs.json`, read by report and remove."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import List, Sequence

from tfsetup.state import cache_state_dir, read_private, state_dir, write_private


def _registry() -> Path:
    return state_dir() / "envs.json"


def _document(envs: List[str]) -> bytes:
    return json.dumps({"envs": envs}, indent=1).encode("utf-8")


def registered_envs() -> List[str]:
    try:  # bounded, never through a link; a damaged or old one is ignored (and rewritten by the next install)
        doc = json.loads(read_private(_registry(), 8 << 20) or b"{}")
    except (ValueError, RecursionError):
        return []  # no registry yet, or a damaged one: the report still works from explicit paths
    return [p for p in doc.get("envs", []) if isinstance(p, str)] if isinstance(doc, dict) else []


def register_env(path: Path) -> None:
    """Remember an env tfsetup installed (best effort: a read-only state dir must not fail an install)."""
    envs = registered_envs()
    resolved = str(Path(path).resolve())
    if resolved in envs:
        return
    folder = cache_state_dir("")  # None when the state dir is unusable or not private: skipped
    if folder is None:
        return
    try:
        write_private(folder / "envs.json", _document(envs + [resolved]))
    except OSError:
        pass


def unregister_env(paths: Sequence[Path]) -> List[str]:
    """Forget these envs (removed, or gone); returns the entries dropped. Raises OSError when the registry
    cannot be written: unlike register_env, forgetting is what the user asked for."""
    drop = {str(Path(os.path.abspath(p))) for p in paths} | {os.path.realpath(p) for p in paths}
    envs = registered_envs()
    kept = [e for e in envs if e not in drop]
    if len(kept) == len(envs):
        return []
    write_private(_registry(), _document(kept))
    return [e for e in envs if e in drop]
