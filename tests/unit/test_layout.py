"""Guards on the layout DESIGN.md fixes."""

import ast
import importlib
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_generic_packages_resolve_inside_the_repository():
    for name in ("assets", "jobs", "resources", "risk_platform"):
        module = importlib.import_module(name)
        assert Path(module.__file__).resolve().is_relative_to(ROOT), f"{name} resolves to {module.__file__}"


def test_risk_platform_imports_no_dagster_outside_definitions():
    offenders = []
    for path in (ROOT / "risk_platform").rglob("*.py"):
        if path.name == "definitions.py" and path.parent.name == "risk_platform":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0].startswith("dagster")]
    assert not offenders, offenders


def test_pyproject_lists_packages_and_has_no_dagster_table():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "dagster" not in config.get("tool", {}) and "dg" not in config.get("tool", {})
    packages = config["tool"]["setuptools"]["packages"]
    assert {"risk_platform", "assets", "jobs", "resources"} <= set(packages)
    assert not any(p.startswith("tests") for p in packages)
    init_files = ROOT.glob("risk_platform/**/__init__.py")
    on_disk = {".".join(f.parent.relative_to(ROOT).parts) for f in init_files}
    assert on_disk <= set(packages), f"packages missing from pyproject: {sorted(on_disk - set(packages))}"
    deps = " ".join(config["project"]["dependencies"])
    for forbidden in ("dagster-ge", "dagster-mlflow", "dagster-pandas"):
        assert forbidden not in deps


def test_workspace_points_at_definitions():
    assert "python_module: risk_platform.definitions" in (ROOT / "workspace.yaml").read_text()


def test_expectations_are_json_suites_without_python():
    suites = list((ROOT / "expectations").iterdir())
    assert suites and all(p.suffix == ".json" for p in suites)


# ---------------------------------------------------------------------- risk/ flows one way (risk engine)

RISK_PACKAGE = ROOT / "risk_platform" / "risk"
MAX_FUNCTION_LINES = 80


def _risk_functions():
    for path in sorted(RISK_PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                yield path.relative_to(ROOT), node


def test_risk_modules_import_only_at_module_level():
    offenders = [f"{path}:{inner.lineno} in {func.name}" for path, func in _risk_functions()
                 for inner in ast.walk(func) if isinstance(inner, ast.Import | ast.ImportFrom)]
    assert not offenders, offenders


def test_library_functions_are_at_most_80_lines():
    offenders = []
    for path in sorted((ROOT / "risk_platform").rglob("*.py")):
        for func in ast.walk(ast.parse(path.read_text())):
            if isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                length = func.end_lineno - func.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    offenders.append(f"{path.relative_to(ROOT)}:{func.lineno} {func.name} ({length} lines)")
    assert not offenders, offenders


# ---------------------------------------------------------------- one definition per convention

EWMA_RECURSION = re.compile(r"lfilter\(\s*\[\s*1(?:\.0*)?\s*-\s*\w+\s*\]\s*,\s*\[\s*1(?:\.0*)?\s*,\s*-\s*\w+\s*\]")


def _library_modules() -> list[Path]:
    return sorted((ROOT / "risk_platform").rglob("*.py"))


def test_the_ewma_recursion_is_written_once():
    writers = [str(p.relative_to(ROOT)) for p in _library_modules() if EWMA_RECURSION.search(p.read_text())]
    assert writers == ["risk_platform/ewma.py"], writers


def _assigned_in(name: str) -> list[str]:
    """Modules of ``risk_platform/`` that assign ``name`` anywhere (module, class or function level)."""
    out = []
    for path in _library_modules():
        for node in ast.walk(ast.parse(path.read_text())):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
                node, ast.AnnAssign) else []
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                out.append(str(path.relative_to(ROOT)))
                break
    return out


