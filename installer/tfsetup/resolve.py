"""Cross-resolution and the package index: wheel tags of any platform, PEP 691 listings, `uv pip compile`.

Used by `tfsetup lock` / `wheelhouse` and by scripts/lock_recipes.py. The network lives here (the edge),
uv's command line and environment in backends/; the tag filtering is pure.
"""
from __future__ import annotations

import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from html.parser import HTMLParser
from typing import Dict, FrozenSet, Iterable, List, Optional, Sequence, Set, Tuple

from packaging import tags as ptags
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from tfsetup.backends._proc import engine_env, run_engine
from tfsetup.backends.uv import UvBackend
from tfsetup.credentials import redact, request_auth
from tfsetup.errors import BadInput
from tfsetup.inputs import decode, loads_json, read_stream
from tfsetup.platforms import wheel_tag_arch
from tfsetup.recipes import normalize_name

INDEX_URL = "https://pypi.org/simple"

# A file on the index: (filename, sha256).
IndexFile = Tuple[str, str]


class ResolveError(RuntimeError):
    """Resolution, an index listing or a download failed; the message says which and why."""


def platform_tags(os_name: str, machine: str) -> List[str]:
    """Platform tags of every supported OS version of this os-machine (newest first)."""
    arch = wheel_tag_arch(os_name, machine)
    if os_name == "macos":
        return list(ptags.mac_platforms((26, 0), arch))
    if os_name == "linux":
        plats = [f"manylinux_2_{minor}_{arch}" for minor in range(50, 4, -1)]
        plats += [f"manylinux2014_{arch}", f"manylinux2010_{arch}", f"manylinux1_{arch}", f"linux_{arch}"]
        return plats
    if os_name == "windows":
        return [f"win_{arch}"]
    raise ValueError(f"unknown os {os_name!r}")


def compatible_tags(os_name: str, machine: str, python: str) -> FrozenSet[ptags.Tag]:
    """Every wheel tag CPython <python> accepts on any supported version of the platform."""
    major, minor = (int(p) for p in python.split(".")[:2])
    version = (major, minor)
    plats = platform_tags(os_name, machine)
    found: Set[ptags.Tag] = set(ptags.cpython_tags(version, platforms=plats))
    found.update(ptags.compatible_tags(version, interpreter=f"cp{major}{minor}", platforms=plats))
    return frozenset(found)


def wheel_compatible(filename: str, tags: FrozenSet[ptags.Tag]) -> bool:
    if not filename.endswith(".whl"):
        return False
    try:
        _, _, _, file_tags = parse_wheel_filename(filename)
    except InvalidWheelFilename:
        return False
    return not file_tags.isdisjoint(tags)


def filter_hashes(tags: FrozenSet[ptags.Tag], files: Iterable[IndexFile]) -> List[str]:
    """The sha256 of every file in `files` that is a wheel with a tag in `tags` (sorted, unique).

    Pure: `files` is the listing of ONE package version, as (filename, sha256) pairs.
    """
    return sorted({sha for name, sha in files if wheel_compatible(name, tags)})


# ---------------------------------------------------------------------------------------------
# the index: PEP 691 JSON listings, cached per process


_listing_cache: Dict[str, Tuple[Dict[str, List[IndexFile]], Dict[str, str]]] = {}
_listing_locks: Dict[str, threading.Lock] = {}
_cache_guard = threading.Lock()


def file_version(filename: str, project: str) -> Optional[str]:
    """The normalized version of a wheel or sdist filename, or None when it cannot be read."""
    try:
        if filename.endswith(".whl"):
            return str(parse_wheel_filename(filename)[1])
        for ext in (".tar.gz", ".zip", ".tar.bz2", ".tgz"):
            if filename.endswith(ext):
                stem = filename[: -len(ext)]
                # sdist: <name>-<version>; the name may contain '-' in old uploads
                prefix = len(project)
                if canonicalize_name(stem[:prefix]) == canonicalize_name(project) and stem[prefix:prefix + 1] == "-":
                    return str(Version(stem[prefix + 1:]))
                return str(Version(stem.rsplit("-", 1)[1]))
    except (InvalidWheelFilename, InvalidVersion, IndexError, ValueError):
        return None
    return None


