"""What the Mach-O reader found in a file (macho/reader.py, through macho/analysis.py), kept between
runs so that a second proof of the same wheels reads no binary again (issue 22). ELF files are not
cached: elfcheck's whole check of a TF env takes ~0.1 s.

An entry is keyed by the file's sha256 as its wheel's RECORD lists it, the reader and its version,
the part read (the magic; for an arch: the header and load commands, the export trie, its table, the
bindings), and the file's size and mtime (a file patched after install, e.g. by install_name_tool,
leaves its RECORD stale but has a new mtime: a new key). A file no RECORD lists with its size is
never cached: nothing names its content without reading it. uv links a wheel's files from its
cache, so every fetch of the same wheels has the same files, sizes and mtimes.

Entries live in the private state dir (state.cache_state_dir: yours, 0700, checked; TFSETUP_NO_CACHE=1
disables them) and are written atomically (write_private). An entry's first line names its key and
its payload's length and CRC-32: a damaged, truncated or edited entry, or one of another key, is
ignored and the file read again. The folder is kept under CACHE_LIMIT bytes: the first store of a
process drops the least recently used entries (a load marks an entry used), so proving many TF
wheels over time never grows the state dir without bound (~100 MB of entries per TF wheel).
"""
from __future__ import annotations

import hashlib
import json
import os
import stat
import zlib
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

from tfsetup.state import cache_state_dir, read_private, write_private

ENTRY_LIMIT = 256 << 20  # bytes of one entry read back (the largest, TF's exports, is a few MB)
_HEAD = b"tfsetup binary analysis 1 "
_records: Dict[str, Optional[Dict[str, Tuple[str, int]]]] = {}  # a directory -> its RECORD listing, or None
# (folder, key) -> a small entry read or written in this process (headers: asked for by every walk of a
# tree); the big ones (bindings, exports) are asked for once a proof, and a process may run fifty proofs
_memo: Dict[Tuple[str, str], bytes] = {}
MEMO_LIMIT = 64 << 10
CACHE_LIMIT = 1 << 30  # the folder's bytes kept: the analyses of about ten TF wheels
_pruned: Dict[str, int] = {}  # a folder -> bytes freed by this process's one pruning of it


def file_key(path: Union[str, Path], reader: str, part: str) -> Optional[str]:
    """The cache key of `part` of the file at `path` as `reader` reads it; None: not cacheable."""
    return file_keys(path, reader, {part: part})[part]


def file_keys(path: Union[str, Path], reader: str, parts: Dict[str, str]) -> Dict[str, Optional[str]]:
    """file_key of each part (the values) of one file, by the names given (the keys): the file is looked
    at once for all of them."""
    named = _named(path)
    if named is None:
        return {name: None for name in parts}
    return {name: hashlib.sha256("\0".join((reader, part) + named).encode("utf-8", "surrogateescape")).hexdigest()
            for name, part in parts.items()}


def _named(path: Union[str, Path]) -> Optional[Tuple[str, str, str]]:
    """(sha256 as its RECORD lists it, size, mtime in ns) of a cacheable file; None: not cacheable."""
    if _directory() is None:
        return None
    real = os.path.realpath(str(path))
    try:
        st = os.stat(real)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    listed = _record_entry(real)
    if listed is None or listed[1] != st.st_size:
        return None
    return listed[0], str(st.st_size), str(st.st_mtime_ns)


def load(key: Optional[str]) -> Optional[Any]:
    """The document stored under `key`, or None (absent, damaged, another key's, or caching off)."""
    data = load_bytes(key)
    if data is None:
        return None
    try:
        doc = json.loads(data)
    except ValueError:
        return None
    return doc.get("analysis") if isinstance(doc, dict) else None


def store(key: Optional[str], analysis: Any) -> None:
    """Keep `analysis` (JSON-able) under `key`; a cache that cannot be written is skipped silently."""
    if key is not None:
        store_bytes(key, json.dumps({"analysis": analysis}, separators=(",", ":")).encode())


def load_bytes(key: Optional[str]) -> Optional[bytes]:
    """The bytes stored under `key` (an entry: a header line naming the key, the payload's length and
    CRC-32, then the payload), or None."""
    if key is None:
        return None
    folder = _directory()
    if folder is None:
        return None
    if (str(folder), key) in _memo:
        return _memo[(str(folder), key)]
    data = read_private(folder / key[:2] / key, ENTRY_LIMIT)
    if data is None:
        return None
    head, _, payload = data.partition(b"\n")
    if head != _head(key, payload):
        return None
    try:
        os.utime(folder / key[:2] / key)  # used: the last to go when the folder is pruned
    except OSError:
        pass
    if len(payload) <= MEMO_LIMIT:
        _memo[(str(folder), key)] = payload
    return payload


