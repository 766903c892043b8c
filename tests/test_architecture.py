"""The import rules of docs/architecture.md, checked on the source (AST only: nothing is imported).

Product code is every Python file of the repository except `tests/`, `bench/`, `sandbox/` (the
sandbox's own rule, that it imports nothing of the project, is in tests/sandbox/test_server.py).
The rules:
- private-name: an app never imports another app's private name (`from x.y import _z`,
  `x.y._z`, or a module `x._y`; generated migrations aside); apps are accounts, api, inbound,
  payments, banking, compliance and config.
- sandbox: product code never imports `sandbox`.
- sdk: only `payments/gateways/stripe/` imports `stripe`, only `payments/gateways/braintree/`
  imports `braintree`, only `banking/gateways/plaid/` imports `plaid`.
- foreign-write: an app never changes another app's module-level objects (`HANDLERS[key] = f`,
  `webhooks.HANDLERS.update(...)`); the other app offers a `register()` instead.
- config-imports-app / app-imports-wiring: config's wiring modules (`config/urls.py`,
  `config/api_urls.py`, `config/settings/`, `config/wsgi.py`) compose the project and may
  import any app; Django loads them by name and no app imports them. Every other config module
  (`celery_app.py` included: Celery finds the apps' tasks by name) imports no app.
- layer: the app-level import graph of the rest (app A -> app B when a module of A imports one
  of B, at any depth, type-checking imports included) has only the arrows of the picture at the
  top of docs/architecture.md (ALLOWED_IMPORTS);
- cycle: and no cycle (implied by the layers; reported on its own as the clearer message).
- long-file: a product file over 500 lines (migrations aside) says why near its top, on a line
  starting `# Over 500 lines because`.

KNOWN_VIOLATIONS lists what main still breaks while other work fixes it; each entry names who
fixes it. An entry that no longer occurs fails the test too, so the list only ever shrinks:
delete an entry when its fix is merged.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APPS = ("accounts", "api", "inbound", "payments", "banking", "compliance", "config")
NOT_PRODUCT = {"tests", "bench", "sandbox", "var", "node_modules", "static", "templates"}
SDK_HOMES = {
    "stripe": "payments/gateways/stripe/",
    "braintree": "payments/gateways/braintree/",
    "plaid": "banking/gateways/plaid/",
}
CONFIG_WIRING = ("config/urls.py", "config/api_urls.py", "config/settings/", "config/wsgi.py")
RULES = {
    "private-name",
    "sandbox",
    "sdk",
    "foreign-write",
    "layer",
    "config-imports-app",
    "app-imports-wiring",
    "cycle",
    "long-file",
}
# Methods that change a dict, list or set in place.
MUTATORS = {"update", "setdefault", "append", "extend", "insert", "add", "pop", "remove", "clear"}
# The arrows of docs/architecture.md's picture: what each app's modules may import.
ALLOWED_IMPORTS = {
    "config": set(),
    "compliance": {"config"},
    "accounts": {"compliance", "config"},
    "api": {"accounts", "compliance", "config"},
    "inbound": {"accounts", "compliance", "config"},
    "payments": {"api", "inbound", "accounts", "compliance", "config"},
    "banking": {"payments", "api", "inbound", "accounts", "compliance", "config"},
}
MAX_LINES = 500
LONG_FILE_REASON = "# Over 500 lines because"
REASON_WITHIN_LINES = 30

# (rule, file, detail) -> why it is tolerated and who removes it; empty: every rule holds.
KNOWN_VIOLATIONS: dict[tuple[str, str, str], str] = {}


@dataclass(frozen=True, order=True)
class Violation:
    rule: str
    path: str  # relative to the checked root, with "/"
    detail: str

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.rule, self.path, self.detail)


@dataclass
class Module:
    path: str
    name: str  # dotted module name
    app: str  # top-level package, "" outside the apps
    tree: ast.Module
    lines: list[str]
    imports: list[str] = field(default_factory=list)  # absolute dotted names, as written


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _product_files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).parts
        if parts[0] in NOT_PRODUCT or parts[0].startswith("."):
            continue
        yield path


def _module_name(relative: Path) -> str:
    parts = list(relative.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _absolute(module: Module, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module.name.split(".")
    if not module.path.endswith("__init__.py"):
        package = package[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def load(root: Path) -> list[Module]:
    modules = []
    for path in _product_files(root):
        relative = path.relative_to(root)
        text = path.read_text()
        top = relative.parts[0]
        module = Module(
            path=relative.as_posix(),
            name=_module_name(relative),
            app=top if top in APPS else "",
            tree=ast.parse(text, filename=str(relative)),
            lines=text.splitlines(),
        )
        for node in ast.walk(module.tree):
            if isinstance(node, ast.Import):
                module.imports += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                module.imports.append(_absolute(module, node))
        modules.append(module)
    return modules


def _other_app(module: Module, dotted: str) -> bool:
    top = dotted.split(".", maxsplit=1)[0]
    return top in APPS and module.app not in (top, "")


def _bindings(module: Module) -> dict[str, str]:
    """Local name -> the dotted path it stands for, from the module's imports."""
    bound: dict[str, str] = {}
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".", maxsplit=1)[0]
                bound[alias.asname or top] = alias.name if alias.asname else top
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(module, node)
            for alias in node.names:
                bound[alias.asname or alias.name] = f"{source}.{alias.name}"
    return bound


