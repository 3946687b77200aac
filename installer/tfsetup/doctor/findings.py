"""A finding: what is wrong, how bad, and the fix (shaped like flutter doctor's validators)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Tuple

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
