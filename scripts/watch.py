#!/usr/bin/env python3
"""The release watch: what PyPI has released since the recipes table was written, and what it means.

For every package the table pins (the TF distributions and the Metal plug-in of the rows, and Keras,
tf-keras, NumPy, ml-dtypes and protobuf of the locks), the releases the table has not seen: uploaded
after its newest lock was resolved (`--since` to choose the date) and pinned nowhere, read from the
index itself (PEP 691 listings with PEP 700 upload times; one request per package). Then:

- each new TensorFlow (or tensorflow-macos) with macOS arm64 wheels is proven (`tfsetup prove`, the
  static dyld model over the real wheels) against every tensorflow-metal release with a wheel for the
  same Python;
- each new tensorflow-metal is proven against every TensorFlow of the table's Metal rows;
- each new Keras / tf-keras / NumPy / ml-dtypes / protobuf release is resolved (`uv pip compile`, no
  download) with every row x Python whose lock pins the package: it fits the row's metadata
  constraints, or uv says which requirement excludes it.

With --write, accepting a release becomes reviewing a diff and running the tests: a new TF + Metal pair
that loads becomes a candidate row in recipes/recipes.toml (not the default; its notes say what was
proven), and every row a dependency release fits is re-locked (scripts/lock_recipes.py, at one
cut-off) and its proofs remade (scripts/prove_recipes.py).

    scripts/watch.py                       report (exit 0; 1 when something new needs a decision)
    scripts/watch.py --write               and write the candidate rows, locks and proofs
    scripts/watch.py --only ml-dtypes      one package
    scripts/watch.py --pre                 pre-releases too
    scripts/watch.py --json                one JSON document on stdout

UV_CACHE_DIR is honoured: with a warm cache a new TF release is assessed in well under a minute.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "installer"))

from packaging.utils import canonicalize_name  # noqa: E402
from packaging.version import InvalidVersion, Version  # noqa: E402

from tfsetup.recipes import Recipe, RecipeTable, load_recipes  # noqa: E402
from tfsetup.resolve import ResolveError  # noqa: E402

sys.path.insert(0, str(ROOT / "scripts"))
import lock_recipes as lr  # noqa: E402

TF_DISTRIBUTIONS = ("tensorflow", "tensorflow-macos", "tensorflow-cpu")
# Releases that need no decision, with why (a source, like every fact the table relies on).
SETTLED = {
    "tensorflow-macos": "Apple's build: superseded by `tensorflow` from 2.13 on, nothing after 2.16.2 "
                        "(https://pypi.org/simple/tensorflow-macos/); the table keeps only the 2.9 row for "
                        "macOS 11, which `tensorflow` does not support",
}
PLUGIN = "tensorflow-metal"
DEPENDENCIES = ("keras", "tf-keras", "numpy", "ml-dtypes", "protobuf")
WATCHED = TF_DISTRIBUTIONS + (PLUGIN,) + DEPENDENCIES


@dataclass
class Finding:
    package: str
    version: str
    kind: str  # "tf" | "plugin" | "dependency"
    checks: List[Dict[str, Any]] = field(default_factory=list)  # one per pair / row x python
    written: List[str] = field(default_factory=list)  # --write: files changed


def _version(text: str) -> Optional[Version]:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def pinned_versions(table: RecipeTable) -> Dict[str, Set[Version]]:
    """Every version of a watched package the table pins, in its rows or its locks."""
    out: Dict[str, Set[Version]] = {name: set() for name in WATCHED}
    for recipe in table.recipes:
        out.setdefault(canonicalize_name(recipe.distribution), set()).add(Version(recipe.tensorflow))
        if recipe.plugin:
            out.setdefault(canonicalize_name(recipe.plugin), set()).add(Version(recipe.plugin_version))
        for lock in recipe.locks.values():
            for name, version in lock.pins.items():
                v = _version(version)
                if canonicalize_name(name) in out and v is not None:
                    out[canonicalize_name(name)].add(v)
    return out


def wheels_by_version(listing: lr.Listing) -> Dict[Version, List[str]]:
    out: Dict[Version, List[str]] = {}
    for text, files in listing.items():
        v = _version(text)
        wheels = [f.filename for f in files if f.filename.endswith(".whl") and not f.yanked]
        if v is not None and wheels:
            out[v] = wheels
    return out


def first_upload(listing: lr.Listing) -> Dict[Version, str]:
    """version -> when its first file was uploaded ("" where the index does not say)."""
    out: Dict[Version, str] = {}
    for text, files in listing.items():
        v = _version(text)
        times = sorted(f.upload_time for f in files if f.upload_time)
        if v is not None:
            out[v] = times[0] if times else ""
    return out


def unseen_releases(pinned: Set[Version], wheels: Dict[Version, List[str]], uploaded: Dict[Version, str],
                    since: str, pre: bool) -> List[Version]:
    """Releases with wheels that no row or lock pins: newer than the newest pinned one (ml-dtypes 0.7.0
    while the locks pin 0.6.0), or uploaded after `since` (a patch of an older line, 2.19.2 after 2.21.0,
    which a row may want). Pure."""
    newest = max((v for v in pinned if not v.is_prerelease), default=None)
    return sorted(v for v in wheels if v not in pinned and (pre or not v.is_prerelease)
                  and ((newest is not None and v > newest) or uploaded.get(v, "") > since))


def table_date(table: RecipeTable) -> str:
    """The newest resolution behind the table: its locks' cut-off (or date) headers."""
    seen = []
    for recipe in table.recipes:
        for lock in recipe.locks.values():
            try:
                head = lr.read_header(Path(lock.path).read_text(encoding="utf-8"))
            except OSError:
                continue
            cutoff = (head.get("exclude-newer") or "").split(" ")[0] or head.get("date", "")
            seen.append(cutoff if "T" in cutoff else f"{cutoff}T00:00:00Z" if cutoff else "")
    return max(seen, default="")