def fetch_listing(project: str, index_url: str = INDEX_URL, timeout: float = 60.0) -> Dict[str, List[IndexFile]]:
    """version -> [(filename, sha256)] for one project, from the PEP 691 JSON simple API (cached)."""
    return _fetch(project, index_url, timeout)[0]


def file_url(project: str, filename: str, index_url: str = INDEX_URL) -> str:
    """The absolute download URL of one listed file."""
    return _fetch(project, index_url, 60.0)[1][filename]


def _fetch(project: str, index_url: str, timeout: float) -> Tuple[Dict[str, List[IndexFile]], Dict[str, str]]:
    name = canonicalize_name(project)
    key = f"{index_url.rstrip('/')}/{name}/"
    with _cache_guard:
        if key in _listing_cache:
            return _listing_cache[key]
        lock = _listing_locks.setdefault(key, threading.Lock())
    with lock:
        if key in _listing_cache:
            return _listing_cache[key]
        clean, auth = request_auth(key)  # userinfo becomes a header: never in an error or a link
        request = urllib.request.Request(clean, headers={
            "Accept": "application/vnd.pypi.simple.v1+json, text/html;q=0.1", "User-Agent": "tfsetup", **auth})
        files, last = None, "no answer"
        for _attempt in range(3):
            try:
                with urllib.request.urlopen(request, timeout=timeout) as response:
                    kind = response.headers.get("Content-Type", "")
                    text = decode(read_stream(response, clean, 64 << 20), clean)
                files = _html_files(text) if "html" in kind else _json_files(loads_json(text, clean))
                break
            except (OSError, BadInput) as exc:  # URLError, timeouts, not JSON, too big
                last = getattr(exc, "message", None) or str(exc)
                if isinstance(exc, (BadInput, urllib.error.HTTPError)):
                    break  # an answer, just not a usable one: asking again will not change it
        if files is None:
            raise ResolveError(redact(f"cannot fetch the index listing of {name} from {index_url}: {last}"))
        listing: Dict[str, List[IndexFile]] = {}
        urls: Dict[str, str] = {}
        for filename, sha, link in files:
            version = file_version(filename, name)
            if version:
                listing.setdefault(version, []).append((filename, sha))
                urls[filename] = urllib.parse.urljoin(clean, link)
        with _cache_guard:
            _listing_cache[key] = (listing, urls)
        return listing, urls


def _json_files(doc: object) -> List[Tuple[str, str, str]]:
    """(filename, sha256, link) of a PEP 691 JSON listing; malformed entries are skipped."""
    files = doc.get("files") if isinstance(doc, dict) else None
    if not isinstance(files, list):
        raise BadInput("not a PEP 691 index listing")
    found = []
    for entry in files:
        if not isinstance(entry, dict) or not isinstance(entry.get("filename"), str):
            continue
        hashes = entry.get("hashes")
        sha = hashes.get("sha256") if isinstance(hashes, dict) else None
        link = entry.get("url", entry["filename"])
        if isinstance(sha, str) and isinstance(link, str):
            found.append((entry["filename"], sha, link))
    return found


def _html_files(text: str) -> List[Tuple[str, str, str]]:
    """(filename, sha256, link) of a PEP 503 HTML listing (pypiserver, static wheelhouses): the
    anchors whose URL fragment carries a sha256."""
    found: List[Tuple[str, str, str]] = []

    class Links(HTMLParser):
        def handle_starttag(self, tag: str, attrs: List[Tuple[str, Optional[str]]]) -> None:
            href = dict(attrs).get("href") if tag == "a" else None
            if href and "#sha256=" in href:
                link, sha = href.split("#sha256=", 1)
                filename = urllib.parse.unquote(link.rsplit("/", 1)[-1])
                if re.fullmatch(r"[0-9a-f]{64}", sha):
                    found.append((filename, sha, link))

    Links().feed(text)
    return found


