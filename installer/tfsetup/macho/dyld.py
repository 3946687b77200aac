"""A static model of dyld: decide on any OS whether macOS images load together, from their bytes.

What it models (dyld4, macOS 12+):
- install names: `@rpath/...` through the LC_RPATHs of the loading image and then of its loaders
  (the load chain, back to the image that dlopen()ed it), `@loader_path`, `@executable_path`,
  absolute paths; an already-loaded image whose LC_ID_DYLIB equals the requested name satisfies
  the load before any file is searched (how libmetal_plugin finds `@rpath/_pywrap_tensorflow_
  internal.so`: its LC_RPATH points into a Bazel tree that does not exist in any wheel);
- system libraries (`/usr/lib/`, `/System/Library/`) live in the shared cache, not on this disk:
  they are assumed present and to export whatever is bound to them;
- two-level bindings: the symbol must be exported by the library at that ordinal, following
  re-export entries (flag 0x8) and LC_REEXPORT_DYLIB libraries; flat-namespace bindings
  (ordinal -2, or every binding of an image without MH_TWOLEVEL) search all loaded images in
  load order; the Python C API (`_Py*`) comes from the interpreter, which is not modelled, so flat
  lookups of it are assumed to succeed; weak imports and missing weak dylibs never fail;
- an image built for a newer macOS, or without the wanted arch slice, is refused.

Unlike dyld, which stops at the first error, the model keeps going so that one run lists every
problem (grouped per file and kind, with a few example symbols).

Over 400 lines because dyld's search rules (rpaths along the loader chain, install-name reuse,
two-level and flat lookups, re-exports) only make sense together, like the loader they model.
"""
from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

from tfsetup.limits import MAX_LOAD_DEPTH, UnsafeBinary, over

from .startup import PLUGIN_DIR, startup_rules
from .analysis import is_macho_cached, read_macho_cached
from .reader import (ORDINAL_FLAT_LOOKUP, ORDINAL_SELF, ArchNotFound,
                     MachOError, MachOImage, is_macho, read_macho, version_tuple)

SYSTEM_PREFIXES = ("/usr/lib/", "/System/Library/")
PYTHON_API_PREFIXES = ("_Py", "__Py", "_PY")  # exported by the interpreter binary / libpython
# Flat lookups also search loaded system libraries, whose exports are not on this disk: a symbol of
# these runtimes counts as found once a loaded image links the library (libmetal_plugin 1.2.0
# binds _objc_msgSend flat).
SYSTEM_RUNTIME_PREFIXES = (
    (("_objc_", "_OBJC_", "__objc_"), "/usr/lib/libobjc.A.dylib"),
    (("___cxa_", "___gxx_", "__ZNSt3__1", "__ZTVN10__cxxabiv1", "__Unwind_"), "/usr/lib/libc++.1.dylib"),
    (("_dispatch_", "_os_", "_malloc", "_free", "_memcpy", "_memset", "_strlen"), "/usr/lib/libSystem.B.dylib"),
)
TF_DLOPEN_CALLER = "tensorflow/libtensorflow_framework.2.dylib"  # tsl's LoadDynamicLibrary lives here
TF_CORE = "tensorflow/python/_pywrap_tensorflow_internal.so"
PROBLEM_KINDS = ("library-not-loaded", "symbol-not-found", "symbol-not-found-flat", "wrong-arch",
                 "macos-too-old")
MAX_EXAMPLES = 5
NOT_MACHO = "not a mach-o file"
# Never sniffed for a Mach-O magic: saves thousands of opens in a TensorFlow env.
TEXT_SUFFIXES = frozenset({".py", ".pyc", ".pyi", ".h", ".hpp", ".inc", ".txt", ".md", ".json",
                           ".proto", ".cfg", ".toml", ".csv", ".html", ".js", ".css", ".typed"})

PathLike = Union[str, Path]