def store_bytes(key: Optional[str], payload: bytes) -> None:
    if key is None:
        return
    folder = _directory()
    if folder is None:
        return
    if str(folder) not in _pruned:
        _pruned[str(folder)] = prune(folder)
    try:
        (folder / key[:2]).mkdir(mode=0o700, exist_ok=True)
        write_private(folder / key[:2] / key, _head(key, payload) + b"\n" + payload)
    except OSError:
        return
    if len(payload) <= MEMO_LIMIT:
        _memo[(str(folder), key)] = payload


def _head(key: str, payload: bytes) -> bytes:
    """An entry's first line: its key, and the length and CRC-32 of its payload (damage shows; the
    folder's ownership and mode, not a checksum, keep others from writing it)."""
    return _HEAD + f"{key} {len(payload)} {zlib.crc32(payload):08x}".encode()


def prune(folder: Path, limit: Optional[int] = None) -> int:
    """Delete the least recently used entries (by mtime: written or loaded) until `folder` holds at most
    `limit` bytes; the bytes freed. Never follows a link; what cannot be deleted stays."""
    entries = []
    try:
        for sub in os.scandir(folder):
            if sub.is_dir(follow_symlinks=False):
                for entry in os.scandir(sub.path):
                    if entry.is_file(follow_symlinks=False):
                        info = entry.stat(follow_symlinks=False)
                        entries.append((info.st_mtime, info.st_size, entry.path))
    except OSError:
        return 0
    over = sum(size for _, size, _ in entries) - (CACHE_LIMIT if limit is None else limit)
    freed = 0
    for _, size, path in sorted(entries):
        if freed >= over:
            break
        try:
            os.unlink(path)
        except OSError:
            continue
        freed += size
    return freed


def forget() -> None:
    """Drop what this process remembers of entries and RECORDs (a long-lived caller; tests)."""
    _memo.clear()
    _records.clear()
    _folders.clear()
    _pruned.clear()


_folders: Dict[Tuple[Optional[str], ...], Optional[Path]] = {}


def cache_folder() -> Optional[Path]:
    """The cache's folder, or None (TFSETUP_NO_CACHE=1, or no private state dir to keep it in)."""
    return _directory()


def _directory() -> Optional[Path]:
    """The cache's folder (checked once per process and environment: asked for every file)."""
    which = tuple(os.environ.get(k) for k in ("TFSETUP_NO_CACHE", "TFSETUP_STATE_DIR", "XDG_CACHE_HOME", "HOME"))
    if which not in _folders:
        _folders[which] = cache_state_dir("binaries")
    return _folders[which]


def _record_entry(real: str) -> Optional[Tuple[str, int]]:
    """(sha256, size) of the file as the RECORD of the site-packages holding it lists it."""
    folder = os.path.dirname(real)
    while True:
        listing = _listing(folder)
        if listing is not None:
            return listing.get(real)
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent


def _listing(folder: str) -> Optional[Dict[str, Tuple[str, int]]]:
    """Every file the RECORDs of `folder`'s *.dist-info list (None: it holds none). A listing is
    built once per process: it only names content, the size and mtime in the key judge freshness."""
    if folder in _records:
        return _records[folder]
    listing: Optional[Dict[str, Tuple[str, int]]] = None
    try:
        infos = [e.path for e in os.scandir(folder) if e.name.endswith(".dist-info") and e.is_dir()]
    except OSError:
        infos = []
    for info in infos:
        try:
            with open(os.path.join(info, "RECORD"), "rb") as fh:
                text = fh.read(ENTRY_LIMIT).decode("utf-8", "replace")
        except OSError:
            continue
        listing = listing if listing is not None else {}
        for line in text.splitlines():
            parts = line.rsplit(",", 2)
            if len(parts) == 3 and parts[1].startswith("sha256=") and parts[2].isdigit():
                listing[os.path.normpath(os.path.join(folder, parts[0]))] = (parts[1][len("sha256="):], int(parts[2]))
    _records[folder] = listing
    return listing