def mac_pythons(wheels: Sequence[str]) -> Set[str]:
    """The Python minors with a macOS arm64 wheel: "3.11" from `...-cp311-cp311-macosx_12_0_arm64.whl`."""
    out = set()
    for name in wheels:
        parts = name[:-4].split("-")
        if len(parts) >= 5 and "macosx" in parts[-1] and ("arm64" in parts[-1] or "universal2" in parts[-1]):
            for tag in parts[-3].split("."):
                if tag.startswith("cp3") and tag[3:].isdigit():
                    out.add(f"3.{tag[3:]}")
    return out


def prove_pair(tf: str, tf_version: str, metal: str, pythons: Sequence[str]) -> Dict[str, Any]:
    """`tfsetup prove` of exact pins for macOS arm64, on the newest of the Pythons both have wheels for:
    its JSON verdict, or why it could not run."""
    python = pythons[-1]
    argv = [sys.executable, "-m", "tfsetup", "prove", "--platform", "macos-arm64", "--python", python,
            f"{tf}=={tf_version}", f"{PLUGIN}=={metal}", "--json"]
    started = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=900)
    seconds = round(time.perf_counter() - started, 1)
    base = {"tf": f"{tf}=={tf_version}", "plugin": f"{PLUGIN}=={metal}", "python": python, "pythons": list(pythons),
            "seconds": seconds}
    try:
        doc = json.loads(proc.stdout)
    except ValueError:
        return dict(base, outcome="error", detail=(proc.stderr.strip().splitlines() or ["no output"])[-1])
    if "error" in doc:
        return dict(base, outcome="error", detail=doc["error"])
    problems = [f"{p['kind']}: {p['file']}" for p in doc.get("problems", [])]
    return dict(base, outcome="loads" if doc.get("loads") else "does-not-load", detail="; ".join(problems[:3]),
                min_os=(doc.get("highest_minos") or {}).get("minos") if isinstance(doc.get("highest_minos"), dict)
                else None)


def fits_row(uv: str, recipe: Recipe, python: str, package: str, version: Version) -> Dict[str, Any]:
    """Does `package==version` resolve together with the row's own input (its metadata constraints)?"""
    lines = [*recipe.resolver_input(), f"{package}=={version}"]
    base = {"recipe": recipe.id, "python": python}
    try:
        lr.uv_compile(uv, recipe, python, lines, hashes=False, timeout=300)
    except (ResolveError, subprocess.TimeoutExpired) as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        why = [ln for ln in lines if "Because" in ln] or [ln for ln in lines if "no wheels" in ln.lower()] or lines
        return dict(base, outcome="excluded", detail=(why or ["?"])[0][:300])
    return dict(base, outcome="fits", detail="")