def version_files(project: str, version: str, index_url: str = INDEX_URL) -> List[IndexFile]:
    return fetch_listing(project, index_url).get(str(Version(version)), [])


Entry = Tuple[str, str, List[str]]  # (normalized name, version, [sha256 ...]) of one pinned package


def shrink_hashes(entries: Sequence[Entry], tags: FrozenSet[ptags.Tag], where: str,
                  index_url: str = INDEX_URL) -> List[Entry]:
    """Keep only the hashes of wheels an installer with these tags could pick (uv lists every file)."""
    out: List[Entry] = []
    empty: List[str] = []
    for name, version, uv_hashes in entries:
        kept = filter_hashes(tags, version_files(name, version, index_url))
        if uv_hashes:
            kept = [h for h in kept if h in set(uv_hashes)]
        if not kept:
            empty.append(f"{name}=={version}")
        out.append((name, version, kept))
    if empty:
        raise ResolveError(f"no compatible wheel hash for {', '.join(empty)} (sdist-only, or no wheel for {where})")
    return out


def render_requirements(entries: Sequence[Entry]) -> str:
    """`name==version \\` + `--hash=sha256:...` lines, the format pip and uv install with --require-hashes."""
    lines = []
    for name, version, hashes in entries:
        lines.append(f"{name}=={version} \\")
        for i, sha in enumerate(hashes):
            lines.append(f"    --hash=sha256:{sha}" + (" \\" if i < len(hashes) - 1 else ""))
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# uv


_REQ = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")
_HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")


def parse_uv_output(text: str) -> List[Tuple[str, str, List[str]]]:
    """[(normalized name, version, [sha256...])] from `uv pip compile --generate-hashes` output."""
    entries: List[Tuple[str, str, List[str]]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("--hash="):
            if not entries:
                raise ResolveError(f"hash before any requirement: {line[:80]}")
            entries[-1][2].extend(_HASH.findall(line))
            continue
        match = _REQ.match(line)
        if not match:
            raise ResolveError(f"unexpected line in uv output: {line[:80]!r}")
        entries.append((normalize_name(match.group(1)), match.group(2), _HASH.findall(line)))
    return entries


_DEBUG_LINE = re.compile(r"\s*(TRACE|DEBUG) ")  # uv's tracing lines (RUST_LOG), not its error


def uv_compile(uv: str, python_platform: str, python: str, lines: Sequence[str], *, hashes: bool = True,
               macos_target: Optional[str] = None, index_urls: Sequence[str] = (INDEX_URL,),
               find_links: Sequence[str] = (), timeout: float = 300.0, exclude_newer: Optional[str] = None,
               http_log: Optional[List[str]] = None) -> str:
    """Run `uv pip compile` for another platform and Python; return its stdout or raise ResolveError.

    The command line and the environment are the engine's (backends/uv.py, backends/_proc.engine_env: a
    lock takes no index or uv setting of the user's); requirements go in on stdin. `http_log`: a list
    that receives the debug log of uv's HTTP client (every index page uv read names its URL there:
    scripts/lock_recipes.py keys its cached resolutions on those pages); an error leaves it out.
    """
    argv, secret_env = UvBackend(uv).cross_compile_argv(python_platform, python, index_urls, find_links,
                                                       hashes=hashes, exclude_newer=exclude_newer)
    extra = dict(secret_env)
    if macos_target:  # which macOS wheels count
        extra["MACOSX_DEPLOYMENT_TARGET"] = macos_target
    if http_log is not None:
        extra["RUST_LOG"] = "uv_client=debug"
    result = run_engine(argv, engine_env(extra, lock=True), timeout, stdin="\n".join(lines) + "\n")
    if result.timed_out:
        raise ResolveError(f"uv pip compile took more than {timeout:.0f} s")
    stderr = result.stderr
    if http_log is not None:
        http_log.append(stderr)
        stderr = "\n".join(line for line in stderr.splitlines() if not _DEBUG_LINE.match(line))
    if result.returncode != 0:
        raise ResolveError(redact((stderr or result.stdout).strip()) or f"uv exited {result.returncode}")
    return result.stdout
