"""Prove on any OS that an env loads on its target: take its exact wheels (a recipe lock, exact pins,
or an env already on disk), unpack them for the target platform (fetch.py), and run the target's
loader model over the files (loader.py: Mach-O through macho/ in macos.py, ELF through elfcheck/ in
linux.py). One result (result.py), one proof path (proof.py) for both.
"""