def prove_pairs(finding: Finding, pairs: Sequence[Tuple[str, str, str, Sequence[str]]], jobs: int) -> Finding:
    """Each (tf, tf_version, metal, pythons) proven by its own `tfsetup prove`, `jobs` at a time (a proof is
    mostly uv linking a tree and reading binaries; kept trees are held while proven, prove/trees.py), the
    checks in the pairs' order."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        finding.checks.extend(pool.map(lambda pair: prove_pair(*pair), pairs))
    return finding


def tf_findings(table: RecipeTable, index: lr.Index, name: str, new: List[Version], pre: bool,
                jobs: int = 1) -> List[Finding]:
    if name == "tensorflow-cpu":  # Linux only: whether rows can take it is a resolution, like a dependency
        return []
    metal = wheels_by_version(index.listing(PLUGIN))
    tf_wheels = wheels_by_version(index.listing(name))
    out = []
    for v in new:
        pythons = mac_pythons(tf_wheels[v])
        pairs = []
        for plugin, files in sorted(metal.items(), reverse=True):
            if plugin.is_prerelease and not pre:
                continue
            shared = sorted(pythons & mac_pythons(files), key=Version)
            if shared:
                pairs.append((name, str(v), str(plugin), shared))
        out.append(prove_pairs(Finding(name, str(v), "tf"), pairs, jobs))
    return out


def plugin_findings(table: RecipeTable, index: lr.Index, new: List[Version], jobs: int = 1) -> List[Finding]:
    rows = [r for r in table.recipes if r.os == "macos" and r.machine == "arm64" and r.plugin == PLUGIN]
    metal = wheels_by_version(index.listing(PLUGIN))
    out = []
    for v in new:
        plugin_pythons = mac_pythons(metal[v])
        pairs = []
        for tf in sorted({(r.distribution, r.tensorflow) for r in rows}, key=lambda t: Version(t[1]), reverse=True):
            tf_pythons = mac_pythons(wheels_by_version(index.listing(tf[0])).get(Version(tf[1]), []))
            shared = sorted(plugin_pythons & tf_pythons, key=Version)
            if shared:
                pairs.append((tf[0], tf[1], str(v), shared))
        out.append(prove_pairs(Finding(PLUGIN, str(v), "plugin"), pairs, jobs))
    return out


def lagging(table: RecipeTable, name: str, version: Version) -> List[Tuple[Recipe, str]]:
    """The row x Python locks that pin `name` at an older version than `version` (pure)."""
    out = []
    for recipe in table.recipes:
        for python, lock in sorted(recipe.locks.items()):
            pinned = next((_version(v) for n, v in lock.pins.items() if canonicalize_name(n) == name), None)
            if pinned is not None and pinned < version:
                out.append((recipe, python))
    return out


def dependency_findings(table: RecipeTable, uv: str, name: str, new: List[Version], jobs: int) -> List[Finding]:
    """Each release resolved with every row x Python whose lock pins an older version of the package (a
    row already at it has nothing to decide), so a release one new row took is still news for the rest."""
    out = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for v in new:
            cases = lagging(table, name, v)
            if not cases:
                continue
            finding = Finding(name, str(v), "dependency")
            finding.checks = list(pool.map(lambda case: fits_row(uv, case[0], case[1], name, v), cases))
            out.append(finding)
    return out


# ---------------------------------------------------------------------------------------------
# --write

_NOTES_END = 'then decide whether it becomes the default."""'


