"""The options several commands share, declared once (typer): each reads the same in every --help."""
from __future__ import annotations

import typer

from tfsetup.platforms import TEAM_PLATFORMS

JSON_OPT = typer.Option(False, "--json", help="Print exactly one JSON document on stdout.")
RECIPES_OPT = typer.Option(None, "--recipes-file", metavar="FILE",
                           help="Use this recipes table instead of the bundled one.",
                           dir_okay=False)
HOST_FILE_OPT = typer.Option(None, "--host-file", metavar="FILE", help="Use the host described by this facts JSON "
                             "(from `tfsetup detect --json` on that machine; - reads stdin).", dir_okay=False)
TF_OPT = typer.Option(None, "--tf", metavar="X.Y", help="TensorFlow version, e.g. 2.19 or 2.19.1.")
PY_OPT = typer.Option(None, "--python", metavar="X.Y", help="Python minor version, e.g. 3.12.")
CPU_OPT = typer.Option(False, "--cpu-only", help="Plain CPU TensorFlow even when a GPU is present.")
ACCEL_OPT = typer.Option(None, "--accelerator", metavar="metal|cuda|cpu", help="Insist on this accelerator.")
RECIPE_OPT = typer.Option(None, "--recipe", metavar="ID", help="Use this recipe id (see `tfsetup recipes`).")
PRE_OPT = typer.Option(False, "--pre", help="Allow pre-release recipes and interpreters.")
KERAS_OPT = typer.Option(None, "--keras", metavar="2|3", help="2: a stack whose tf.keras is Keras 2 (TF + tf-keras, "
                         "TF_USE_LEGACY_KERAS=1); default: the recipe's own Keras.")
NO_PROJECT_OPT = typer.Option(False, "--no-project", help="Ignore tfsetup.toml / [tool.tfsetup] and tfsetup.lock.")
PLATFORM_OPT = typer.Option([], "--platform", metavar="PLATFORM",
                            help=f"Team platform: {', '.join(TEAM_PLATFORMS)} (repeatable).")
PYTHONS_OPT = typer.Option([], "--python", metavar="X.Y", help="Python minor version, e.g. 3.11 (repeatable).")
PY_DOWNLOADS_OPT = typer.Option(None, "--python-downloads", metavar="auto|never",
                                help="auto (default): a native CPython downloaded by uv may be chosen when no "
                                "Python here reaches the best recipe (or the best one is past end of life); "
                                "never: only the Pythons on this host.")
MANAGED_PY_OPT = typer.Option(False, "--managed-python", help="Use a uv-managed CPython (downloaded if needed) "
                              "even where a host Python fits: the same interpreter on every machine.")
