"""The code's layout, read from its imports (issue 13): arrows point down, never round.

Every import statement of the production packages is read with ``ast``, those inside
functions included (a lazy import is still an arrow), so a cycle or an arrow back up cannot
hide behind one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("webapp", "jobs", "connectors", "common", "sandbox")


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> list[tuple[str, str | None]]:
    """(module imported, name taken from it or None) for every import statement."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.append((submodule, None) if submodule in MODULES else (base, alias.name))
    return found


def _arrows() -> dict[str, set[str]]:
    """Module -> modules of ours it imports. A module taking a name from its own package
    (``from webapp.store import bp``, the blueprint a package's ``__init__`` makes) is no
    arrow back: the package only hands the name on."""
    arrows: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        targets = set()
        for module, _ in _imports(name, path):
            while module and module not in MODULES:
                module = module.rpartition(".")[0]
            if module and module != name and not name.startswith(module + "."):
                targets.add(module)
        arrows[name] = targets
    return arrows


def _cycles(arrows: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(arrows.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(arrows):
        if node not in index:
            visit(node)
    return cycles


def test_no_import_cycle():
    assert _cycles(_arrows()) == []


def _is_routes(module: str) -> bool:
    return module.rpartition(".")[2] == "routes"


def test_only_the_app_factory_and_its_package_load_a_route_module():
    """Jobs, domain code, CLI groups and other areas' pages never import a route module:
    what they share lives in a domain module (the inbox's pending retries, say)."""
    loading = {
        (name, target)
        for name, targets in _arrows().items()
        for target in targets
        if _is_routes(target) and name != "webapp" and target.rpartition(".")[0] != name
    }
    assert loading == set()


def _ours(name: str, *packages: str) -> set[str]:
    return {
        module
        for module, _ in _imports(name, MODULES[name])
        if module.partition(".")[0] in packages
    }


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("connectors", ("flask", "webapp", "jobs", "sandbox")),
        ("common", ("flask", "sqlalchemy", "webapp", "jobs", "connectors", "sandbox")),
        ("sandbox", ("webapp", "jobs")),
    ],
)
def test_lower_packages_never_import_upwards(package, forbidden):
    assert any(name.partition(".")[0] == package for name in MODULES), f"no {package}/ package"
    offending = {
        name: sorted(_ours(name, *forbidden))
        for name in MODULES
        if name.partition(".")[0] == package and _ours(name, *forbidden)
    }
    assert offending == {}


# Helpers shared across areas, each defined in one home and imported from there only.
HOMES = {
    "partial_response": "webapp.htmx",
    "is_htmx": "webapp.htmx",
    "Page": "webapp.pagination",
    "paginate": "webapp.pagination",
    "clamp_page": "webapp.pagination",
    "MAX_PAGE": "webapp.pagination",
    "distinct_values": "webapp.pagination",
    "bulk_insert": "webapp.bulk",
    "Inserts": "webapp.bulk",
    "prefetch": "common.prefetch",
    "connector_for": "webapp.connector",
    "ImportRequestError": "webapp.imports.request",
    "work_dir": "webapp.imports.request",
    "pending_key": "webapp.inbox.retry",
    "store_or_fail": "webapp.cli_input",
    "account_or_fail": "webapp.cli_input",
    "active_account_or_fail": "webapp.cli_input",
}


def test_shared_helpers_have_one_home_and_no_reexport():
    defined = {}
    for name, path in MODULES.items():
        for node in ast.parse(path.read_text()).body:
            names = []
            if isinstance(node, ast.FunctionDef | ast.ClassDef):
                names = [node.name]
            elif isinstance(node, ast.Assign):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            for helper in set(names) & set(HOMES):
                defined.setdefault(helper, set()).add(name)
    assert defined == {helper: {home} for helper, home in HOMES.items()}
    elsewhere = {
        (name, module, taken)
        for name, path in [*MODULES.items(), *((str(p), p) for p in ROOT.glob("tests/**/*.py"))]
        for module, taken in _imports(name, path)
        if taken in HOMES and module != HOMES[taken]
    }
    assert elsewhere == set()


def test_each_area_owns_its_pages():
    """The store's products, orders and accounts pages are their areas' blueprints, at the
    URLs they always had; /healthz is monitoring's and the API tokens page is tokens'."""
    from webapp import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    endpoints = {
        rule.rule: rule.endpoint for rule in app.url_map.iter_rules() if "GET" in rule.methods
    }
    assert endpoints["/store/<code>/products"] == "catalog.products"
    assert endpoints["/store/<code>/products/<int:product_id>"] == "catalog.product"
    assert endpoints["/store/<code>/orders"] == "orders.orders"
    assert endpoints["/store/<code>/orders/<int:order_id>"] == "orders.order"
    assert endpoints["/store/<code>/accounts"] == "accounts.accounts"
    assert endpoints["/store/<code>/accounts/<int:account_id>"] == "accounts.account"
    assert endpoints["/store/<code>/marketplace"] == "store.marketplace"
    assert endpoints["/store/<code>/settings"] == "store.settings"
    assert endpoints["/healthz"] == "monitoring.healthz"
    assert endpoints["/health/marketplace-integrations"].startswith("monitoring.")
    assert endpoints["/account/tokens"] == "tokens.tokens"
    every = {rule.endpoint for rule in app.url_map.iter_rules()}
    store_pages = {e for e in every if e.startswith("store.")}
    assert store_pages == {
        "store.marketplace",
        "store.history",
        "store.job",
        "store.job_status",
        "store.job_row",
        "store.job_errors",
        "store.job_errors_csv",
        "store.message",
        "store.settings",
        # Bulk shipping's upload (linked from the orders list): an upload read by the import
        # engine, which the orders area cannot import (the engine imports orders).
        "store.ship_csv",
        "store.ship_csv_template",
        "store.stock_file",  # a stock file read from the stock page (files are the imports')
    }