def _dotted(node: ast.expr, bound: dict[str, str]) -> str | None:
    """`webhooks.HANDLERS` -> "payments.webhooks.HANDLERS" when `webhooks` was imported."""
    chain: list[str] = []
    while isinstance(node, ast.Attribute):
        chain.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name) and node.id in bound:
        return ".".join([bound[node.id], *reversed(chain)])
    return None


def _private_names(module: Module) -> Iterator[str]:
    """Dotted names of other apps' private modules and names this module reaches."""
    bound = _bindings(module)
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            dotted_names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(module, node)
            dotted_names = [f"{source}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Attribute) and _is_private(node.attr):
            dotted = _dotted(node, bound)
            dotted_names = [dotted] if dotted else []
        else:
            continue
        for dotted in dotted_names:
            if _other_app(module, dotted):
                yield from _private_segments(dotted)


def _foreign_writes(module: Module) -> Iterator[str]:
    """Other apps' module-level objects this module changes (`HANDLERS[key] = ...`,
    `HANDLERS.update(...)`): an app offers a `register()` for that instead."""
    bound = _bindings(module)
    for node in ast.walk(module.tree):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign | ast.Delete):
            found = node.targets if isinstance(node, ast.Assign | ast.Delete) else [node.target]
            targets = [t.value for t in found if isinstance(t, ast.Subscript | ast.Attribute)]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in MUTATORS
        ):
            targets = [node.func.value]
        for target in targets:
            dotted = _dotted(target, bound)
            if dotted and _other_app(module, dotted):
                yield dotted


def _private_segments(dotted: str) -> Iterator[str]:
    parts = dotted.split(".")
    if any(_is_private(part) for part in parts[1:]):
        yield dotted


def _is_wiring(path: str) -> bool:
    return any(
        path == entry or (entry.endswith("/") and path.startswith(entry)) for entry in CONFIG_WIRING
    )


def _wiring_module(dotted: str) -> bool:
    path = dotted.replace(".", "/")
    return any(
        path == entry.removesuffix(".py") or (entry.endswith("/") and f"{path}/".startswith(entry))
        for entry in CONFIG_WIRING
    )


