"""The shape of the code as rules over its imports (DESIGN.md §3, STYLE.md).

Every `import` and `from … import` in services/ is read from the source (AST, no import runs),
including those inside functions, and checked against who may depend on whom.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from services.projections import registry

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ROOT / "services"
MODEL_PACKAGES = frozenset(model.__module__.split(".")[2] for model in registry.MODELS)
"""The read models' packages under services/projections/, e.g. `customer_360`."""


@dataclass(frozen=True)
class Import:
    module: str
    """The importing module, e.g. `services.query.api.customers`."""
    imported: str
    """What it imports, e.g. `services.projections.customer_360.reads`."""
    line: int

    def __str__(self) -> str:
        return f"{self.module}:{self.line} imports {self.imported}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> Iterator[Import]:
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the package
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from services.x import y` may import the module services.x.y
            for alias in node.names:
                yield Import(module, f"{base}.{alias.name}", node.lineno)


def all_imports() -> list[Import]:
    return [found for path in sorted(SERVICES.rglob("*.py")) for found in imports_of(path)]


IMPORTS = all_imports()


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def is_stdlib(name: str) -> bool:
    return name.split(".")[0] in sys.stdlib_module_names or name.startswith("__future__")


def violations(importer: str, allowed: object) -> list[str]:
    check = allowed if callable(allowed) else None
    return [str(i) for i in IMPORTS if within(i.module, importer) and check is not None
            and not check(i.imported)]


# -- the rules ------------------------------------------------------------------------------------


def test_the_domain_imports_only_the_standard_library_itself_and_the_event_catalog() -> None:
    """Pydantic is allowed as the catalog's own modelling library: events and the rules model
    are pydantic models; nothing else from outside."""

    def allowed(name: str) -> bool:
        return (is_stdlib(name) or within(name, "services.command.domain")
                or within(name, "services.common.events") or within(name, "pydantic"))

    assert violations("services.command.domain", allowed) == []


def test_the_command_side_never_imports_the_query_side() -> None:
    assert violations("services.command", lambda n: not within(n, "services.query")) == []


def test_the_query_side_never_imports_the_command_side() -> None:
    assert violations("services.query", lambda n: not within(n, "services.command")) == []


def _a_models_handlers(name: str) -> bool:
    """`services.projections.<model>` or anything in it but its `reads` module."""
    parts = name.split(".")
    return (within(name, "services.projections") and len(parts) >= 3
            and parts[2] in MODEL_PACKAGES
            and not (len(parts) >= 4 and parts[3] == "reads"))


def test_the_query_api_reads_models_only_through_their_reads_modules() -> None:
    assert violations("services.query", lambda n: not _a_models_handlers(n)) == []


def test_the_policies_read_the_policy_state_only_through_its_reads_module() -> None:
    def allowed(name: str) -> bool:
        return not within(name, "services.projections") or \
            within(name, "services.projections.policy_state.reads")

    assert violations("services.command.policies", allowed) == []


def test_the_rest_of_the_command_side_imports_no_read_model() -> None:
    policies = "services.command.policies"
    found = [str(i) for i in IMPORTS if within(i.module, "services.command")
             and not within(i.module, policies) and within(i.imported, "services.projections")]
    assert found == []


@pytest.mark.parametrize("package", ["services.common", "services.projections"])
def test_shared_and_projection_code_import_no_service_and_no_entry_point(package: str) -> None:
    above = ("services.command", "services.query", "services.cli", "services.bootstrap",
             "services.demo")
    assert violations(package, lambda n: not any(within(n, p) for p in above)) == []


def test_only_the_entry_points_import_the_composition_root_and_the_demo_data() -> None:
    roots = ("services.cli", "services.bootstrap")
    found = [str(i) for i in IMPORTS
             if (within(i.imported, "services.bootstrap") or within(i.imported, "services.cli")
                 or within(i.imported, "services.demo"))
             and not any(within(i.module, root) for root in (*roots, "services.demo"))]
    assert found == []


# -- the checker itself ---------------------------------------------------------------------------


def test_the_checker_sees_imports_inside_functions_and_relative_ones(tmp_path: Path) -> None:
    package = SERVICES / "query" / "api"
    probe = package / "_boundary_probe.py"
    probe.write_text("def late():\n    from ..read_models import ReadModels\n"
                     "    from services.projections.timeline.projection import KINDS\n")
    try:
        found = {i.imported for i in imports_of(probe)}
    finally:
        probe.unlink()
    assert "services.query.read_models.ReadModels" in found
    assert _a_models_handlers("services.projections.timeline.projection.KINDS")
    assert not _a_models_handlers("services.projections.timeline.reads.read_timeline")
    assert not _a_models_handlers("services.projections.registry.NAMES")
