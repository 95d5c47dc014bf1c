"""Print the pinned dependency set of `brief[dev]` as installed in this Python: `make lock`.

The set is the closure of pyproject's requirements (with the `dev` extra) over the installed
distributions' own requirements, markers evaluated for this platform. Local version labels
are dropped (`torch==2.13.0+cpu` becomes `torch==2.13.0`), so one file serves the CPU wheel
from PyTorch's index and the registry's wheel alike.
"""

from __future__ import annotations

import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent


def closure(requirements: list[str], extras: set[str]) -> dict[str, str]:
    """Installed name -> version for `requirements` and everything they require, recursively."""
    pinned: dict[str, str] = {}
    todo = [(Requirement(r), extras) for r in requirements]
    while todo:
        req, active = todo.pop()
        if req.marker and not any(req.marker.evaluate({"extra": e}) for e in (active or {""})):
            continue
        name = canonicalize_name(req.name)
        if name in pinned:
            continue
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            sys.exit(f"lock: {req.name} is required but not installed; run `make setup` first")
        pinned[name] = Version(dist.version).public
        todo += [(Requirement(r), set(req.extras)) for r in dist.requires or []]
    return pinned


def main() -> None:
    """Write the lock to stdout."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = list(project["dependencies"]) + list(project.get("optional-dependencies", {}).get("dev", []))
    pinned = closure(requirements, set())
    print("# Pinned dependencies of brief[dev], used as pip constraints by `make` and the Dockerfile.")
    print("# Regenerate with `make lock` after changing pyproject.toml; do not edit by hand.")
    for name in sorted(pinned):
        print(f"{name}=={pinned[name]}")


if __name__ == "__main__":
    main()
