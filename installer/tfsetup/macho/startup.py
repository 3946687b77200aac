"""What `import tensorflow` loads at start-up, read from TensorFlow's own loading rules in the env.

prove (prove/macos.py) and doctor (doctor/inspect.py -> rules.py) judge "loads" by these images only; every
other binary is loaded on demand, and a problem in it is reported as a note (with the macOS it needs),
never as a failure. One home for that rule: both call prove.check_loads, which asks this module.

TensorFlow's rules, in its tensorflow/__init__.py (generated from tensorflow/api_template.__init__.py
in tensorflow/tensorflow; quoted from the installed 2.21.0 wheel, lines 375-378 and 422-446; the
2.15.1 wheel has the same code at lines 385-387 and 438-460):

    # Load tensorflow-io-gcs-filesystem if enabled
    if (_os.getenv("TF_USE_MODULAR_FILESYSTEM", "0") == "true" or
        _os.getenv("TF_USE_MODULAR_FILESYSTEM", "0") == "1"):
      import tensorflow_io_gcs_filesystem as _tensorflow_io_gcs_filesystem
    ...
    if _running_from_pip_package():              # this file lies under a site-packages dir
      _kernel_dir = _os.path.join(_tf_dir, "core", "kernels")
      if _os.path.exists(_kernel_dir):
        _ll.load_library(_kernel_dir)             # its libtfkernel* files
      for _s in _site_packages_dirs:
        _plugin_dir = _os.path.join(_s, "tensorflow-plugins")
        if _os.path.exists(_plugin_dir):
          _ll.load_library(_plugin_dir)
          _ll.load_pluggable_device_library(_plugin_dir)

and tensorflow/python/framework/load_library.py: load_pluggable_device_library(dir) loads every file
for which `_is_shared_object(f)` holds, which on Darwin is `filename.endswith('.dylib')` (lines
100-117 of the same wheel).

So at start-up: TensorFlow's own images (its package `tensorflow/` and what they link), every
tensorflow-plugins/*.dylib, and the Python extension modules its imports reach. A top-level module
that tensorflow/__init__.py imports only inside an `if` on an environment variable is loaded only with
that variable set: read here from the env's own tensorflow/__init__.py (ast, nothing runs), so a
release that changes the rule changes the answer (no list of package names). A program (Mach-O
MH_EXECUTE, e.g. tensorboard-data-server's bin/server, which TensorBoard starts as a process) is never
loaded into Python: dlopen() refuses a main executable.

Every other binary counts as loaded: the extension modules of TF's requirements are imported by
`import tensorflow` or by the first use of the API it re-exports, and deciding which exactly would
need running it. Over-approximating keeps "loads" a promise.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

from .reader import MH_EXECUTE

TF_INIT = "tensorflow/__init__.py"
PLUGIN_DIR = "tensorflow-plugins"
PROGRAM = "a program (run as a process, never loaded by `import tensorflow`)"


@dataclass(frozen=True)
class StartupRules:
    """TensorFlow's loading rules of one env. `tensorflow` False: no TensorFlow, nothing is on demand
    but programs (the env's every binary is judged)."""
    tensorflow: bool = False
    conditional: Dict[str, str] = field(default_factory=dict)  # top-level module -> "VAR=value"

    def on_demand(self, rel: str, filetype: Optional[int] = None) -> Optional[str]:
        """Why the file at `rel` (relative to site-packages) is not loaded by `import tensorflow`, or None
        when it is (or may be)."""
        if filetype == MH_EXECUTE:
            return PROGRAM
        if not self.tensorflow or rel.startswith(("tensorflow/", PLUGIN_DIR + "/")):
            return None
        top = rel.split("/", 1)[0].split(".", 1)[0]  # a package dir, or a one-file extension module
        if top in self.conditional:
            return f"loaded only with {self.conditional[top]}"
        return None


def startup_rules(site: Union[str, Path]) -> StartupRules:
    """The rules of the TensorFlow installed in `site` (a site-packages or --target dir)."""
    init = Path(site) / TF_INIT
    if not init.is_file():
        return StartupRules()
    try:
        source = init.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return StartupRules(tensorflow=True)
    return StartupRules(tensorflow=True, conditional=conditional_imports(source))


def conditional_imports(source: str) -> Dict[str, str]:
    """top-level module -> "VAR=value" for each module that the module-level code of `source` imports
    only inside an `if` testing environment variable VAR (and nowhere unconditionally)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}
    conditional: Dict[str, str] = {}
    always: List[str] = []
    for node in tree.body:
        if isinstance(node, ast.If):
            test = _env_test(node.test)
            if test is not None:
                for name in _imported(node.body):
                    conditional.setdefault(name, f"{test[0]}={test[1]}")
                continue
        always += _imported([node])
    return {name: why for name, why in conditional.items() if name not in always and name != "tensorflow"}


def _imported(body: List[ast.stmt]) -> List[str]:
    names: List[str] = []
    for stmt in body:
        for node in ast.walk(stmt):
            if isinstance(node, ast.Import):
                names += [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.append(node.module.split(".")[0])
    return names


def _reads_environ(func: ast.expr) -> bool:
    """os.getenv / _os.getenv / getenv, or <...>.environ.get."""
    if isinstance(func, ast.Name):
        return func.id == "getenv"
    if not isinstance(func, ast.Attribute):
        return False
    if func.attr == "getenv":
        return True
    owner = func.value
    return func.attr == "get" and ((isinstance(owner, ast.Attribute) and owner.attr == "environ")
                                   or (isinstance(owner, ast.Name) and owner.id == "environ"))


def _env_test(test: ast.expr) -> Optional[Tuple[str, str]]:
    """(VAR, the value that enables it) when `test` reads an environment variable, else None. The value
    is "1" when the test compares with "1" (TF accepts "true" or "1"), else the first string compared."""
    variable: Optional[str] = None
    values: List[str] = []
    for node in ast.walk(test):
        if isinstance(node, ast.Call) and _reads_environ(node.func) and node.args \
                and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            variable = variable or node.args[0].value
        elif isinstance(node, ast.Compare):
            values += [c.value for c in node.comparators if isinstance(c, ast.Constant) and isinstance(c.value, str)]
    if variable is None:
        return None
    return variable, "1" if "1" in values else (values[0] if values else "1")


__all__ = ["PROGRAM", "StartupRules", "conditional_imports", "startup_rules"]