@dataclass
class Problem:
    kind: str  # one of PROBLEM_KINDS
    file: str  # the image at fault, relative to the env root (the referrer for symbols/libraries)
    library: Optional[str] = None  # the install name asked for
    symbol: Optional[str] = None  # the first missing symbol of this file and kind
    expected_in: Optional[str] = None  # where a two-level binding looked ("flat namespace" for flat)
    needs: Optional[str] = None  # wrong-arch: the arch wanted; macos-too-old: the image's minos
    have: Optional[str] = None  # wrong-arch: the slices present; macos-too-old: the target macOS
    count: int = 1  # how many symbols (or libraries) this group covers
    examples: List[str] = field(default_factory=list)  # a few symbols of the group
    tried: List[Tuple[str, str]] = field(default_factory=list)  # library-not-loaded: (path, why)
    when: Optional[str] = None  # a file `import tensorflow` does not load: when it is (macho/startup.py)

    def to_json(self) -> Dict[str, Any]:
        doc = {"kind": self.kind, "file": self.file, "library": self.library, "symbol": self.symbol,
               "expected_in": self.expected_in, "needs": self.needs, "have": self.have,
               "count": self.count, "examples": list(self.examples),
               "tried": [{"path": path, "why": why} for path, why in self.tried]}
        if self.when is not None:
            doc["when"] = self.when
        return doc


@dataclass
class Report:
    root: str
    arch: str
    macos: Optional[str]
    problems: List[Problem] = field(default_factory=list)  # in what `import tensorflow` loads: ok decides
    loaded: List[str] = field(default_factory=list)  # load order (relative, or the system name)
    # problems of files loaded only on demand (Problem.when says when): notes, never a failure
    on_demand: List[Problem] = field(default_factory=list)
    files_checked: int = 0
    bindings_checked: int = 0
    dependencies_checked: int = 0
    # paths outside the root whose presence decided something (real path -> a file was there): what a
    # verdict kept by the tree's content (prove/verdicts.py) must look at again; never in the JSON
    consulted: Dict[str, bool] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> Dict[str, Any]:
        return {"root": self.root, "arch": self.arch, "macos": self.macos, "ok": self.ok,
                "problems": [p.to_json() for p in self.problems], "loaded": list(self.loaded),
                "on_demand": [p.to_json() for p in self.on_demand],
                "files_checked": self.files_checked, "bindings_checked": self.bindings_checked,
                "dependencies_checked": self.dependencies_checked}


def dyld_message(problem: Problem, root: Optional[PathLike] = None) -> str:
    """The text dyld prints for this problem on a Mac (paths absolute when `root` is given)."""
    def where(rel: Optional[str]) -> str:
        if rel is None:
            return ""
        return os.path.join(str(root), rel) if root is not None and not rel.startswith("/") else rel

    if problem.kind in ("symbol-not-found", "symbol-not-found-flat"):
        expected = "flat namespace" if problem.kind == "symbol-not-found-flat" else where(problem.expected_in)
        return (f"Symbol not found: {problem.symbol}\n  Referenced from: {where(problem.file)}\n"
                f"  Expected in: {expected}")
    if problem.kind == "library-not-loaded":
        reason = ("tried: " + ", ".join(f"'{where(p)}' ({why})" for p, why in problem.tried)
                  if problem.tried else "no LC_RPATH's found")
        return (f"Library not loaded: {problem.library}\n  Referenced from: {where(problem.file)}\n"
                f"  Reason: {reason}")
    if problem.kind == "wrong-arch":
        return (f"'{where(problem.file)}' (mach-o file, but is an incompatible architecture "
                f"(have '{problem.have}', need '{problem.needs}'))")
    if problem.kind == "macos-too-old":
        return f"'{where(problem.file)}' (built for macOS {problem.needs} which is newer than running OS)"
    return f"{problem.kind}: {where(problem.file)}"


# --- the process model -------------------------------------------------------------------------

