"""Reuse compiled bytecode across envs (stdlib only; run by the env's own python with -I).

    bytecode.py restore CACHE_DIR SITE_DIR...   copy cached .pyc next to each identical source file
    bytecode.py harvest CACHE_DIR SITE_DIR...   store the env's up-to-date .pyc in the cache

The first `import tensorflow` in a new env spends most of its time compiling ~2,400 modules. Every
env installed from the same lock has byte-identical sources, so a .pyc made once can serve them all.
The cache holds *checked hash-based* pycs (PEP 552): Python validates each against its source's hash
at import, so a cached file can never stand in for a different source. A timestamp pyc written by
the verification's import becomes one by rewriting its 16-byte header: no recompilation.
Prints one JSON line with counts. Best effort: any file that cannot be used is skipped.
"""
import hashlib
import importlib.util
import json
import os
import sys

FLAG_CHECKED_HASH = 0b11  # hash-based, check_source


def cache_path(cache_root, source_bytes):
    key = hashlib.sha256(source_bytes).hexdigest()
    return os.path.join(cache_root, sys.implementation.cache_tag, key[:2], key + ".pyc")


def sources(site_dirs):
    for root in site_dirs:
        for folder, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            for name in files:
                if name.endswith(".py"):
                    yield os.path.join(folder, name)


def write_atomically(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = "%s.%d.tmp" % (path, os.getpid())
    with open(tmp, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def link_or_copy(cached, target, data):
    """A hard link when the cache is on the same filesystem (no bytes copied), else a copy.
    Safe to share: Python never rewrites a pyc in place, it replaces it."""
    os.makedirs(os.path.dirname(target), exist_ok=True)
    tmp = "%s.%d.tmp" % (target, os.getpid())
    try:
        os.link(cached, tmp)
    except OSError:
        with open(tmp, "wb") as handle:
            handle.write(data)
    os.replace(tmp, target)


def restore(cache_root, site_dirs):
    restored = missing = 0
    for source in sources(site_dirs):
        target = importlib.util.cache_from_source(source)
        if os.path.exists(target):
            continue
        try:
            with open(source, "rb") as handle:
                data = handle.read()
            with open(cache_path(cache_root, data), "rb") as handle:
                pyc = handle.read()
        except OSError:
            missing += 1
            continue
        if pyc[:4] != importlib.util.MAGIC_NUMBER or pyc[8:16] != importlib.util.source_hash(data):
            missing += 1
            continue
        try:
            link_or_copy(cache_path(cache_root, data), target, pyc)
            restored += 1
        except OSError:
            missing += 1
    return {"restored": restored, "missing": missing}


def as_checked_hash(pyc, source_bytes, source_stat):
    """The checked-hash form of an up-to-date pyc, or None (stale, foreign or unknown format)."""
    if len(pyc) < 16 or pyc[:4] != importlib.util.MAGIC_NUMBER:
        return None
    flags = int.from_bytes(pyc[4:8], "little")
    if flags & 0b1:  # already hash-based: valid only for this source
        return pyc if pyc[8:16] == importlib.util.source_hash(source_bytes) else None
    mtime = int.from_bytes(pyc[8:12], "little")
    size = int.from_bytes(pyc[12:16], "little")
    if mtime != (int(source_stat.st_mtime) & 0xFFFFFFFF) or size != (source_stat.st_size & 0xFFFFFFFF):
        return None  # the source changed after it was compiled
    return (pyc[:4] + FLAG_CHECKED_HASH.to_bytes(4, "little") + importlib.util.source_hash(source_bytes)
            + pyc[16:])


def harvest(cache_root, site_dirs):
    stored = present = 0
    for source in sources(site_dirs):
        compiled = importlib.util.cache_from_source(source)
        try:
            with open(compiled, "rb") as handle:
                pyc = handle.read()
            with open(source, "rb") as handle:
                data = handle.read()
            stat = os.stat(source)
        except OSError:
            continue
        destination = cache_path(cache_root, data)
        if os.path.exists(destination):
            present += 1
            continue
        converted = as_checked_hash(pyc, data, stat)
        if converted is None:
            continue
        try:
            write_atomically(destination, converted)
            stored += 1
        except OSError:
            pass
    return {"stored": stored, "present": present}


def main():
    action, cache_root, site_dirs = sys.argv[1], sys.argv[2], sys.argv[3:]
    result = restore(cache_root, site_dirs) if action == "restore" else harvest(cache_root, site_dirs)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
