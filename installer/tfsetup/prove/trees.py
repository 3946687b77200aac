"""Fetched trees kept between proofs (issue 22: proofs in a second). uv links ~10,000 files into a tree
to prove and deleting them took longer than the proof; a tree is kept instead, in the state dir's
`prove-trees/<key>/site-packages`, for the next proof of the same inputs.

The key is a sha256 of all that decides a tree's content: the target platform, the Python, uv's
--python-platform and its environment (the macOS wheels are picked for), the lock's sha256 or the
sorted exact pins, and the source (index, extra indexes, find-links, offline; a local find-links
folder's mtime too). A tree is fetched into a temporary sibling and renamed into place only once
complete, with its marker file written last: a tree without one is never used, and is removed.
At most KEEP trees are kept, the ones used longest ago (the marker's mtime: a use touches it) going
first. uv hard-links the files from its cache, so a kept tree costs little disk when the state dir
and uv's cache share a filesystem (a full copy, ~1 GB per TensorFlow, when they do not)."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, Optional, Sequence, Tuple

from tfsetup.backends.base import PackageSource

KEEP = 3
MARKER = "complete"
SITE = "site-packages"
_STALE_S = 3600.0  # a temporary sibling this old is a crashed fetch's, not a running one's


def tree_key(platform: str, python: str, target: Tuple[str, Dict[str, str]], lock: Optional[Path],
             pins: Sequence[str], source: PackageSource) -> str:
    """The key of the tree these inputs fetch (never shared between different inputs)."""
    if lock is not None:
        with open(lock, "rb") as handle:
            wanted: object = {"lock": hashlib.sha256(handle.read()).hexdigest()}
    else:
        wanted = {"pins": sorted(pins)}
    uv_platform, env = target
    links = []
    for link in source.find_links:
        try:
            links.append([link, os.stat(link).st_mtime_ns])  # a local wheelhouse: its content may change
        except OSError:
            links.append([link, None])  # a URL
    doc = {"platform": platform, "python": python, "uv_platform": uv_platform, "env": sorted(env.items()),
           "wanted": wanted, "index": source.index_url, "extra": list(source.extra_index_urls),
           "find_links": links, "offline": source.offline}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def kept(root: Path, key: str) -> Optional[Path]:
    """The kept tree for `key` (its use recorded), or None; one without its marker is removed."""
    tree = root / key
    if not tree.is_dir():
        return None
    try:
        os.utime(tree / MARKER)
    except OSError:
        _remove(root, tree)
        return None
    return tree / SITE


def fetch_kept(root: Path, key: str, fill: Callable[[Path], None]) -> Path:
    """Fetch with `fill(site)` into a temporary sibling, mark it complete, move it into place, prune."""
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".tmp-{key[:16]}-"))
    try:
        fill(tmp / SITE)
        (tmp / MARKER).write_bytes(b"")
        try:
            os.rename(tmp, root / key)
        except OSError:  # another proof of the same inputs put its tree there first
            if kept(root, key) is None:
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    prune(root)
    return root / key / SITE


def prune(root: Path, keep: int = KEEP) -> None:
    """Keep the `keep` trees used last; remove the others and crashed fetches' leftovers. A proof still
    reading a tree removed here by another (a fourth set of inputs proven at the same time) may see
    files vanish and report them missing: rare, and not guarded; a rerun fetches a fresh tree."""
    trees = []
    for entry in root.iterdir():
        if entry.name.startswith("."):
            try:
                if time.time() - entry.stat().st_mtime > _STALE_S:
                    shutil.rmtree(entry, ignore_errors=True)
            except OSError:
                pass
            continue
        try:
            trees.append(((entry / MARKER).stat().st_mtime, entry))
        except OSError:
            _remove(root, entry)
    trees.sort(reverse=True)
    for _, tree in trees[keep:]:
        _remove(root, tree)


def _remove(root: Path, tree: Path) -> None:
    """Out of the way first (a rename), so no proof takes a half-deleted tree for a kept one."""
    trash = Path(tempfile.mkdtemp(dir=root, prefix=".trash-"))
    try:
        os.rename(tree, trash / "tree")
    except OSError:
        pass
    shutil.rmtree(trash, ignore_errors=True)
