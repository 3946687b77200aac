"""A finding: what is wrong, how bad, and the fix (shaped like flutter doctor's validators)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Sequence, Tuple

SEVERITIES = ("error", "warning", "info")


@dataclass(frozen=True)
class Finding:
    id: str  # stable: rosetta-python, numpy-abi-mismatch, ...
    severity: str  # error | warning | info
    message: str
    fix: str
    evidence: Tuple[str, ...] = ()  # the facts or log lines that triggered it
    sources: Tuple[str, ...] = ()  # public reports that document the problem
    data: Dict[str, Any] = field(default_factory=dict, compare=False)

    def to_json(self) -> Dict[str, Any]:
        return {"id": self.id, "severity": self.severity, "message": self.message, "fix": self.fix,
                "evidence": list(self.evidence), "sources": list(self.sources)}


def worst_first(findings: List[Finding]) -> List[Finding]:
    return sorted(findings, key=lambda f: SEVERITIES.index(f.severity))


def distinct_evidence(lines: Sequence[str]) -> Tuple[str, ...]:
    """Each fact once: a line that another one repeats with more detail ("numpy 2.1.3 installed" beside
    "numpy 2.1.3 installed (matches numpy>=2)") goes, the more detailed one stays where the first was."""
    unique = list(dict.fromkeys(lines))
    out: List[str] = []
    for line in unique:
        longer = next((other for other in unique if other != line and other.startswith(line + " (")), None)
        keep = longer or line
        if keep not in out:
            out.append(keep)
    return tuple(out)


def _as_specific(_: Finding) -> int:
    return 0


def merge_findings(findings: Iterable[Finding], specificity: Callable[[Finding], int] = _as_specific
                   ) -> List[Finding]:
    """THE one merge of findings that share an id, for doctor and explain alike: one finding per id,
    worst first.

    The most specific finding speaks (its message and fix, its sources first); among equals, the one
    given first. doctor gives its built-in rules, whose text is computed from the env's own facts, before
    the table's entries (all equally specific); explain scores a curated entry by the length of the
    signature it matched and a built-in pattern 0, so a curated entry speaks over the generic rule and
    a precise signature over a vague one. The severity is the worst; the evidence (each fact once),
    sources and data of all of them are kept, in the order given."""
    merged: Dict[str, Finding] = {}
    best: Dict[str, int] = {}
    for f in findings:
        prev, score = merged.get(f.id), specificity(f)
        if prev is None:
            merged[f.id], best[f.id] = f, score
            continue
        speaker, other = (f, prev) if score > best[f.id] else (prev, f)
        best[f.id] = max(best[f.id], score)
        data = dict(prev.data)
        for key, value in f.data.items():
            if isinstance(value, list) and isinstance(data.get(key), list):
                data[key] = data[key] + [v for v in value if v not in data[key]]
            else:
                data.setdefault(key, value)
        merged[f.id] = Finding(f.id, min(prev.severity, f.severity, key=SEVERITIES.index), speaker.message,
                               speaker.fix, distinct_evidence(prev.evidence + f.evidence),
                               tuple(dict.fromkeys(speaker.sources + other.sources)), data)
    return worst_first(list(merged.values()))
