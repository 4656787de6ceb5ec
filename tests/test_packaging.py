"""What a wheel ships: pyproject.toml lists every package, and only packages that exist.

A folder with an __init__.py that the list leaves out is missing from every non-editable install (pip install .,
pipx, the wheel) while the editable one used for development still finds it; .ci/install-check shows it as a
traceback in `orch serve`, this test names the folder.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUBPACKAGE_ROOTS = ("core", "bot", "transports", "prompts")


def test_every_package_folder_is_listed() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {"orch"} | {
        ".".join(("orch", *init.parent.relative_to(ROOT).parts))
        for top in SUBPACKAGE_ROOTS for init in (ROOT / top).rglob("__init__.py")
    }
    assert sorted(found - listed) == [], "add these to [tool.setuptools] packages in pyproject.toml"
    assert sorted(listed - found) == [], "these packages are listed but do not exist"
