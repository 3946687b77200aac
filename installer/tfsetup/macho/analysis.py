"""read_macho and is_macho through the analysis cache (bincache.py): what the dyld model consumes of a
file (its header and load commands for an arch, its exports, its bindings) is read once, then kept
by the file's sha256 (its RECORD's) and READER_VERSION. dyld.py and prove read through here.

Exports come back as an ExportTable: the trie's bytes (cached too), walked per name like dyld, and
for an image asked for many names a dict of every name with the answers the walk gives
(ExportTrie.lookup). A trie whose shape could make the two differ (a node reached twice, an edge
that a name also matches after an earlier one) is never tabled: the trie answers every lookup.
"""
from __future__ import annotations

import functools
import itertools
import json
import operator
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple, Union

from tfsetup import bincache
from tfsetup.limits import UnsafeBinary
from tfsetup.macho.reader import (ArchNotFound, Binding, DylibRef, Export, ExportTrie, MachOError, MachOImage, Slice,
                                  _Hostile, _nul, _terminal, _uleb, is_macho, read_macho)

READER_VERSION = "macho.reader 1"  # bump when what reader.py returns for a file changes
_SOURCES = ("bind", "weak_bind", "lazy_bind", "chained")
_PARTS = {"bindings": "bindings 2"}  # a part whose entry format changed: a new key (old entries go unused)


