"""Prints the layout figures of the ``modelhub`` package (issue 15).

    python tools/layout_report.py [PACKAGE_DIR]

Modules over 600 lines, the folder holding the most lines of modules
directly, functions over 100 lines (longest first), import cycles among
modelhub modules counting imports inside functions, places reading
``MODELHUB_*`` (or ``HF_ENDPOINT``) outside ``config.py``, and the count of
``settings: Any`` annotations.  It reads source only (``ast``), so it runs on
any checkout, old or new.
"""

from __future__ import annotations

import ast
import re
import sys
from collections import defaultdict
from pathlib import Path

MAX_MODULE = 600
MAX_FUNCTION = 100
MAX_FOLDER = 3000
_ENV = re.compile(r"""["'](MODELHUB_[A-Z0-9_]+|HF_ENDPOINT)["']""")


def module_name(package: Path, path: Path) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(current: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = current.split(".")
    if not is_package:
        base = base[:-1]
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _type_checking_only(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def _walk_runtime(tree: ast.AST, typing: bool = False) -> list[ast.AST]:
    """Every node that runs, inside functions included; the bodies of
    ``if TYPE_CHECKING:`` blocks never run and are left out unless ``typing``."""
    out: list[ast.AST] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        out.append(node)
        for child in ast.iter_child_nodes(node):
            if not typing and _type_checking_only(child):
                stack.extend(child.orelse)  # type: ignore[attr-defined]
            else:
                stack.append(child)
    return out


def imports_of(
    tree: ast.AST, current: str, is_package: bool, known: set[str], typing: bool = False
) -> set[str]:
    """modelhub modules imported anywhere in the module, inside functions
    included (typing-only imports under ``if TYPE_CHECKING:`` left out).
    ``from package import name`` counts ``package.name`` when that is a
    module, else ``package`` (as import-linter's grimp does)."""
    found: set[str] = set()
    for node in _walk_runtime(tree, typing):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(current, is_package, node)
            names = []
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                names.append(sub if sub in known else base)
        else:
            continue
        for name in names:
            if name in known and name != current:
                found.add(name)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]
    sys.setrecursionlimit(10_000)

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def long_functions(tree: ast.AST, name: str) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > MAX_FUNCTION:
                out.append((length, f"{name}.{node.name}"))
    return out


def _imports_modelhub(node: ast.AST) -> bool:
    if isinstance(node, ast.Import):
        return any(a.name.split(".")[0] == "modelhub" for a in node.names)
    if isinstance(node, ast.ImportFrom):
        return node.level > 0 or (node.module or "").split(".")[0] == "modelhub"
    return False


def _function_level_imports(tree: ast.AST) -> int:
    seen: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            seen.update(id(n) for n in ast.walk(node) if _imports_modelhub(n))
    return len(seen)


def report(package: Path) -> dict[str, object]:
    paths = sorted(package.rglob("*.py"))
    names = {path: module_name(package, path) for path in paths}
    known = set(names.values())
    graph: dict[str, set[str]] = {}
    typed_graph: dict[str, set[str]] = {}
    folders: dict[Path, int] = defaultdict(int)
    big_modules: list[tuple[int, str]] = []
    functions: list[tuple[int, str]] = []
    env_reads: list[str] = []
    settings_any = 0
    local_imports = 0
    hf_modules = 0
    for path in paths:
        text = path.read_text(encoding="utf-8")
        lines = len(text.splitlines())
        folders[path.parent] += lines
        name = names[path]
        if lines > MAX_MODULE:
            big_modules.append((lines, name))
        tree = ast.parse(text, filename=str(path))
        graph[name] = imports_of(tree, name, path.name == "__init__.py", known)
        typed_graph[name] = imports_of(tree, name, path.name == "__init__.py", known, typing=True)
        functions += long_functions(tree, name)
        if path.name != "config.py" or path.parent != package:
            for number, line in enumerate(text.splitlines(), 1):
                if _ENV.search(line):
                    env_reads.append(f"{path.relative_to(package.parent)}:{number}")
        settings_any += len(re.findall(r"\bsettings: Any\b", text))
        local_imports += _function_level_imports(tree)
        hf_modules += any(isinstance(n, ast.Constant) and n.value == "hf" for n in ast.walk(tree))
    folder, folder_lines = max(folders.items(), key=lambda item: item[1])
    return {
        "modules": len(paths),
        "total_lines": sum(folders.values()),
        "big_modules": sorted(big_modules, reverse=True),
        "folder": (str(folder.relative_to(package.parent)), folder_lines),
        "functions": sorted(functions, reverse=True),
        "cycles": cycles(graph),
        "typing_cycles": cycles(typed_graph),
        "env_reads": env_reads,
        "settings_any": settings_any,
        "local_imports": local_imports,
        "hf_modules": hf_modules,
    }


def main(argv: list[str]) -> int:
    package = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parents[1] / "modelhub"
    figures = report(package.resolve())
    print(f"package: {package}  ({figures['modules']} modules, {figures['total_lines']} lines)")
    big = figures["big_modules"]
    print(f"modules over {MAX_MODULE} lines: {len(big)}")  # type: ignore[arg-type]
    for lines, name in big:  # type: ignore[attr-defined]
        print(f"  {lines:5d}  {name}")
    folder, folder_lines = figures["folder"]  # type: ignore[misc]
    print(f"biggest folder (lines of modules directly in it): {folder} {folder_lines}")
    functions = figures["functions"]
    print(f"functions over {MAX_FUNCTION} lines: {len(functions)}")  # type: ignore[arg-type]
    for lines, name in functions:  # type: ignore[attr-defined]
        print(f"  {lines:5d}  {name}")
    found = figures["cycles"]
    print(f"import cycles (function-level imports counted): {len(found)}")  # type: ignore[arg-type]
    for component in found:  # type: ignore[attr-defined]
        print(f"  {len(component)} modules: {' '.join(component)}")
    typed = figures["typing_cycles"]
    print(f"  counting typing-only imports too (never run): {len(typed)}")  # type: ignore[arg-type]
    for component in typed:  # type: ignore[attr-defined]
        print(f"    {len(component)} modules: {' '.join(component)}")
    reads = figures["env_reads"]
    print(f"MODELHUB_*/HF_ENDPOINT named as a string outside config.py: {len(reads)}")  # type: ignore[arg-type]
    for where in reads:  # type: ignore[attr-defined]
        print(f"  {where}")
    print(f"`settings: Any` annotations: {figures['settings_any']}")
    print(f"imports of modelhub modules inside functions: {figures['local_imports']}")
    print(f'modules holding the literal "hf": {figures["hf_modules"]}')
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
