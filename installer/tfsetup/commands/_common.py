"""What several commands load the same way: the host (detected or from --host-file), the recipes table."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from tfsetup.host.facts import FactsError, HostFacts
from tfsetup.recipes import RecipeTable


def load_host(host_file: Optional[Path], with_pythons: bool = True) -> HostFacts:
    if host_file is not None:
        from tfsetup.host.facts import load_facts_file

        try:
            return load_facts_file(str(host_file))
        except FactsError:
            raise
        except (ValueError, TypeError) as exc:  # not UTF-8, or a wrong type deep inside (cpu_cores)
            raise FactsError(f"{host_file}: not a valid host-facts file: {exc}") from None
    from tfsetup.host.detect import detect_host

    return detect_host(with_pythons=with_pythons)


def load_table(recipes_file: Optional[Path]) -> RecipeTable:
    from tfsetup.recipes import load_recipes

    return load_recipes(recipes_file)
