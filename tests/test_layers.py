"""The import graph of ``creditbank/``: no cycle, and entry points that do not import each other.

Read with ``ast`` (nothing is imported), so an import inside a function counts as much as one at the
top of a module. A *CLI module* is a module named ``cli`` or ``cli_*``; an *endpoint module* one
named ``endpoints`` or ``*_endpoints``.
"""

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "creditbank"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, name: str, modules: set[str]) -> Iterator[str]:
    """The creditbank modules that the module at ``path`` imports (a package's ``__init__`` counts)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name in modules)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module or ""
            for alias in node.names:
                if f"{source}.{alias.name}" in modules:
                    yield f"{source}.{alias.name}"
                elif source in modules:
                    yield source


def import_graph() -> dict[str, set[str]]:
    paths = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    modules = set(paths)
    return {name: set(imported(path, name, modules)) - {name} for name, path in paths.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            child = next(edges, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def is_cli(name: str) -> bool:
    last = name.rpartition(".")[2]
    return last == "cli" or last.startswith("cli_")


def is_endpoints(name: str) -> bool:
    last = name.rpartition(".")[2]
    return last == "endpoints" or last.endswith("_endpoints")


def test_the_finder_sees_a_cycle_and_a_cli_import() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "x.cli": set()}
    assert cycles(graph) == [["a", "b", "c"]]
    assert is_cli("x.cli") and is_cli("creditbank.cli_common") and not is_cli("x.client")


def test_the_graph_is_read_from_the_sources() -> None:
    graph = import_graph()
    assert "creditbank.main" in graph and "creditbank.deps" in graph["creditbank.outcomes.endpoints"]
    assert "creditbank.cli_common" in graph["creditbank.credentials.cli"]


def test_no_import_cycle() -> None:
    assert cycles(import_graph()) == []


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The import graph between packages, entry points left out.

    A subpackage of ``creditbank`` (``learners``, ``credentials``, …) is one node, and so is each
    top-level module. Entry points (endpoints, CLI modules, ``web``, ``main``) sit above every
    package (``test_layers_point_down``), so their imports do not make a package depend on another.
    """

    def package(name: str) -> str:
        parts = name.split(".")
        return parts[1] if len(parts) > 2 else name

    packages: dict[str, set[str]] = {}
    for name, deps in graph.items():
        if layer(name) == ENTRY_LAYER:
            continue
        node = packages.setdefault(package(name), set())
        node.update(package(dep) for dep in deps if package(dep) != package(name))
    for deps in list(packages.values()):
        for dep in deps:
            packages.setdefault(dep, set())
    return packages


def test_the_package_graph_folds_modules_and_leaves_out_entry_points() -> None:
    graph = {
        "creditbank.a.service": {"creditbank.b.models"},
        "creditbank.b.models": {"creditbank.db"},
        "creditbank.b.endpoints": {"creditbank.a.service"},
        "creditbank.db": set(),
    }
    assert package_graph(graph) == {"a": {"b"}, "b": {"creditbank.db"}, "creditbank.db": set()}
    graph["creditbank.b.service"] = {"creditbank.a.service"}
    assert cycles(package_graph(graph)) == [["a", "b"]]


def test_no_import_cycle_between_packages() -> None:
    """E.g. ``learners`` may not read ``credentials`` while ``credentials`` reads ``learners``."""
    assert cycles(package_graph(import_graph())) == []


STANDARDS = "creditbank.standards"
# what pure standards code may use of the project: base modules with no database and no HTTP
STANDARDS_MAY_IMPORT = (
    "creditbank.crypto",
    "creditbank.canonical",
    "creditbank.errors",
    "creditbank.ids",
    "creditbank.i18n",
)
STANDARDS_MUST_NOT_IMPORT = ("sqlmodel", "sqlalchemy", "fastapi", "starlette", "psycopg", "httpx")