class ExportTable:
    """Exports answering as ExportTrie does (lookup, in, iteration): the trie's bytes walked per name
    while few names are asked for; past table_after lookups, a dict of every name (from the cache, or
    made once from the trie and kept there), since TF's images are asked for ~20k names each."""

    def __init__(self, trie: ExportTrie, key: Optional[str]) -> None:
        self.trie = trie
        self.table_after = 200  # past a few hundred names a dict pays
        self.key = key  # the cache key of the table (None: the trie answers every lookup)
        self.asked = 0
        self.table: Optional[Tuple[Dict[str, int], Dict[str, Export]]] = None

    def lookup(self, name: str) -> Optional[Export]:
        if self.table is None:
            self.asked += 1
            if self.key is None or self.asked <= self.table_after or not self._tabled():
                return self.trie.lookup(name)
        assert self.table is not None
        flags = self.table[0].get(name)
        if flags is not None:
            return Export(name, flags)
        return self.table[1].get(name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.lookup(name) is not None

    def __iter__(self) -> Iterator[Export]:
        return iter(self.trie)

    def _tabled(self) -> bool:
        doc = bincache.load(self.key)
        if doc is None:
            doc = _exports_doc(self.trie)
            if doc is None:
                self.key = None  # not tableable: the trie answers every lookup
                return False
            bincache.store(self.key, doc)
        try:
            self.table = _table(doc)
        except (KeyError, TypeError, ValueError, AttributeError):
            self.key = None
            return False
        return True


def is_macho_cached(path: Union[str, Path]) -> bool:
    key = bincache.file_key(path, READER_VERSION, "magic")
    if bincache.load(key) is True:
        return True
    found = is_macho(path)
    if found:
        bincache.store(key, True)  # only binaries: every other file is read (8 bytes) each time
    return found


def read_macho_cached(path: Union[str, Path], arch: str = "arm64", *, exports: bool = True,
                      bindings: bool = True) -> MachOImage:
    """read_macho of a file on disk, from the cache where it holds the parts asked for."""
    keys = bincache.file_keys(path, READER_VERSION, {part: f"{_PARTS.get(part, part)} {arch}"
                                                     for part in ("header", "exports", "table", "bindings")})
    if keys["header"] is None:
        return read_macho(path, arch, exports=exports, bindings=bindings)
    head = bincache.load(keys["header"])
    table = bincache.load_bytes(keys["exports"]) if exports and head is not None else None
    binds = bincache.load_bytes(keys["bindings"]) if bindings and head is not None else None
    head_kept = False  # a header entry that reads back: not written again
    try:
        if head is not None:
            image = _image(head, str(path))
            head_kept = True
            if (table is not None or not exports) and (binds is not None or not bindings):
                if table is not None:
                    image.exports = ExportTable(ExportTrie(table, str(path)), keys["table"])
                if binds is not None:
                    image.bindings = _bindings(binds)
                return image
    except (KeyError, TypeError, ValueError, IndexError, AttributeError):
        pass  # an entry of an unexpected shape: read the file
    try:
        image = read_macho(path, arch, exports=exports, bindings=bindings)
    except ArchNotFound as exc:
        bincache.store(keys["header"], {"absent": exc.present, "wanted": arch})
        raise
    if not head_kept:
        bincache.store(keys["header"], _header_doc(image))
    if exports:
        bincache.store_bytes(keys["exports"], image.exports.data)
        # no table on a file's first analysis: making one costs more than this proof's lookups save
        # (a one-off proof stays as fast as without the cache); a second proof of it makes and keeps it
        image.exports = ExportTable(image.exports, None)
    if bindings:
        bincache.store_bytes(keys["bindings"], _bindings_entry(image.bindings))
    return image


def _header_doc(image: MachOImage) -> Dict[str, Any]:
    return {"arch": image.arch, "slices": [[s.arch, s.cputype, s.cpusubtype, s.offset, s.size] for s in image.slices],
            "filetype": image.filetype, "flags": image.flags, "minos": image.minos, "sdk": image.sdk,
            "platform": image.platform, "install_name": image.install_name,
            "dylibs": [[d.kind, d.name] for d in image.dylibs], "rpaths": list(image.rpaths)}


def _image(doc: Dict[str, Any], path: str) -> MachOImage:
    if "absent" in doc:  # no slice of the arch asked for: raised again, as the reader raised it
        raise ArchNotFound(path, str(doc["wanted"]), [str(a) for a in doc["absent"]])
    return MachOImage(path=path, arch=str(doc["arch"]), slices=[Slice(str(a), int(t), int(s), int(o), int(z))
                                                                 for a, t, s, o, z in doc["slices"]],
                      filetype=int(doc["filetype"]), flags=int(doc["flags"]), minos=doc["minos"], sdk=doc["sdk"],
                      platform=doc["platform"], install_name=doc["install_name"],
                      dylibs=[DylibRef(str(k), str(n)) for k, n in doc["dylibs"]],
                      rpaths=[str(r) for r in doc["rpaths"]])


def _table(doc: Dict[str, Any]) -> Tuple[Dict[str, int], Dict[str, Export]]:
    plain: Dict[str, int] = {}
    for flags, names in doc["plain"].items():
        plain.update(dict.fromkeys(names.split("\n") if names else [], int(flags)))
    reexports = {str(n): Export(str(n), int(f), int(o), str(r)) for n, f, o, r in doc["reexports"]}
    return plain, reexports


def _bindings_entry(bindings: List[Binding]) -> bytes:
    """The bindings as kept: a JSON line of the columns but the symbols (run-length coded: TF's ~170k
    bindings hold a few hundred runs), then the symbols as UTF-8 (surrogateescape, as read), one a line.
    Writing them raw, not as a JSON string, spares escaping every line break (the bulk of a cold proof's
    writing). A symbol holding a line break goes in the JSON line as a list instead."""
    symbols, ordinals, weak, sources = (list(map(operator.itemgetter(i), bindings)) for i in range(4))
    doc: Dict[str, Any] = {"count": len(bindings), "ordinals": _runs(ordinals), "weak": _runs(map(int, weak)),
                           "sources": _runs(map(_SOURCES.index, sources))}
    joined = "\n".join(symbols)
    if joined.count("\n") != max(len(symbols) - 1, 0):
        doc["symbols"] = list(symbols)
        return json.dumps(doc, separators=(",", ":")).encode() + b"\n"
    return json.dumps(doc, separators=(",", ":")).encode() + b"\n" + joined.encode("utf-8", "surrogateescape")


def _runs(values: Iterable[int]) -> List[List[int]]:
    """[[value, how many in a row], ...] of a column."""
    return [[value, len(list(run))] for value, run in itertools.groupby(values)]


def _unruns(runs: List[List[int]], count: int) -> List[int]:
    out = list(itertools.chain.from_iterable(itertools.repeat(int(v), int(n)) for v, n in runs))
    if len(out) != count:
        raise ValueError("a column of another length")
    return out


def _bindings(entry: bytes) -> List[Binding]:
    """_bindings_entry's bindings back; ValueError (or KeyError, TypeError) for an entry of another shape."""
    head, _, rest = entry.partition(b"\n")
    doc = json.loads(head)
    count = int(doc["count"])
    if "symbols" in doc:
        symbols = [str(s) for s in doc["symbols"]]
    else:
        text = rest.decode("utf-8", "surrogateescape")
        symbols = text.split("\n") if count else []
    if len(symbols) != count:
        raise ValueError("columns of different lengths")
    ordinals, weak = _unruns(doc["ordinals"], count), _unruns(doc["weak"], count)
    sources = map(_SOURCES.__getitem__, _unruns(doc["sources"], count))
    make = functools.partial(tuple.__new__, Binding)  # C all the way: TF's images hold ~300k bindings
    return list(map(make, zip(symbols, ordinals, map(bool, weak), sources)))


def _exports_doc(trie: ExportTrie) -> Optional[Dict[str, Any]]:
    """Every name ExportTrie.lookup finds, with its entry; None when the trie's shape could make a
    walk and a lookup disagree (module doc), or it is malformed (then the trie answers, as always)."""
    try:
        entries = _walk_as_lookup(trie.data)
    except (_Hostile, IndexError, ValueError, MachOError, UnsafeBinary):
        return None
    if entries is None:
        return None
    plain: Dict[int, List[str]] = {}
    reexports: List[List[Any]] = []
    for e in entries:
        if e.is_reexport:
            reexports.append([e.name, e.flags, e.reexport_ordinal, e.reexport_name])
        elif "\n" in e.name:
            return None
        else:
            plain.setdefault(e.flags, []).append(e.name)
    return {"plain": {str(f): "\n".join(names) for f, names in plain.items()}, "reexports": reexports}


def _walk_as_lookup(data: bytes) -> Optional[List[Export]]:
    """All terminals of a trie that is a tree whose every name is found by lookup's first-matching-edge
    rule; None otherwise."""
    if not data:
        return []
    out: List[Export] = []
    seen = set()
    names = set()
    # (node offset, the name so far, [(bytes consumed before a level, the edges before the one taken)])
    stack: List[Tuple[int, bytes, List[Tuple[int, List[bytes]]]]] = [(0, b"", [])]
    while stack:
        pos, prefix, earlier = stack.pop()
        if pos >= len(data) or pos in seen:
            return None
        seen.add(pos)
        terminal_size, p = _uleb(data, pos)
        if terminal_size:
            if prefix in names or any(prefix.startswith(e, at) for at, edges in earlier for e in edges):
                return None  # lookup would stop at another terminal, or take an earlier edge, for this name
            names.add(prefix)
            out.append(_terminal(data, p, prefix.decode("utf-8", "surrogateescape")))
        p += terminal_size
        if p >= len(data):
            return None
        children = data[p]
        p += 1
        taken: List[bytes] = []
        for _ in range(children):
            edge_end = _nul(data, p)
            edge = data[p:edge_end]
            child, p = _uleb(data, edge_end + 1)
            # an earlier edge can only match a name that took this one when it is empty or shares its
            # first byte (a well-formed trie's edges never do): only those are checked at the terminals
            blocking = [e for e in taken if not e or (edge and e[0] == edge[0])]
            stack.append((child, prefix + edge, earlier + [(len(prefix), blocking)] if blocking else earlier))
            taken.append(edge)
    return out