def candidate_row(table: RecipeTable, tf: str, tf_version: str, metal: str, pythons: Sequence[str],
                  min_os: Optional[str], today: str) -> Tuple[str, str]:
    """(id, TOML text) of a Metal row for a pair that loads, modelled on the newest Metal row (pure)."""
    model = max((r for r in table.recipes if r.os == "macos" and r.machine == "arm64" and r.plugin == PLUGIN),
                key=lambda r: r.tf_version)
    v = Version(tf_version)
    recipe_id = f"macos-arm64-metal-tf{v.major}.{v.minor}"
    if any(r.id == recipe_id for r in table.recipes):
        recipe_id += f"-metal{metal}"
    text = f'''
[[recipe]]
id = "{recipe_id}"
os = "macos"
machine = "arm64"
accelerator = "metal"
distribution = "{tf}"
tensorflow = "{tf_version}"
plugin = "{PLUGIN}"
plugin_version = "{metal}"
pythons = [{", ".join(f'"{p}"' for p in pythons)}]
min_os = "{min_os or model.min_os}"
requires_avx = false
default = false
status = "stable"
keras = {model.keras}
keras_package = "{model.keras_package}"
summary = "Candidate (scripts/watch.py, {today}): {tf} {tf_version} with {PLUGIN} {metal} on Apple Silicon"
notes = """Written by scripts/watch.py --write on {today}: `tfsetup prove` found that {PLUGIN} {metal} loads \\
with {tf} {tf_version} (static dyld model over the real macOS arm64 wheels). Review, run the tests, \\
{_NOTES_END}
sources = ["https://pypi.org/simple/{tf}/", "https://pypi.org/simple/{PLUGIN}/"]
'''
    return recipe_id, text


def on_demand_note(proofs: Path, min_os: str) -> str:
    """The notes' sentence for the binaries a row's proofs found loaded only on demand and needing a newer
    macOS than the row's min_os (the wheel's top-level package and the macOS it needs), or ""."""
    needs: Dict[str, str] = {}
    for path in sorted(proofs.glob("py*.json")):
        for entry in json.loads(path.read_text(encoding="utf-8")).get("on_demand", []):
            minos = entry.get("minos")
            if minos and Version(minos) > Version(min_os):
                package = entry["file"].split("/")[0].replace("_", "-")
                needs[package] = max(needs.get(package, minos), minos, key=Version)
    if not needs:
        return ""
    return ("On-demand binaries newer than min_os (read from the binaries, recipes/proofs/): "
            + "; ".join(f"{package}'s binary needs macOS {minos}" for package, minos in sorted(needs.items()))
            + "; `import tensorflow` does not load them.")


def add_to_notes(text: str, recipe_id: str, sentence: str) -> str:
    """recipes.toml's text with `sentence` added at the end of a candidate row's notes (written by
    candidate_row: they end with its review request)."""
    start = text.index(f'id = "{recipe_id}"')
    end = text.index(_NOTES_END, start) + len(_NOTES_END) - 3
    return text[:end] + " " + sentence + text[end:]


def write(findings: Sequence[Finding], table: RecipeTable, today: str) -> None:
    """Candidate rows for pairs that load, then every affected row re-locked (one cut-off) and re-proven."""
    recipes_toml = ROOT / "recipes" / "recipes.toml"
    caused: Dict[str, Finding] = {}  # recipe id -> the finding that makes it re-locked
    for f in findings:
        if f.kind == "dependency":
            caused.update({c["recipe"]: f for c in f.checks if c["outcome"] == "fits"})
            continue
        for check in f.checks:  # newest plug-in first: one candidate row per release
            tf, tf_version = check["tf"].split("==")
            metal = check["plugin"].split("==")[1]
            if check["outcome"] != "loads" or any(r.distribution == tf and r.tensorflow == tf_version and
                                                  r.plugin_version == metal for r in table.recipes):
                continue
            recipe_id, text = candidate_row(table, tf, tf_version, metal, check["pythons"], check.get("min_os"), today)
            with open(recipes_toml, "a", encoding="utf-8") as handle:
                handle.write(text)
            f.written.append(f"recipes/recipes.toml: candidate row {recipe_id}")
            caused[recipe_id] = f
            break
    if not caused:
        return
    ids = sorted(caused)
    lr.main([a for rid in ids for a in ("--recipe", rid)])  # one cut-off; all of a row's locks move together
    table = load_recipes(recipes_toml)
    mac = [rid for rid in ids if next(r for r in table.recipes if r.id == rid).os == "macos"]
    if mac:
        subprocess.run([sys.executable, str(ROOT / "scripts" / "prove_recipes.py"),
                        *[a for rid in mac for a in ("--recipe", rid)]], check=False)
    text = recipes_toml.read_text(encoding="utf-8")
    for rid in ids:  # a candidate's notes say what its proofs found loaded only on demand, as every row's do
        row = next(r for r in table.recipes if r.id == rid)
        sentence = on_demand_note(ROOT / "recipes" / "proofs" / rid, row.min_os)
        if sentence and rid in mac and f"Written by scripts/watch.py --write on {today}" in row.notes:
            text = add_to_notes(text, rid, sentence)
    recipes_toml.write_text(text, encoding="utf-8")
    for rid, f in caused.items():
        f.written.append(f"recipes/locks/{rid}/" + (f" and recipes/proofs/{rid}/" if rid in mac else ""))


