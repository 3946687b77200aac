"""commands/_options.py: the options several commands share, declared once, parse the same wherever
they are used (a small typer app using them, driven like the CLI)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer
from typer.testing import CliRunner

from tfsetup.commands import _options
from tfsetup.platforms import TEAM_PLATFORMS

app = typer.Typer()


@app.command()
def show(json_out: bool = _options.JSON_OPT, tf: Optional[str] = _options.TF_OPT, py: Optional[str] = _options.PY_OPT,
         cpu_only: bool = _options.CPU_OPT, keras: Optional[int] = _options.KERAS_OPT,
         recipes_file: Optional[Path] = _options.RECIPES_OPT, platforms: List[str] = _options.PLATFORM_OPT,
         downloads: Optional[str] = _options.PY_DOWNLOADS_OPT) -> None:
    print(json.dumps({"json": json_out, "tf": tf, "python": py, "cpu_only": cpu_only, "keras": keras,
                      "recipes_file": str(recipes_file) if recipes_file else None, "platforms": platforms,
                      "downloads": downloads}))


def parsed(*args: str) -> dict:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_defaults_when_no_option_is_given():
    assert parsed() == {"json": False, "tf": None, "python": None, "cpu_only": False, "keras": None,
                        "recipes_file": None, "platforms": [], "downloads": None}


def test_each_shared_option_parses_under_its_one_name():
    assert parsed("--json", "--tf", "2.19", "--python", "3.12", "--cpu-only", "--keras", "2",
                  "--recipes-file", "r.toml", "--platform", "linux-x86_64", "--platform", "macos-arm64",
                  "--python-downloads", "never") == {
        "json": True, "tf": "2.19", "python": "3.12", "cpu_only": True, "keras": 2, "recipes_file": "r.toml",
        "platforms": ["linux-x86_64", "macos-arm64"], "downloads": "never"}


def test_a_recipes_file_that_is_a_directory_is_refused_as_a_usage_error(tmp_path):
    result = CliRunner().invoke(app, ["--recipes-file", str(tmp_path)])
    assert result.exit_code == 2


def test_help_names_the_values_and_every_team_platform():
    assert _options.PLATFORM_OPT.help.endswith(f"{', '.join(TEAM_PLATFORMS)} (repeatable).")
    assert (_options.PY_OPT.param_decls, _options.PYTHONS_OPT.param_decls) == (("--python",), ("--python",))
    assert (_options.TF_OPT.metavar, _options.ACCEL_OPT.metavar, _options.KERAS_OPT.metavar) == (
        "X.Y", "metal|cuda|cpu", "2|3")
    for option in (_options.JSON_OPT, _options.CPU_OPT, _options.PRE_OPT, _options.NO_PROJECT_OPT,
                   _options.MANAGED_PY_OPT):
        assert option.default is False and option.help