@dataclass
class LoadedImage:
    rel: str  # relative to the env root (absolute when outside it)
    path: str  # real path on this disk
    macho: MachOImage
    # per ordinal-1: a LoadedImage, or "system" | "weak-missing" | "missing"
    deps: List[object] = field(default_factory=list)
    bound: bool = False


class Process:
    """Images loaded into one modelled process, in load order, plus the problems met so far."""

    def __init__(self, root: PathLike, arch: str = "arm64", macos: Optional[str] = None,
                 executable: Optional[PathLike] = None) -> None:
        self.root = os.path.realpath(str(root))
        self.arch = arch
        self.macos = macos
        # @executable_path is the interpreter's directory; unknown (unresolvable) when not given.
        self.executable_dir = os.path.dirname(os.path.realpath(str(executable))) if executable else None
        self.images: List[LoadedImage] = []
        self.system_libs: set = set()  # system install names linked by loaded images
        self.system_symbols: set = set()  # symbols loaded images bind two-level to a system library
        self.by_path: Dict[str, LoadedImage] = {}
        self.raw: List[Problem] = []
        self.files_checked = 0
        self.bindings_checked = 0
        self.dependencies_checked = 0
        self.consulted: Dict[str, bool] = {}  # Report.consulted
        self._read_bindings = True  # False while dlopen(bind=False) loads images

    # dlopen(): load the image and its dependency graph, then bind every new image.
    def dlopen(self, path: PathLike, caller: Optional[LoadedImage] = None,
               bind: bool = True) -> Optional[LoadedImage]:
        """`bind` False loads the images (install names, rpaths, exports) without reading or checking
        their bindings: enough for later images to bind against them, several times faster."""
        chain: Tuple[LoadedImage, ...] = (caller,) if caller is not None else ()
        first_new = len(self.images)
        real = os.path.realpath(str(path))
        self._read_bindings = bind
        try:
            image, why = self._load(real, chain, library=None)
        finally:
            self._read_bindings = True
        if image is None and why == NOT_MACHO:  # wrong-arch is already reported by _load
            self.raw.append(Problem("library-not-loaded", self._rel(real), library=self._rel(real),
                                    tried=[(self._rel(real), why)]))
        new_images = self.images[first_new:]
        for new in new_images:
            self._note_system_symbols(new)
        for new in new_images:
            if bind:
                self._bind(new)
        return image

    def image(self, rel: str) -> Optional[LoadedImage]:
        return self.by_path.get(os.path.realpath(os.path.join(self.root, rel)))

    def report(self) -> Report:
        return Report(root=self.root, arch=self.arch, macos=self.macos, problems=group(self.raw),
                      loaded=[i.rel for i in self.images], files_checked=self.files_checked,
                      bindings_checked=self.bindings_checked,
                      dependencies_checked=self.dependencies_checked, consulted=dict(self.consulted))

    def _rel(self, path: str) -> str:
        rel = os.path.relpath(path, self.root)
        return path if rel.startswith("..") else rel

    def _load(self, path: str, chain: Tuple[LoadedImage, ...],
              library: Optional[str]) -> Tuple[Optional[LoadedImage], str]:
        """Load one file (and, depth first, its dependencies). Returns (image, why-not)."""
        if path in self.by_path:
            return self.by_path[path], ""
        rel = self._rel(path)
        if len(chain) > MAX_LOAD_DEPTH:  # each level is two Python frames: stop long before RecursionError
            raise over(path, "the chain of libraries loading it", len(chain), MAX_LOAD_DEPTH)
        try:
            macho = read_macho_cached(path, self.arch, bindings=self._read_bindings)
        except ArchNotFound as exc:
            self.files_checked += 1
            self.raw.append(Problem("wrong-arch", rel, library=library, needs=self.arch,
                                    have=",".join(exc.present)))
            have = ",".join(exc.present)
            return None, f"mach-o file, but is an incompatible architecture (have '{have}', need '{self.arch}')"
        except MachOError:
            return None, NOT_MACHO
        self.files_checked += 1
        if self.macos and macho.minos and version_tuple(macho.minos) > version_tuple(self.macos):
            # dyld refuses it; the model still loads it so that one run shows every problem.
            self.raw.append(Problem("macos-too-old", rel, library=library, needs=macho.minos,
                                    have=self.macos))
        image = LoadedImage(rel, path, macho)
        self.images.append(image)  # registered before its dependencies: cycles terminate
        self.by_path[path] = image
        chain = (image,) + chain
        for ref in macho.dylibs:
            self.dependencies_checked += 1
            target = self._resolve(ref.name, chain)
            if isinstance(target, list):  # the paths tried: not found
                if ref.kind == "weak":
                    image.deps.append("weak-missing")
                    continue
                image.deps.append("missing")
                self.raw.append(Problem("library-not-loaded", rel, library=ref.name, tried=target))
            else:
                image.deps.append(target)
        return image, ""

    def _resolve(self, name: str, chain: Tuple[LoadedImage, ...]
                 ) -> Union[LoadedImage, str, List[Tuple[str, str]]]:
        """An install name -> a loaded image, "system", or the list of what was tried."""
        if name.startswith(SYSTEM_PREFIXES):
            self.system_libs.add(name)
            return "system"
        for loaded in self.images:  # an already-loaded image with this install name wins
            if loaded.macho.install_name == name:
                return loaded
        tried: List[Tuple[str, str]] = []
        for candidate in self._candidates(name, chain):
            real = os.path.realpath(candidate)
            if not self._note(real, os.path.isfile(real)):
                tried.append((self._rel(candidate), "no such file"))
                continue
            image, why = self._load(real, chain, library=name)
            if image is not None:
                return image
            tried.append((self._rel(candidate), why))
        return tried

    def _note(self, real: str, found: bool) -> bool:
        """`found`, noted in `consulted` when `real` lies outside the root."""
        if real != self.root and not real.startswith(self.root + os.sep):
            self.consulted[real] = found
        return found

    def _candidates(self, name: str, chain: Tuple[LoadedImage, ...]) -> Iterator[str]:
        loader_dir = os.path.dirname(chain[0].path)
        if name.startswith("@rpath/"):
            tail = name[len("@rpath/"):]
            for link in chain:  # the loading image first, then whoever loaded it
                for rpath in link.macho.rpaths:
                    base = self._expand(rpath, os.path.dirname(link.path))
                    if base is not None:
                        yield os.path.normpath(os.path.join(base, tail))
        elif name.startswith("@loader_path/"):
            yield os.path.normpath(os.path.join(loader_dir, name[len("@loader_path/"):]))
        elif name.startswith("@executable_path/"):
            if self.executable_dir is not None:
                yield os.path.normpath(os.path.join(self.executable_dir, name[len("@executable_path/"):]))
        elif name.startswith("/"):
            yield name  # an absolute path outside the system: checked on this disk as written
        # any other relative name is resolved against the cwd by dyld: not modelled, never found

    def _expand(self, rpath: str, image_dir: str) -> Optional[str]:
        if rpath.startswith("@loader_path"):
            return image_dir + rpath[len("@loader_path"):]
        if rpath.startswith("@executable_path"):
            return None if self.executable_dir is None else self.executable_dir + rpath[len("@executable_path"):]
        return rpath if rpath.startswith("/") else None

    def _note_system_symbols(self, image: LoadedImage) -> None:
        if not image.macho.two_level:
            return
        for b in image.macho.bindings:
            if 1 <= b.ordinal <= len(image.deps) and image.deps[b.ordinal - 1] == "system":
                self.system_symbols.add(b.symbol)

    def _bind(self, image: LoadedImage) -> None:
        if image.bound:
            return
        image.bound = True
        macho = image.macho
        for b in macho.bindings:
            if b.source == "weak_bind":
                continue  # weak-definition coalescing: binds to some definition, never fails
            self.bindings_checked += 1
            ordinal = b.ordinal
            target = image.deps[ordinal - 1] if 1 <= ordinal <= len(image.deps) else None
            if not macho.two_level or ordinal == ORDINAL_FLAT_LOOKUP:
                if target == "system" or self._flat_lookup(b.symbol):
                    continue
                if not b.weak_import and target not in ("weak-missing", "missing"):
                    self.raw.append(Problem("symbol-not-found-flat", image.rel, symbol=b.symbol,
                                            expected_in="flat namespace"))
                continue
            if ordinal == ORDINAL_SELF:
                target = image
            elif ordinal < 0:
                continue  # main executable (the interpreter, not modelled) or weak lookup
            if target in ("system", "weak-missing", "missing") or b.weak_import:
                continue  # a missing library is reported once as library-not-loaded
            if target is None:
                self.raw.append(Problem("symbol-not-found", image.rel, symbol=b.symbol,
                                        expected_in=f"library ordinal {ordinal} (out of range)"))
                continue
            assert isinstance(target, LoadedImage)
            if not _exported(target, b.symbol):
                self.raw.append(Problem("symbol-not-found", image.rel, symbol=b.symbol,
                                        library=macho.dylibs[ordinal - 1].name if ordinal > 0 else None,
                                        expected_in=target.rel))

    def _flat_lookup(self, symbol: str) -> bool:
        if symbol.startswith(PYTHON_API_PREFIXES) or symbol in self.system_symbols:
            return True
        for prefixes, library in SYSTEM_RUNTIME_PREFIXES:
            if symbol.startswith(prefixes) and library in self.system_libs:
                return True
        return any(_exported(i, symbol, flat=True) for i in self.images)


