"""The layers import one way: app -> layouts/callbacks -> analysis -> indicators/matching -> data.

Read from the source with ``ast`` (no imports run), so a forbidden import inside a function is
caught too. The negative controls show the checker finds what it looks for.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# package -> top-level modules it must never import
FORBIDDEN = {
    "serving": {"app", "callbacks", "layouts"},
    "indicators": {"matching", "analysis", "layouts", "callbacks", "serving", "app", "dash"},
    "matching": {"indicators", "analysis", "layouts", "callbacks", "serving", "app", "dash"},
    "data": {"indicators", "matching", "analysis", "layouts", "callbacks", "serving", "app", "dash"},
    "analysis": {"layouts", "callbacks", "serving", "app", "dash"},
}


def imported_modules(source: str) -> set[str]:
    """Top-level names of every module the source imports, wherever the import statement is."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def violations(package: str) -> list[str]:
    out = []
    for path in sorted((ROOT / package).rglob("*.py")):
        bad = imported_modules(path.read_text()) & FORBIDDEN[package]
        out.extend(f"{path.relative_to(ROOT)} imports {name}" for name in sorted(bad))
    return out


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_only_downwards(package):
    assert (ROOT / package).is_dir()
    assert violations(package) == []


def test_checker_finds_imports_anywhere_negative_control():
    source = "import os\n\ndef f():\n    from app import create_app\n    import callbacks.shell\n"
    assert imported_modules(source) >= {"app", "callbacks", "os"}
    assert imported_modules("from matching.select import match") & FORBIDDEN["indicators"] == {"matching"}
