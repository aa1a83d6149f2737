"""An import-linter contract type for what import-linter's own types cannot see: other libraries' private
APIs. Its graph knows external packages only by their root name (`hydra`, not `hydra._internal`), so this
contract reads the source itself.

A module breaks it when it (outside `allowed_modules`):
- imports a private module of another package (`from hydra._internal.x import y`, `import pandas.io._util`,
  `from skops.io import _trusted_types`);
- uses a private attribute of an imported module of another package (`threading._shutdown()`,
  `atexit._run_exitfuncs`), except names the library documents as public (`public_exceptions`, e.g.
  `os._exit`);
- assigns to an attribute of another package's module (`importlib.metadata.packages_distributions = f`,
  `ConfigLoaderImpl.get_group_options = f` where the class came from another package): a patch.

Configured in pyproject.toml ([tool.importlinter] contract_types); run by `lint-imports` in `make test`.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck


def _private(name: str) -> bool:
    return any(part.startswith("_") and not (part.startswith("__") and part.endswith("__")) for part in name.split("."))


class _Scanner(ast.NodeVisitor):
    def __init__(self, own_roots: set[str], public: set[str]) -> None:
        self.own_roots, self.public = own_roots, public
        self.external: dict[str, str] = {}  # local name -> dotted name of another package's module/object
        self.found: list[tuple[int, str]] = []

    def _is_external(self, dotted: str) -> bool:
        return dotted.split(".")[0] not in self.own_roots

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if not self._is_external(alias.name):
                continue
            if _private(alias.name):
                self.found.append((node.lineno, f"imports the private module {alias.name}"))
            local = alias.asname or alias.name.split(".")[0]
            self.external[local] = alias.name if alias.asname else alias.name.split(".")[0]

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level or not node.module or not self._is_external(node.module):
            return
        for alias in node.names:
            dotted = f"{node.module}.{alias.name}"
            if _private(node.module) or _private(alias.name):
                self.found.append((node.lineno, f"imports the private name {dotted}"))
            self.external[alias.asname or alias.name] = dotted

    def _dotted(self, node: ast.AST) -> str | None:
        if isinstance(node, ast.Name):
            return self.external.get(node.id)
        if isinstance(node, ast.Attribute):
            base = self._dotted(node.value)
            return f"{base}.{node.attr}" if base else None
        return None

    def visit_Attribute(self, node: ast.Attribute) -> None:
        base = self._dotted(node.value)
        if base is not None:
            dotted = f"{base}.{node.attr}"
            if _private(node.attr) and dotted not in self.public:
                self.found.append((node.lineno, f"uses the private attribute {dotted}"))
            if isinstance(node.ctx, ast.Store):
                self.found.append((node.lineno, f"patches {dotted} (assigns to another package's attribute)"))
        self.generic_visit(node)


def scan(path: Path, own_roots: set[str], public: set[str]) -> list[tuple[int, str]]:
    """(line, problem) for each use of another package's private API in one source file. Imports are
    collected first, so an attribute use is judged by what the module imported anywhere in it."""
    tree = ast.parse(path.read_text(), filename=str(path))
    scanner = _Scanner(own_roots, public)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            scanner.visit_Import(node)
        elif isinstance(node, ast.ImportFrom):
            scanner.visit_ImportFrom(node)
    imports_found = list(scanner.found)
    scanner.found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            scanner.visit_Attribute(node)
    return sorted(set(imports_found + scanner.found))


class NoPrivateApiContract(Contract):
    """Only `allowed_modules` (and their descendants) may use other libraries' private APIs."""

    type_name = "no_private_api"

    source_packages = fields.ListField(subfield=fields.StringField())
    allowed_modules = fields.ListField(subfield=fields.StringField(), required=False)
    public_exceptions = fields.ListField(subfield=fields.StringField(), required=False)

    def check(self, graph, verbose: bool) -> ContractCheck:  # type: ignore[no-untyped-def]
        allowed = [str(m) for m in (self.allowed_modules or [])]
        public = {str(p) for p in (self.public_exceptions or [])}
        sources = [str(p) for p in self.source_packages]
        roots = {s.split(".")[0] for s in sources}

        def within(module: str, packages: list[str]) -> bool:
            return any(module == p or module.startswith(p + ".") for p in packages)

        problems: list[str] = []
        for module in sorted(graph.modules):
            if not within(module, sources) or within(module, allowed):
                continue
            spec = importlib.util.find_spec(module)
            if spec is None or not spec.origin or not spec.origin.endswith(".py"):
                continue
            for line, problem in scan(Path(spec.origin), roots, public):
                problems.append(f"{module}:{line} {problem}")
        return ContractCheck(kept=not problems, metadata={"problems": problems})

    def render_broken_contract(self, check: ContractCheck) -> None:
        from importlinter.application import output

        for problem in check.metadata["problems"]:
            output.print_error(problem)
        output.new_line()
        output.print("Move the code into one of the allowed packages, or use the library's public API.")