def _exported(image: LoadedImage, symbol: str, flat: bool = False) -> bool:
    """Lookup in `image`, following re-export entries and re-exported libraries. A flat lookup
    does not assume re-exported system libraries have it (it would then never miss).

    Iterative, over (image, name) pairs each tried once: a re-export cycle between two libraries
    (A re-exports a name from B, B from A) ends as "not exported", never in a RecursionError."""
    todo: List[Tuple[LoadedImage, str]] = [(image, symbol)]
    tried: set = set()
    while todo:
        current, name = todo.pop()
        if (id(current), name) in tried:
            continue
        tried.add((id(current), name))
        try:
            entry = current.macho.exports.lookup(name)
        except MachOError as exc:  # dyld refuses such an image; a hostile one ends the proof (exit 2)
            raise UnsafeBinary(current.path, f"its export trie is malformed ({exc})") from None
        if entry is not None:
            if not entry.is_reexport:
                return True
            ordinal = entry.reexport_ordinal or 0
            target = current.deps[ordinal - 1] if 1 <= ordinal <= len(current.deps) else None
            if target == "system":
                return True
            if isinstance(target, LoadedImage):
                todo.append((target, entry.reexport_name or name))
            continue
        for ref, target in reversed(list(zip(current.macho.dylibs, current.deps))):
            if ref.kind == "reexport":
                if target == "system" and not flat:
                    return True  # a re-exported system library: assumed to export it
                if isinstance(target, LoadedImage):
                    todo.append((target, name))
    return False


