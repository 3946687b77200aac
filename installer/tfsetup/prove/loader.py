"""The one interface prove judges a tree through: a Loader per binary format (macos.py: Mach-O through
macho/'s dyld model; linux.py: ELF through elfcheck/'s ld.so model), picked by the target platform.

A loader knows what its OS's files are judged against (macOS or glibc: `option`), which wheels to fetch
for it, how to check a tree, the line its loader prints for a problem, the fix, the notes, and the
JSON words of its proof (dyld/ld, minos/glibc). Everything else (fetching, the result, the command,
rendering) is one code path for both.
"""
from __future__ import annotations


from tfsetup.errors import EXIT_BAD_INPUT, TfsetupError
from tfsetup.platforms import UV_PLATFORMS, split_platform
from tfsetup.prove.linux import ElfLoader
from tfsetup.prove.macos import MachOLoader
from tfsetup.prove.result import Loader

MODELLED = ("macos", "linux")  # the OSes whose loader prove models (not Windows's PE loader)


def loader_for(platform: str) -> Loader:
    """The loader of a proven platform; exit 2 for Windows (not modelled) or an unknown name."""
    os_name, machine = split_platform(platform)
    if platform in UV_PLATFORMS and os_name == "macos":
        return MachOLoader(platform, machine)
    if platform in UV_PLATFORMS and os_name == "linux":
        return ElfLoader(platform, machine)
    if platform in UV_PLATFORMS:
        raise TfsetupError(f"{platform} targets are not proven: prove models macOS's loader (Mach-O) and "
                           "Linux's (ELF, prove/linux.py), not Windows's (PE)", EXIT_BAD_INPUT,
                           fix="prove a Mac or Linux target: --platform macos-arm64 or linux-x86_64, or --host-file "
                           "of a Mac or a Linux machine")
    raise TfsetupError(f"unknown --platform {platform!r}", EXIT_BAD_INPUT,
                       fix=f"use one of {', '.join(p for p in UV_PLATFORMS if p.startswith('macos-'))}")
