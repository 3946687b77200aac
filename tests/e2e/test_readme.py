"""The README works verbatim: every ```sh / ```console / ```toml block is run here or marked
`<!-- illustrative: why -->` on the line before it, so the README cannot drift from the tool."""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import List, Tuple

import pytest

from tests.conftest import REPO
from tests.e2e.helpers import run_tfsetup

README = REPO / "README.md"
FENCE = re.compile(r"^```(\w*)\s*$")

# Commands of the README's blocks that are not `tfsetup ...`: each is run by the test named here.
OTHER_COMMANDS = {
    "sh scripts/onboard.sh": "tests/e2e/test_team.py::test_onboard_script_from_a_clean_home",
    "scripts/test.sh": ".ci/run (CI runs exactly this)",
    "git add tfsetup.toml tfsetup.lock && git commit -m \"Pin the team's TensorFlow stack\"": "plain git",
}
# The tfsetup commands of unmarked blocks, and the test here that runs them.
TFSETUP_COMMANDS = {
    "tfsetup lock": "test_the_team_block_runs_as_written",
    "tfsetup lock --check": "test_the_team_block_runs_as_written",
    "tfsetup prove --platform macos-arm64 --python 3.11 tensorflow==2.20.0 tensorflow-metal==1.2.0":
        "tests/e2e/test_prove_real.py::test_the_readme_transcript_is_what_prove_prints",
}


@dataclass
class Block:
    lang: str
    line: int  # 1-based line of the opening fence
    body: List[str]
    illustrative: bool

    def commands(self) -> List[Tuple[str, List[str]]]:
        """(command, the output lines shown under it); comments after `#` dropped."""
        found: List[Tuple[str, List[str]]] = []
        for raw in self.body:
            if self.lang == "console":
                if raw.startswith("$ "):
                    found.append((_strip_comment(raw[2:]), []))
                elif found:
                    found[-1][1].append(raw)
            elif raw.strip() and not raw.lstrip().startswith("#"):
                found.append((_strip_comment(raw), []))
        return found


def _strip_comment(line: str) -> str:
    return re.split(r"\s{2,}#\s", line, maxsplit=1)[0].strip()


def readme_blocks() -> List[Block]:
    lines = README.read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match or not match.group(1):
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        before = next((lines[k].strip() for k in range(i - 1, -1, -1) if lines[k].strip()), "")
        blocks.append(Block(match.group(1), i + 1, lines[i + 1:end], before.startswith("<!-- illustrative")))
        i = end + 1
    return blocks


def test_the_readme_has_the_blocks_this_test_reads():
    langs = [b.lang for b in readme_blocks()]
    assert langs.count("toml") >= 1 and langs.count("console") >= 2 and langs.count("sh") >= 1


def test_every_command_is_run_somewhere_or_marked_illustrative():
    for block in readme_blocks():
        if block.lang not in ("sh", "console") or block.illustrative:
            continue
        for command, _ in block.commands():
            known = TFSETUP_COMMANDS if command.startswith("tfsetup") else OTHER_COMMANDS
            assert command in known, (f"README.md line {block.line}: `{command}` is neither run by a test nor "
                                      "marked: add it to tests/e2e/test_readme.py or put "
                                      "<!-- illustrative: why --> before the block")


def test_illustrative_blocks_say_why():
    text = README.read_text(encoding="utf-8")
    for marker in re.findall(r"<!-- illustrative(.*?)-->", text):
        assert marker.strip(" :"), "say why a block is not run: <!-- illustrative: why -->"


def test_toml_blocks_load_with_tfsetups_config_loader(tmp_path):
    from tfsetup.recipes import load_recipes
    from tfsetup.team.config import load_config
    from tfsetup.team.lockfile import section_specs

    tomls = [b for b in readme_blocks() if b.lang == "toml" and not b.illustrative]
    assert tomls
    for number, block in enumerate(tomls):
        root = tmp_path / f"project{number}"
        root.mkdir()
        (root / "tfsetup.toml").write_text("\n".join(block.body) + "\n")
        config = load_config(root / "tfsetup.toml")  # copied as it is: no file it names is missing
        extras = config.extra_requirements()
        if config.platforms:
            specs = section_specs(load_recipes(), config, list(config.platforms),
                                  [config.python] if config.python else [], extras)
            assert len(specs) == len(config.platforms)
        proc = run_tfsetup("lock", "--check", cwd=root)  # the CLI reads it too (no lock yet: stale, exit 1)
        assert proc.returncode == 1 and "tfsetup.lock does not exist" in proc.stdout + proc.stderr, proc.stderr


@pytest.mark.network
def test_the_team_block_runs_as_written(tmp_path):
    """The config block, then the console block after it, in a fresh project: same commands, same report."""
    blocks = readme_blocks()
    config = next(b for b in blocks if b.lang == "toml" and not b.illustrative)
    console = next(b for b in blocks if b.lang == "console" and not b.illustrative and b.line > config.line)
    root = tmp_path / "team-repo"
    root.mkdir()
    (root / "tfsetup.toml").write_text("\n".join(config.body) + "\n")
    for command, shown in console.commands():
        if not command.startswith("tfsetup"):
            continue
        proc = run_tfsetup(*shlex.split(command)[1:], cwd=root, timeout=600)
        assert proc.returncode == 0, (command, proc.stderr)
        for line in shown:
            if line.startswith("wrote "):  # the README's path is an example: same words, same count
                assert re.fullmatch(r"wrote .*/tfsetup\.lock \(\d+ sections\)", proc.stdout.strip())
                assert proc.stdout.strip().endswith(line.split("tfsetup.lock", 1)[1])
            elif line.startswith("resolving "):  # progress, on stderr
                assert line in proc.stderr
            else:
                assert line in proc.stdout.splitlines(), (command, line, proc.stdout)


def test_readme_mentions_how_to_reach_tfsetup():
    text = README.read_text(encoding="utf-8")
    assert "~/.local/bin" in text and "--modify-path" in text
    assert "uv pip install --python .venv/bin/python" not in text  # onboarding gives no `uv` on PATH
    assert Path(REPO / "scripts" / "onboard.sh").is_file()