# ---------------------------------------------------------------------------------------------

def render(findings: Sequence[Finding]) -> None:
    for f in findings:
        print(f"\n{f.package} {f.version} ({f.kind})")
        for c in f.checks:
            what = f"{c['tf']} + {c['plugin']} py{c['python']}" if "tf" in c else f"{c['recipe']} py{c['python']}"
            print(f"  {c['outcome']:14s} {what}" + (f": {c['detail']}" if c.get("detail") else "")
                  + (f" ({c['seconds']} s)" if "seconds" in c else ""))
        if not f.checks:
            print("  nothing in the table it could join")
        for line in f.written:
            print(f"  wrote {line}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", choices=WATCHED, help="only this package (repeatable)")
    parser.add_argument("--pre", action="store_true", help="pre-releases too")
    parser.add_argument("--since", type=lr.check_cutoff, metavar="TIME",
                        help="releases uploaded after this (default: the newest lock's resolution)")
    parser.add_argument("--write", action="store_true", help="write candidate rows, locks and proofs")
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    parser.add_argument("-j", "--jobs", type=int, default=8, help="parallel resolutions (default 8)")
    parser.add_argument("--proofs", type=int, default=4, metavar="N", help="parallel proofs (default 4)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    table = load_recipes(None)
    index = lr.Index()
    names = args.only or list(WATCHED)
    index.prefetch(list({*names, PLUGIN, *TF_DISTRIBUTIONS}))
    pinned = pinned_versions(table)
    since = args.since or table_date(table)
    uv = lr.find_uv()
    findings: List[Finding] = []
    news: Dict[str, List[str]] = {}
    for name in names:
        try:
            listing = index.listing(name)
        except ResolveError as exc:
            print(f"watch: error: {exc}", file=sys.stderr)
            return 4
        wheels = wheels_by_version(listing)
        new = unseen_releases(pinned.get(name, set()), wheels, first_upload(listing), since, args.pre)
        if name in DEPENDENCIES:  # the newest release is news while some lock lags behind it
            newest = max((v for v in wheels if args.pre or not v.is_prerelease), default=None)
            if newest is not None and lagging(table, name, newest):
                new = sorted(set(new) | {newest})
        if name in SETTLED and new and not args.only:
            news[name] = [f"{len(new)} release(s) settled: {SETTLED[name]}"]
            continue
        if not new:
            news[name] = []
            continue
        if name in TF_DISTRIBUTIONS:
            found = tf_findings(table, index, name, new, args.pre, args.proofs)
        elif name == PLUGIN:
            found = plugin_findings(table, index, new, args.proofs)
        else:
            found = dependency_findings(table, uv, name, new, args.jobs)
        findings += found
        news[name] = [str(v) for v in new if name not in DEPENDENCIES or any(f.version == str(v) for f in found)]
    if args.write:
        write(findings, table, time.strftime("%Y-%m-%d"))
    seconds = round(time.perf_counter() - started, 1)
    if args.json:
        print(json.dumps({"since": since, "newer": news, "findings": [asdict(f) for f in findings],
                          "seconds": seconds}, indent=2))
    else:
        print(f"released since {since}: " + (", ".join(f"{n} {' '.join(v)}" for n, v in news.items() if v)
                                             or "nothing"))
        render(findings)
        print(f"\n{seconds} s")
    actionable = any(c.get("outcome") in ("loads", "fits") for f in findings for c in f.checks)
    return 1 if actionable and not args.write else 0


if __name__ == "__main__":
    sys.exit(main())
