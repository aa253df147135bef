"""The layers import downwards only (see ARCHITECTURE.md), checked on the source with ast.

* ``tether.core`` and ``tether._native`` do no I/O: they import none of the I/O modules.
* ``tether.asyncio`` and ``tether.sync`` never import each other.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "tether"
IO_MODULES = {"asyncio", "socket", "ssl", "threading", "selectors", "subprocess"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """Absolute names of every module ``path`` imports (relative imports resolved)."""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package.pop()
    return imports_in(path.read_text(encoding="utf-8"), package)


def imports_in(source: str, package: list[str]) -> set[str]:
    """Absolute names of every module ``source`` (a module of ``package``) imports."""
    tree = ast.parse(source)
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names.add(module)
            # "from . import x" / "from tether import sync" import submodules too.
            names.update(f"{module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Call):
            # importlib.import_module("...") / __import__("...") with a literal name.
            func = node.func
            fname = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if fname in ("import_module", "__import__") and node.args:
                arg = node.args[0]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    names.add(arg.value)
    return names


def files_under(*packages: str) -> list[Path]:
    out: list[Path] = []
    for pkg in packages:
        out.extend(sorted((SRC / pkg).rglob("*.py")))
    return out


def top(name: str) -> str:
    return name.split(".", 1)[0]


def test_the_checker_sees_imports() -> None:
    # The checker itself must see every form of import, or the tests below prove nothing.
    source = (
        "import asyncio\nfrom ..exceptions import X\nfrom . import http11\n"
        "def f():\n    import socket.x\n    from ssl import y\n"
        "importlib.import_module('threading')\n"
    )
    assert imports_in(source, ["tether", "core"]) >= {
        "asyncio", "tether.exceptions", "tether.core.http11", "socket.x", "ssl.y", "threading"}


@pytest.mark.parametrize("path", files_under("core", "_native"), ids=lambda p: module_name(p))
def test_sans_io_layers_import_no_io(path: Path) -> None:
    bad = {name for name in imports_of(path) if top(name) in IO_MODULES}
    assert not bad, f"{module_name(path)} imports I/O modules: {sorted(bad)}"


@pytest.mark.parametrize("path", files_under("core", "_native"), ids=lambda p: module_name(p))
def test_sans_io_layers_import_only_lower_layers(path: Path) -> None:
    allowed = ("tether.core", "tether._native", "tether.exceptions", "tether.version",
               "tether.typing")
    own = {name for name in imports_of(path) if top(name) == "tether"}
    bad = {name for name in own if not name.startswith(allowed)}
    assert not bad, f"{module_name(path)} imports upper layers: {sorted(bad)}"


def _engine_files(engine: str) -> list[Path]:
    return files_under(engine) if (SRC / engine).is_dir() else []


@pytest.mark.parametrize("path", _engine_files("asyncio"), ids=lambda p: module_name(p))
def test_asyncio_engine_never_imports_sync(path: Path) -> None:
    bad = {n for n in imports_of(path) if n == "tether.sync" or n.startswith("tether.sync.")}
    assert not bad, f"{module_name(path)} imports {sorted(bad)}"


@pytest.mark.parametrize("path", _engine_files("sync"), ids=lambda p: module_name(p))
def test_sync_engine_never_imports_asyncio_engine(path: Path) -> None:
    bad = {n for n in imports_of(path)
           if n == "tether.asyncio" or n.startswith("tether.asyncio.")}
    assert not bad, f"{module_name(path)} imports {sorted(bad)}"


def test_layers_exist() -> None:
    # The parametrized checks above would pass vacuously if the paths moved.
    assert files_under("core") and files_under("_native") and _engine_files("asyncio")
