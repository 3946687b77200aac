"""`tfsetup detect`: this machine's facts (host/)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Dict

from tfsetup.commands._common import load_host
from tfsetup.host.facts import HostFacts


@dataclass
class DetectOutcome:
    command: ClassVar[str] = "detect"
    facts: HostFacts
    exit_code: int = 0

    def to_json(self) -> Dict[str, Any]:
        return self.facts.to_json()


def run() -> DetectOutcome:
    return DetectOutcome(load_host(None))
