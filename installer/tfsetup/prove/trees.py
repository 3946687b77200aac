"""Fetched trees kept between proofs (issue 22: proofs in a second). uv links ~10,000 files into a tree
to prove and deleting them took longer than the proof; a tree is kept instead, in the state dir's
`prove-trees/<key>/site-packages`, for the next proof of the same inputs.

The key is a sha256 of all that decides a tree's content: the target platform, the Python, uv's
--python-platform and its environment (the macOS wheels are picked for), the lock's sha256 or the
sorted exact pins, and the source (index, extra indexes, find-links, offline; a local find-links
folder's mtime too). A tree is fetched into a temporary sibling and renamed into place only once
complete, with its marker file written last: a tree without one is never used, and is removed.
At most KEEP trees are kept, the ones used longest ago (the marker's mtime: a use touches it) going
first, but never one a proof is reading: a proof holds a shared lock on its tree's marker while it
reads the tree, and pruning removes only a tree whose marker it can lock exclusively (two proofs at
once, or the release watch's, would otherwise see files vanish and call them missing). On Windows
there is no such lock; a file in use cannot be deleted there anyway. uv hard-links the files from its cache, so a kept tree costs little disk when the state dir
and uv's cache share a filesystem (a full copy, ~1 GB per TensorFlow, when they do not)."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import IO, Callable, Dict, Iterator, Optional, Sequence, Tuple

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


@contextlib.contextmanager
def held_tree(root: Path, key: str, fill: Callable[[Path], None]) -> Iterator[Tuple[Path, bool]]:
    """(site-packages, reused) of the tree for `key`, fetched with `fill(site)` when none is kept, and held
    (a shared lock on its marker) until the block ends: no prune removes it meanwhile."""
    handle = _hold(root / key)
    reused = handle is not None
    if handle is None:
        handle = _fetch(root, key, fill)
        prune(root)
    try:
        os.utime(root / key / MARKER)  # a use: pruning goes by the marker's mtime
        yield root / key / SITE, reused
    finally:
        handle.close()


def _hold(tree: Path) -> Optional[IO[bytes]]:
    """The marker of a complete kept tree, opened and share-locked; None when there is none (a tree
    without its marker is removed). Checked again once locked: a prune may have moved it away between."""
    try:
        handle = open(tree / MARKER, "rb")
    except OSError:
        if tree.is_dir():
            _remove(tree.parent, tree)
        return None
    _lock(handle, exclusive=False)
    try:
        same = os.path.samestat(os.fstat(handle.fileno()), os.stat(tree / MARKER))
    except OSError:
        same = False
    if not same:
        handle.close()
        return None
    return handle


def _fetch(root: Path, key: str, fill: Callable[[Path], None]) -> IO[bytes]:
    """Fetch into a temporary sibling, write the marker last, lock it, and move the tree into place."""
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".tmp-{key[:16]}-"))
    handle: Optional[IO[bytes]] = None
    try:
        fill(tmp / SITE)
        (tmp / MARKER).write_bytes(b"")
        handle = open(tmp / MARKER, "rb")
        _lock(handle, exclusive=False)  # the lock moves with the file: held from before the tree is seen
        try:
            os.rename(tmp, root / key)
        except OSError:  # another proof of the same inputs put its tree there first: use that one
            handle.close()
            handle = _hold(root / key)
            if handle is None:
                raise
            shutil.rmtree(tmp, ignore_errors=True)
        return handle
    except BaseException:
        if handle is not None:
            handle.close()
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _lock(handle: IO[bytes], exclusive: bool, wait: bool = True) -> bool:
    """flock the marker: shared while a proof reads the tree, exclusive (never waiting) to remove it."""
    if os.name == "nt":  # pragma: no cover - no flock on Windows, where a file in use is not deleted
        return True
    import fcntl  # lazy: not on Windows

    flags = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | (0 if wait else fcntl.LOCK_NB)
    try:
        fcntl.flock(handle.fileno(), flags)
    except OSError:
        return False
    return True


def prune(root: Path, keep: int = KEEP) -> None:
    """Keep the `keep` trees used last; remove the others that no proof holds, and crashed fetches'
    leftovers."""
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
        try:
            handle = open(tree / MARKER, "rb")
        except OSError:
            continue  # gone meanwhile
        with handle:
            if _lock(handle, exclusive=True, wait=False):  # no proof is reading it
                _remove(root, tree)


def _remove(root: Path, tree: Path) -> None:
    """Out of the way first (a rename), so no proof takes a half-deleted tree for a kept one."""
    trash = Path(tempfile.mkdtemp(dir=root, prefix=".trash-"))
    try:
        os.rename(tree, trash / "tree")
    except OSError:
        pass
    shutil.rmtree(trash, ignore_errors=True)