def app_graph(modules: list[Module]) -> dict[str, set[str]]:
    """App -> the other apps its modules import (config's wiring modules left out)."""
    graph: dict[str, set[str]] = {app: set() for app in APPS}
    for module in modules:
        if not module.app or _is_wiring(module.path):
            continue
        for dotted in module.imports:
            top = dotted.split(".")[0]
            if top in APPS and top != module.app:
                graph[module.app].add(top)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[tuple[str, ...]]:
    """Every elementary cycle, each once, starting from its alphabetically first app."""
    found: set[tuple[str, ...]] = set()

    def walk(start: str, node: str, path: tuple[str, ...]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt == start:
                found.add(path)
            elif nxt > start and nxt not in path:
                walk(start, nxt, (*path, nxt))

    for start in sorted(graph):
        walk(start, start, (start,))
    return sorted(found)


def check(root: Path) -> list[Violation]:
    modules = load(root)
    found: set[Violation] = set()
    for module in modules:
        # Migrations are generated: they name a model field's default however it is spelled.
        for dotted in [] if "/migrations/" in module.path else _private_names(module):
            found.add(Violation("private-name", module.path, dotted))
        for dotted in _foreign_writes(module):
            found.add(Violation("foreign-write", module.path, dotted))
        for dotted in module.imports:
            top = dotted.split(".")[0]
            if top == "sandbox":
                found.add(Violation("sandbox", module.path, dotted))
            home = SDK_HOMES.get(top)
            if home and not module.path.startswith(home):
                found.add(Violation("sdk", module.path, top))
            if (
                module.app == "config"
                and top in APPS
                and top != "config"
                and not _is_wiring(module.path)
            ):
                found.add(Violation("config-imports-app", module.path, dotted))
            if module.app != "config" and top == "config" and _wiring_module(dotted):
                found.add(Violation("app-imports-wiring", module.path, dotted))
        if len(module.lines) > MAX_LINES and "/migrations/" not in module.path:
            head = module.lines[:REASON_WITHIN_LINES]
            if not any(line.startswith(LONG_FILE_REASON) for line in head):
                found.add(Violation("long-file", module.path, f"over {MAX_LINES} lines"))
    graph = app_graph(modules)
    for app, imported in graph.items():
        for other in sorted(imported - ALLOWED_IMPORTS[app]):
            found.add(Violation("layer", app, f"{app} -> {other}"))
    for cycle in cycles(graph):
        found.add(Violation("cycle", cycle[0], " -> ".join([*cycle, cycle[0]])))
    return sorted(found)


def _describe(violations: list[Violation]) -> str:
    return "\n".join(f"  {v.rule}: {v.path}: {v.detail}" for v in violations)


# --- the project ----------------------------------------------------------------------------


def test_the_project_keeps_its_import_rules():
    """Only the known violations below occur, and each of them still does (else delete it)."""
    violations = check(ROOT)
    new = [v for v in violations if v.key not in KNOWN_VIOLATIONS]
    assert not new, "New architecture violations (see docs/architecture.md):\n" + _describe(new)
    seen = {v.key for v in violations}
    fixed = sorted(key for key in KNOWN_VIOLATIONS if key not in seen)
    assert not fixed, f"Fixed, so delete from KNOWN_VIOLATIONS: {fixed}"


# --- the checker, on a small tree that breaks each rule ------------------------------------


def _write(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


BROKEN_TREE = {
    "accounts/__init__.py": "",
    "accounts/models.py": "from compliance.services import audit\n",
    "compliance/__init__.py": "",
    "compliance/services.py": "def audit(): ...\n",
    "compliance/views.py": "from accounts.models import User\n",
    "payments/__init__.py": "",
    "payments/webhooks.py": "_HANDLERS = {}\n",
    "payments/gateways/stripe/client.py": "import stripe\n",
    "payments/gateways/braintree/client.py": "import braintree\n",
    "payments/services.py": "import stripe.error\n",
    "banking/__init__.py": "",
    "banking/handlers.py": "from payments.webhooks import _HANDLERS\n",
    "banking/apps.py": "from payments import webhooks\n\nwebhooks._HANDLERS['x'] = 1\n",
    "banking/private_module.py": "import payments._internal.tools\n",
    "banking/client.py": "from plaid.api import plaid_api\n",
    "banking/gateways/plaid/client.py": "import plaid\n",
    "banking/tasks.py": "def run():\n    import braintree\n",
    "banking/demo.py": "from sandbox.server import start_in_thread\n",
    "banking/own.py": "from banking.handlers import _private_helper\nfrom . import _local\n",
    "banking/registers.py": "from payments.webhooks import HANDLERS\n\nHANDLERS['x'] = 1\n",
    "banking/updates.py": "from payments import webhooks\n\nwebhooks.HANDLERS.update({})\n",
    "config/__init__.py": "",
    "config/urls.py": "from payments import views\n",
    "config/settings/base.py": "import banking\n",
    "config/helpers.py": "from accounts.models import Merchant\n",
    "api/__init__.py": "",
    "api/views.py": "from config.urls import urlpatterns\n",
    "inbound/__init__.py": "",
    "inbound/long.py": "x = 1\n" * 501,
    "inbound/long_explained.py": '"""Doc."""\n\n# Over 500 lines because it is a table.\n'
    + "x = 1\n" * 501,
    "bench/anything.py": "import stripe\nfrom sandbox import server\n",
    "payments/migrations/0001_initial.py": "x = 1\n" * 600,
    "payments/migrations/0002_more.py": "from sandbox import clock\n",
}


def test_the_checker_finds_a_violation_of_every_rule(tmp_path):
    _write(tmp_path, BROKEN_TREE)
    found = {v.key for v in check(tmp_path)}
    assert found == {
        ("private-name", "banking/handlers.py", "payments.webhooks._HANDLERS"),
        ("private-name", "banking/apps.py", "payments.webhooks._HANDLERS"),
        ("private-name", "banking/private_module.py", "payments._internal.tools"),
        ("sdk", "payments/services.py", "stripe"),
        ("sdk", "banking/client.py", "plaid"),
        ("sdk", "banking/tasks.py", "braintree"),
        ("sandbox", "banking/demo.py", "sandbox.server"),
        ("sandbox", "payments/migrations/0002_more.py", "sandbox"),
        ("foreign-write", "banking/registers.py", "payments.webhooks.HANDLERS"),
        ("foreign-write", "banking/updates.py", "payments.webhooks.HANDLERS"),
        ("foreign-write", "banking/apps.py", "payments.webhooks._HANDLERS"),
        ("config-imports-app", "config/helpers.py", "accounts.models"),
        ("app-imports-wiring", "api/views.py", "config.urls"),
        ("cycle", "accounts", "accounts -> compliance -> accounts"),
        ("layer", "compliance", "compliance -> accounts"),
        ("layer", "config", "config -> accounts"),
        ("long-file", "inbound/long.py", "over 500 lines"),
    }


def test_an_app_may_use_its_own_private_names_and_wiring_may_import_apps(tmp_path):
    _write(
        tmp_path,
        {
            k: v
            for k, v in BROKEN_TREE.items()
            if k.startswith(("banking/own", "config/urls", "config/settings"))
        },
    )
    assert check(tmp_path) == []


def test_longer_cycles_are_found_once():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [("a", "b", "c")]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_known_violations_name_who_fixes_them():
    for key, owner in KNOWN_VIOLATIONS.items():
        assert key[0] in RULES, key
        assert owner.strip(), key
