"""Scripts run inside another interpreter (stdlib only, Python 3.9+, no tfsetup installed there).

Each probe writes its answer's schema once, as a table of fields (name -> the value when an answer
lacks it; its type is the default's type), beside the code that answers; tfsetup reads an answer
through that same table with `read_answer`, so the probe and its reader cannot drift apart (like
virtualenv's discovery/py_info.py).
"""
from __future__ import annotations

from typing import Any, Dict, Mapping


def read_answer(answer: Mapping[str, Any], fields: Mapping[str, Any]) -> Dict[str, Any]:
    """The fields of a probe's answer, each of its schema's type; a field missing (or null) takes its
    default. ValueError when a value cannot be of its type (an interpreter that lies is skipped, not a crash)."""
    read: Dict[str, Any] = {}
    for name, default in fields.items():
        value = answer.get(name)
        try:
            read[name] = default if value is None else type(default)(value)
        except (TypeError, ValueError):
            raise ValueError(f"the probe's {name!r} is not a {type(default).__name__}: {value!r:.80}") from None
    return read
