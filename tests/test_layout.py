"""The package layout: imports point one way, from a stage to the stages before it, never after.

Read from the source with `ast` (imports inside functions count too), so nothing is imported here.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "retrieval"

# In flow order; a module imports only from its own layer and the layers before it.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("foundation", ("retrieval.errors", "retrieval.settings", "retrieval.embeddings", "retrieval.fitted")),
    ("read", ("retrieval.read",)),  # article files → clean articles, paragraphs, passages
    ("index", ("retrieval.index",)),  # storage behind the Corpus protocol, and ingest
    ("search", ("retrieval.search",)),  # the question, hybrid search
    ("answer", ("retrieval.answer",)),  # the answer sentence, follow-ups
    ("facade", ("retrieval.brief", "retrieval.timeline", "retrieval.render")),  # Brief, and what is built on it
    ("sources", ("retrieval.sources",)),  # the watched folder and the feeds, feeding Brief
    ("slack", ("retrieval.slack",)),  # the Slack side
    ("app", ("retrieval.cli", "retrieval.evaluation", "retrieval")),  # the command and the public API
]


def modules() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name, from its __init__.py)."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = modules()


def layer(module: str) -> int:
    """The index in LAYERS of the layer a module belongs to: its most specific prefix."""
    best, depth = -1, -1
    for i, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and prefix.count(".") > depth:
                best, depth = i, prefix.count(".")
    return best


def imports(module: str, path: Path) -> set[str]:
    """The package modules a module imports: `from retrieval.x import y` names y when y is a module."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "retrieval"}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module if path.name == "__init__.py" else module.rpartition(".")[0]
                for _ in range(node.level - 1):
                    package = package.rpartition(".")[0]
                base = f"{package}.{base}" if base else package
            if base.split(".")[0] != "retrieval":
                continue
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return found


def test_every_module_has_a_layer() -> None:
    assert [m for m in MODULES if layer(m) < 0] == []


def test_imports_point_one_way() -> None:
    against = []
    for module, path in MODULES.items():
        for target in imports(module, path):
            assert target in MODULES, f"{module} imports {target}, which is not a module of the package"
            if layer(target) > layer(module):
                against.append(f"{module} ({LAYERS[layer(module)][0]}) imports {target} ({LAYERS[layer(target)][0]})")
    assert against == []


def test_subpackages_export_nothing() -> None:
    """A stage's __init__.py is its docstring only, so an import names the module it uses."""
    for module, path in MODULES.items():
        if path.name == "__init__.py" and module != "retrieval":
            body = ast.parse(path.read_text(encoding="utf-8")).body
            assert len(body) == 1 and isinstance(body[0], ast.Expr), f"{path} holds more than its docstring"
