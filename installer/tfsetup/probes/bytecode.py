"""Reuse compiled bytecode across envs (stdlib only; run by the env's own python with -I -S, so no
.pth file or other code of the env runs while it works).

    bytecode.py restore CACHE_DIR KEY_FILE SITE_DIR...   copy verified cached .pyc next to identical sources
    bytecode.py harvest CACHE_DIR KEY_FILE SITE_DIR...   compile the env's imported sources into the cache

The first `import tensorflow` in a new env spends most of its time compiling ~2,400 modules. Every
env installed from the same lock has byte-identical sources, so a .pyc made once can serve them all.

Trust (the cache feeds code into every new env, so nothing in it is taken on faith):
- the cache holds *checked hash-based* pycs (PEP 552) that this script compiled itself from the
  source; a .pyc the env wrote is never copied (code in the env could have written anything);
- each entry carries an HMAC-SHA256 of its whole content under a key only the user can read
  (KEY_FILE, 0600 in the private state dir): an entry edited in place (a correct header over another
  code body) fails the check at restore and is deleted, never used;
- entries are copied into an env, never hard-linked: an env writing its own .pyc cannot change the
  cache or any other env;
- nothing is opened through a symbolic link (O_NOFOLLOW; temporaries are O_EXCL), so a link planted
  in the cache cannot make a write land elsewhere.
Prints one JSON line with counts. Best effort: any file that cannot be used is skipped.
"""
import hashlib
import hmac
import importlib.util
import json
import marshal
import os
import sys

FLAG_CHECKED_HASH = 0b11  # hash-based, check_source
TAG = 32  # bytes of HMAC-SHA256 in front of each entry
NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
MAX_PYC = 64 << 20


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


def read_nofollow(path, limit=MAX_PYC):
    fd = os.open(path, os.O_RDONLY | NOFOLLOW)
    with os.fdopen(fd, "rb") as handle:
        return handle.read(limit)


def write_new(path, data):
    """Write `data` to `path` by a fresh O_EXCL temporary and a rename (never through a link)."""
    tmp = "%s.%d.%s.tmp" % (path, os.getpid(), os.urandom(6).hex())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW, 0o644)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def private_dirs(cache_root, path):
    """Create the folders between the cache root and `path` (0700), refusing any that is a link."""
    rel = os.path.relpath(os.path.dirname(path), cache_root)
    current = None
    for part in [""] + rel.split(os.sep):
        current = os.path.join(current, part) if current else cache_root
        try:
            os.mkdir(current, 0o700)
        except FileExistsError:
            pass
        if os.path.islink(current) or not os.path.isdir(current):
            raise OSError("not a private directory: %s" % current)


def tag_of(key, pyc):
    return hmac.new(key, pyc, hashlib.sha256).digest()


def restore(cache_root, key, site_dirs):
    restored = missing = rejected = 0
    for source in sources(site_dirs):
        target = importlib.util.cache_from_source(source)
        if os.path.exists(target):
            continue
        try:
            with open(source, "rb") as handle:
                data = handle.read()
            entry_path = cache_path(cache_root, data)
            entry = read_nofollow(entry_path)
        except OSError:
            missing += 1
            continue
        tag, pyc = entry[:TAG], entry[TAG:]
        if len(entry) <= TAG + 16 or not hmac.compare_digest(tag, tag_of(key, pyc)) \
                or pyc[:4] != importlib.util.MAGIC_NUMBER or pyc[8:16] != importlib.util.source_hash(data):
            rejected += 1  # tampered, truncated or foreign: never used, and dropped
            try:
                os.unlink(entry_path)
            except OSError:
                pass
            continue
        try:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            write_new(target, pyc)  # a copy: the env owns its file, the cache stays as it is
            restored += 1
        except OSError:
            missing += 1
    return {"restored": restored, "missing": missing, "rejected": rejected}


def up_to_date(compiled, source_bytes, source_stat):
    """Whether the env's own pyc matches its source: only modules the env really imported are cached."""
    try:
        head = read_nofollow(compiled, 16)
    except OSError:
        return False
    if len(head) < 16 or head[:4] != importlib.util.MAGIC_NUMBER:
        return False
    if int.from_bytes(head[4:8], "little") & 0b1:
        return head[8:16] == importlib.util.source_hash(source_bytes)
    mtime = int.from_bytes(head[8:12], "little")
    size = int.from_bytes(head[12:16], "little")
    return mtime == (int(source_stat.st_mtime) & 0xFFFFFFFF) and size == (source_stat.st_size & 0xFFFFFFFF)


def checked_hash_pyc(source, source_bytes):
    """What `py_compile --invalidation-mode checked-hash` writes, compiled here from the source."""
    code = compile(source_bytes, source, "exec", dont_inherit=True)
    return (importlib.util.MAGIC_NUMBER + FLAG_CHECKED_HASH.to_bytes(4, "little")
            + importlib.util.source_hash(source_bytes) + marshal.dumps(code))


def harvest(cache_root, key, site_dirs):
    stored = present = 0
    for source in sources(site_dirs):
        try:
            with open(source, "rb") as handle:
                data = handle.read()
            stat = os.stat(source)
        except OSError:
            continue
        if not up_to_date(importlib.util.cache_from_source(source), data, stat):
            continue
        destination = cache_path(cache_root, data)
        if os.path.lexists(destination):
            present += 1
            continue
        try:
            pyc = checked_hash_pyc(source, data)
        except (SyntaxError, ValueError, MemoryError, RecursionError):
            continue
        try:
            private_dirs(cache_root, destination)
            write_new(destination, tag_of(key, pyc) + pyc)
            stored += 1
        except OSError:
            pass
    return {"stored": stored, "present": present}


def main():
    action, cache_root, key_file, site_dirs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    try:
        key = read_nofollow(key_file, 64)
    except OSError:
        key = b""
    if len(key) < 32:  # no usable key: no cache at all
        print(json.dumps({"error": "no cache key"}))
        return
    result = restore(cache_root, key, site_dirs) if action == "restore" else harvest(cache_root, key, site_dirs)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
