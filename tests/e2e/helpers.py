"""Run the installed `tfsetup` command as a user would, and take manifests of directories."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional

PY = f"{sys.version_info[0]}.{sys.version_info[1]}"


def tfsetup_exe() -> str:
    exe = Path(sys.executable).parent / "tfsetup"
    return str(exe) if exe.exists() else (shutil.which("tfsetup") or "tfsetup")


def run_tfsetup(*args: str, env: Optional[Dict[str, str]] = None, cwd: Optional[Path] = None,
                timeout: float = 900, input: Optional[str] = None) -> subprocess.CompletedProcess:
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([tfsetup_exe(), *args], capture_output=True, text=True, env=full_env,
                          cwd=cwd, timeout=timeout, input=input)


def json_out(proc: subprocess.CompletedProcess) -> dict:
    assert proc.stdout.strip(), f"no JSON on stdout; stderr:\n{proc.stderr}"
    return json.loads(proc.stdout)


def manifest(root: Path) -> Dict[str, str]:
    """Every path under root with its content hash (or link target), mode and owner, to prove 'exactly
    as before'."""
    result = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            path = Path(dirpath) / name
            rel = str(path.relative_to(root))
            st = os.lstat(path)
            meta = f" {oct(st.st_mode)} {st.st_uid}:{st.st_gid}"
            if path.is_symlink():
                result[rel] = "link:" + os.readlink(path)
            elif path.is_file():
                result[rel] = hashlib.sha256(path.read_bytes()).hexdigest() + meta
            else:
                result[rel] = "dir" + meta
    return result


def leftovers(parent: Path) -> List[str]:
    return sorted(p.name for p in parent.iterdir() if ".tfsetup-" in p.name)