def group(raw: Sequence[Problem]) -> List[Problem]:
    """One problem per file and kind (per library for library-not-loaded), first-seen order."""
    groups: Dict[Tuple[str, str, Optional[str]], Problem] = {}
    for p in raw:
        key = (p.kind, p.file, p.library if p.kind == "library-not-loaded" else None)
        g = groups.get(key)
        if g is None:
            g = groups[key] = Problem(p.kind, p.file, p.library, p.symbol, p.expected_in, p.needs,
                                      p.have, 0, [], list(p.tried), p.when)
        g.count += 1
        if p.symbol and len(g.examples) < MAX_EXAMPLES and p.symbol not in g.examples:
            g.examples.append(p.symbol)
    return list(groups.values())


# --- entry points --------------------------------------------------------------------------------

def prove_plugins(site_packages: PathLike, arch: str = "arm64", macos: Optional[str] = None,
                  plugins: Optional[Sequence[PathLike]] = None,
                  executable: Optional[PathLike] = None, caller: str = TF_DLOPEN_CALLER,
                  bind_core: bool = True) -> Report:
    """Load TensorFlow's images as `import tensorflow` does, then each pluggable-device plug-in.

    The core is tensorflow/python/_pywrap_tensorflow_internal.so and its dependency graph
    (libtensorflow_framework.2.dylib, libtensorflow_cc.2.dylib, ...). Plug-ins default to
    tensorflow-plugins/*.dylib. dlopen() adds the LC_RPATHs of its caller to the plug-in's load
    chain; the caller is libtensorflow_framework (where TF_LoadPluggableDeviceLibrary ends up), whose
    rpaths do not reach _pywrap_tensorflow_internal.so: only its install name can satisfy the
    plug-in. `bind_core` False checks only the plug-ins' bindings (TF's own images are loaded for
    their exports, install names and rpaths): what a fast pass needs, in a fraction of the time."""
    root = Path(site_packages)
    process = Process(root, arch, macos, executable)
    core_path = root / TF_CORE
    core: Optional[LoadedImage] = None
    if core_path.is_file():
        core = process.dlopen(core_path, bind=bind_core)
    else:
        process.raw.append(Problem("library-not-loaded", TF_CORE, library=TF_CORE,
                                   tried=[(TF_CORE, "no such file")]))
    found = sorted((root / PLUGIN_DIR).glob("*.dylib")) if plugins is None else [Path(p) for p in plugins]
    loader = process.image(caller) or core
    for plugin in found:
        process.dlopen(plugin if plugin.is_absolute() else root / plugin, caller=loader)
    return process.report()