@pytest.mark.parametrize("name, home", [
    ("CRISIS_WINDOWS", "risk_platform/crisis_windows.py"),
    ("REGIMES", "risk_platform/regime.py"),
    ("ALPHAS", "risk_platform/risk/config.py"),
    ("EWMA_LAMBDA", "risk_platform/ewma.py"),
    ("BACKTEST_METHODS", "risk_platform/validation/methods.py"),
])
def test_each_convention_is_assigned_in_one_module(name, home):
    assert _assigned_in(name) == [home]


# --- workflows: the library is only the library ------------------------------------------------------------------
def test_risk_platform_holds_no_benchmark_code():
    library = ROOT / "risk_platform"
    modules = [p for p in library.rglob("bench*") if p.suffix == ".py" or (p / "__init__.py").exists()]
    assert not modules, f"benchmarks live in the top-level bench/ package: {modules}"
    argparse_users = []
    for path in library.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            if "argparse" in names and path != library / "cli.py":
                argparse_users.append(str(path.relative_to(ROOT)))
    assert not argparse_users, f"command lines belong in risk_platform/cli.py or bench/: {argparse_users}"


def test_benchmarks_are_not_shipped():
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    assert (ROOT / "bench" / "__main__.py").exists()
    assert not [p for p in packages if p == "bench" or p.startswith("bench.")]


# --- layers: each part of the library imports only its own layer and the ones below (docs/ARCHITECTURE.md) ------
LAYERS = (
    # conventions and plumbing
    {"errors", "io", "paths", "project_config", "ewma", "regime", "crisis_windows", "scoring", "render"},
    {"data"},
    {"features", "portfolio"},
    {"risk"},
    {"models"},
    {"validation"},
    {"reporting"},
    {"families", "alerts", "lineage"},
    {"workflows"},
    {"monitor"},
    {"cli", "definitions"},
)
LAYER_OF = {part: i for i, layer in enumerate(LAYERS) for part in layer}
MAX_ASSET_BODY_LINES = 25


def _library_part(module: str) -> str | None:
    """``risk_platform.models.lstm`` -> ``models``; ``risk_platform.paths`` -> ``paths``."""
    parts = module.split(".")
    return parts[1] if parts[0] == "risk_platform" and len(parts) > 1 else None


def _imported_parts(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        modules = [a.name for a in node.names]
    elif isinstance(node, ast.ImportFrom) and node.module == "risk_platform":
        modules = [f"risk_platform.{a.name}" for a in node.names]
    elif isinstance(node, ast.ImportFrom) and node.module:
        modules = [node.module]
    else:
        modules = []
    return [part for m in modules if (part := _library_part(m))]


def test_every_library_part_has_a_layer():
    parts = {p.stem if p.is_file() else p.name for p in (ROOT / "risk_platform").iterdir()
             if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").exists()}
    assert parts == set(LAYER_OF), f"place new parts in LAYERS: {sorted(parts ^ set(LAYER_OF))}"


def test_library_layers_import_downwards_only():
    offenders = []
    for path in sorted((ROOT / "risk_platform").rglob("*.py")):
        own = _library_part(".".join(path.relative_to(ROOT).with_suffix("").parts))
        if own is None or own == "__init__":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            offenders += [f"{path.relative_to(ROOT)} ({own}) imports {part}" for part in _imported_parts(node)
                          if part != own and (LAYER_OF[part] > LAYER_OF[own]
                                              or LAYER_OF[part] == LAYER_OF[own] and own not in LAYERS[0])]
    assert not offenders, offenders


def test_asset_bodies_are_short():
    offenders = []
    for path in sorted((ROOT / "assets").glob("*.py")):
        for func in ast.walk(ast.parse(path.read_text())):
            if not isinstance(func, ast.FunctionDef) or not any("asset" in ast.unparse(d) for d in
                                                                   func.decorator_list):
                continue
            body = func.body[1:] if isinstance(func.body[0], ast.Expr) and len(func.body) > 1 else func.body
            length = func.end_lineno - body[0].lineno + 1
            if length > MAX_ASSET_BODY_LINES:
                offenders.append(f"{path.relative_to(ROOT)} {func.name}: {length} lines")
    assert not offenders, offenders
