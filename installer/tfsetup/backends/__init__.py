"""Install engines behind one interface (see base.Backend)."""
from __future__ import annotations

from typing import Optional

from tfsetup.backends.base import Backend, BackendError


def get_backend(name: str, uv: Optional[str] = None) -> Backend:
    if name == "uv":
        from tfsetup.backends.uv import UvBackend

        return UvBackend(uv)
    if name == "pip":
        from tfsetup.backends.pip import PipBackend

        return PipBackend()
    raise BackendError("backend", f"unknown backend {name!r}; choose uv or pip")