def check_env(site_packages: PathLike, arch: str = "arm64", macos: Optional[str] = None,
              executable: Optional[PathLike] = None, files: Optional[Sequence[str]] = None) -> Report:
    """Every Mach-O file of an env: has the `arch` slice, minos <= `macos`, and each dependency
    resolves inside the env or the system. An `@rpath` name that no rpath of the file reaches
    counts as resolved when some file of the env has that install name (dyld reuses that image
    once it is loaded; whether it is loaded first is what prove_plugins decides). `files`: the tree's
    macho_files when the caller listed them already (one walk of the tree)."""
    root = os.path.realpath(str(site_packages))
    report = Report(root=root, arch=arch, macos=macos)
    images: List[Tuple[str, MachOImage]] = []
    for path in _paths(root, files):
        rel = os.path.relpath(path, root)
        report.files_checked += 1
        try:
            macho = read_macho_cached(path, arch, exports=False, bindings=False)
        except ArchNotFound as exc:
            report.problems.append(Problem("wrong-arch", rel, needs=arch, have=",".join(exc.present)))
            continue
        except MachOError:
            continue
        if macos and macho.minos and version_tuple(macho.minos) > version_tuple(macos):
            report.problems.append(Problem("macos-too-old", rel, needs=macho.minos, have=macos))
        images.append((path, macho))
    install_names = {m.install_name for _, m in images if m.install_name}
    process = Process(root, arch, macos, executable)  # reused for its path expansion only
    raw: List[Problem] = []
    for path, macho in images:
        me = LoadedImage(os.path.relpath(path, root), path, macho)
        for ref in macho.dylibs:
            report.dependencies_checked += 1
            if ref.name.startswith(SYSTEM_PREFIXES) or ref.name in install_names:
                continue
            tried: List[Tuple[str, str]] = []
            for candidate in process._candidates(ref.name, (me,)):
                if process._note(os.path.realpath(candidate), os.path.isfile(candidate)):
                    break
                tried.append((process._rel(candidate), "no such file"))
            else:
                if ref.kind != "weak":
                    raw.append(Problem("library-not-loaded", me.rel, library=ref.name, tried=tried))
    report.problems += group(raw)
    report.consulted = dict(process.consulted)
    return report