def foreign_imports(path: Path) -> Iterator[str]:
    """Every absolute module name the module at ``path`` imports (third-party ones included)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module == "creditbank":
            yield from (f"creditbank.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            yield node.module


def standards_offences(package: Path) -> dict[str, list[str]]:
    offences: dict[str, list[str]] = {}
    for path in sorted(package.rglob("*.py")):
        bad = [
            name
            for name in foreign_imports(path)
            if name.split(".")[0] in STANDARDS_MUST_NOT_IMPORT
            or (
                name.startswith("creditbank")
                and not name.startswith(STANDARDS)
                and not name.startswith(STANDARDS_MAY_IMPORT)
            )
        ]
        if bad:
            offences[path.relative_to(package.parent.parent).as_posix()] = sorted(set(bad))
    return offences


def test_the_standards_check_sees_a_database_import(tmp_path: Path) -> None:
    package = tmp_path / "creditbank" / "standards"
    package.mkdir(parents=True)
    (package / "ok.py").write_text("import hashlib\nfrom creditbank.crypto import signing\n")
    (package / "bad.py").write_text(
        "import sqlmodel\nfrom sqlalchemy import text\nfrom creditbank.db import utcnow\n"
        "from creditbank.credentials import service\nfrom creditbank.standards import ok\n"
        "import fastapi\nimport httpx\nfrom creditbank.ledger.append import append\n"
        "from creditbank import canonical, deps\n"
    )
    assert standards_offences(package) == {
        "creditbank/standards/bad.py": [
            "creditbank.credentials",
            "creditbank.db",
            "creditbank.deps",
            "creditbank.ledger.append",
            "fastapi",
            "httpx",
            "sqlalchemy",
            "sqlmodel",
        ]
    }


def test_standards_code_needs_no_database_and_no_service() -> None:
    """``creditbank/standards`` imports no SQLModel, SQLAlchemy, FastAPI or HTTP client, and nothing
    of the project but itself and the pure base (crypto, canonical JSON, errors, typed ids)."""
    modules = {path.stem for path in (PACKAGE / "standards").rglob("*.py")}
    assert {"dataintegrity", "statuslist", "did", "contexts", "multikey", "merkle", "note"} <= modules
    # the offline verification checks, their resolvers and evidence format, and the leaf they read
    assert {"verification", "ledger_check", "resolvers", "evidence", "trust", "leaf"} <= modules
    assert standards_offences(PACKAGE / "standards") == {}


def test_only_the_command_line_imports_command_modules() -> None:
    graph = import_graph()
    offenders = {
        name: sorted(d for d in deps if is_cli(d))
        for name, deps in graph.items()
        if not is_cli(name) and any(is_cli(d) for d in deps)
    }
    assert offenders == {}


def test_entry_points_are_siblings() -> None:
    """Endpoints import no CLI module nor other endpoints; CLI modules import no endpoints."""
    graph = import_graph()
    offenders = {
        name: sorted(d for d in deps if is_endpoints(d) or is_cli(d))
        for name, deps in graph.items()
        if (is_endpoints(name) or is_cli(name)) and any(is_endpoints(d) or is_cli(d) for d in deps)
    }

    # the command line is one tree: its root mounts each domain's command group, and every command
    # module shares the process context of ``cli_common`` (as routes share ``deps``)
    def allowed(name: str, dep: str) -> bool:
        return dep == "creditbank.cli_common" or (name == "creditbank.cli" and is_cli(dep))

    remaining = {name: [d for d in deps if not allowed(name, d)] for name, deps in offenders.items()}
    assert {name: deps for name, deps in remaining.items() if deps} == {}


# Layers, top to bottom (STYLE.md 16): entry points (routes, pages, commands, the app and the demo),
# domain services, the ledger and the log, pure standards code, and the base (storage, crypto,
# configuration, errors).
ENTRY_PACKAGES = {"web", "main", "cli", "serving", "demo"}
LOG_PACKAGES = {"ledger", "transparency"}
STANDARDS_PACKAGES = {"standards"}
BASE_PACKAGES = {
    "crypto", "db", "config", "errors", "ids", "identifiers", "canonical", "context", "deps",
    "models_registry", "migrate", "privileges", "observability", "cli_common", "creditbank",
    "keyring", "i18n",
}  # fmt: skip
ENTRY_LAYER, DOMAIN_LAYER, LOG_LAYER, STANDARDS_LAYER, BASE_LAYER = 4, 3, 2, 1, 0


def layer(name: str) -> int:
    parts = name.split(".")
    package = parts[1] if len(parts) > 1 else "creditbank"
    if package in ENTRY_PACKAGES or is_cli(name) or is_endpoints(name):
        return ENTRY_LAYER
    if package in BASE_PACKAGES:
        return BASE_LAYER
    if package in STANDARDS_PACKAGES:
        return STANDARDS_LAYER
    return LOG_LAYER if package in LOG_PACKAGES else DOMAIN_LAYER


def test_layers_point_down() -> None:
    graph = import_graph()
    upward = sorted(
        f"{name} -> {dep}" for name, deps in graph.items() for dep in deps if layer(dep) > layer(name)
    )
    assert upward == []
    assert layer("creditbank.outcomes.endpoints") == ENTRY_LAYER
    assert layer("creditbank.outcomes.service") == DOMAIN_LAYER
    assert layer("creditbank.ledger.service") == LOG_LAYER
    assert layer("creditbank.standards.tlog.merkle") == STANDARDS_LAYER


# What the pages may take from the database libraries: the ``Session`` they hand to the services.
QUERY_NAMES = {"select", "text", "update", "delete", "insert", "col", "func", "and_", "or_"}
QUERY_CALLS = {"exec", "execute", "scalar", "scalars", "scalar_one"}
DATABASE_LIBRARIES = ("sqlmodel", "sqlalchemy")


def query_offences(package: Path) -> dict[str, list[str]]:
    """Query building or running in the modules of ``package``: an import of a query construct from
    SQLModel or SQLAlchemy, or a call of a session's ``exec``/``execute``."""
    offences: dict[str, list[str]] = {}
    for path in sorted(package.rglob("*.py")):
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in DATABASE_LIBRARIES:
                found.update(f"import {a.name}" for a in node.names if a.name in QUERY_NAMES)
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in QUERY_CALLS
            ):
                found.add(f".{node.func.attr}()")
        if found:
            offences[path.name] = sorted(found)
    return offences


def test_the_query_check_sees_a_query(tmp_path: Path) -> None:
    (tmp_path / "ok.py").write_text("from sqlmodel import Session\nfrom creditbank.outcomes import records\n")
    (tmp_path / "bad.py").write_text(
        "from sqlmodel import Session, col, select\n"
        "def f(session: Session) -> object:\n    return session.exec(select(1)).all()\n"
    )
    assert query_offences(tmp_path) == {"bad.py": [".exec()", "import col", "import select"]}


def test_pages_build_no_queries() -> None:
    """The pages (``web/``) read through the domain services, which hold the queries with their
    authorisation checks (STYLE.md 1: endpoints never build queries)."""
    assert query_offences(PACKAGE / "web") == {}