def iter_macho_files(root: PathLike) -> Iterator[str]:
    """Paths of every Mach-O file under `root` (*.so, *.dylib, and any file with the magic)."""
    for folder, dirs, files in os.walk(str(root)):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(folder, name)
            if os.path.splitext(name)[1] in TEXT_SUFFIXES or os.path.islink(path):
                continue
            if is_macho_cached(path):
                yield path


def macho_files(root: PathLike) -> List[str]:
    """iter_macho_files(root) as paths relative to `root`, in its order: one walk for several checks."""
    top = str(root)
    return [os.path.relpath(path, top) for path in iter_macho_files(top)]


def _paths(root: str, files: Optional[Sequence[str]]) -> Iterable[str]:
    """The Mach-O files under `root`: walked now, or `files` (macho_files of the same tree) joined to it."""
    if files is None:
        return iter_macho_files(root)
    return [os.path.join(root, rel) for rel in files]


def headers_by_file(root: PathLike, arch: str = "arm64",
                    files: Optional[Sequence[str]] = None) -> Dict[str, Tuple[Optional[str], int]]:
    """(minos, filetype) of each Mach-O file (with the `arch` slice) under a directory (`files`: its
    macho_files, when listed already)."""
    result: Dict[str, Tuple[Optional[str], int]] = {}
    for file in _paths(str(root), files):
        try:
            image = read_macho_cached(file, arch, exports=False, bindings=False)
        except MachOError:
            continue
        result[os.path.relpath(file, str(root))] = (image.minos, image.filetype)
    return result


def minos_by_file(path: PathLike, arch: str = "arm64") -> Dict[str, Optional[str]]:
    """minos of each Mach-O file (with the `arch` slice) in a directory or a wheel (.whl/.zip)."""
    result: Dict[str, Optional[str]] = {}
    path = Path(path)
    if path.is_dir():
        return {rel: minos for rel, (minos, _type) in headers_by_file(path, arch).items()}
    with zipfile.ZipFile(path) as wheel:
        for info in wheel.infolist():
            if info.is_dir() or os.path.splitext(info.filename)[1] in TEXT_SUFFIXES:
                continue
            with wheel.open(info) as member:  # seekable: only the header is inflated
                try:
                    result[info.filename] = read_macho(member, arch, exports=False, bindings=False).minos
                except MachOError:
                    continue
    return result


def highest_minos(path: PathLike, arch: str = "arm64") -> Optional[Tuple[str, str]]:
    """(minos, file) of the binary needing the newest macOS in a directory or wheel; None if none."""
    best: Optional[Tuple[str, str]] = None
    for file, minos in sorted(minos_by_file(path, arch).items()):
        if minos and (best is None or version_tuple(minos) > version_tuple(best[0])):
            best = (minos, file)
    return best


def on_demand_files(site: PathLike, arch: str, headers: Optional[Dict[str, Tuple[Optional[str], int]]] = None
                    ) -> Tuple[Optional[Tuple[str, str]], List[Tuple[str, Optional[str], str]]]:
    """(the (minos, file) needing the newest macOS among what `import tensorflow` loads,
    [(file, minos, when)] of every binary it loads only on demand). `headers`: headers_by_file(site,
    arch), when the caller has it already."""
    rules = startup_rules(site)
    best: Optional[Tuple[str, str]] = None
    later: List[Tuple[str, Optional[str], str]] = []
    for rel, (minos, filetype) in sorted((headers_by_file(site, arch) if headers is None else headers).items()):
        when = rules.on_demand(rel, filetype)
        if when is not None:
            later.append((rel, minos, when))
        elif minos and (best is None or version_tuple(minos) > version_tuple(best[0])):
            best = (minos, rel)
    return best, later


__all__ = ["LoadedImage", "Problem", "Report", "Process", "check_env", "dyld_message", "group", "headers_by_file",
           "highest_minos",
           "iter_macho_files", "macho_files", "minos_by_file", "on_demand_files", "prove_plugins", "PROBLEM_KINDS", "is_macho"]
