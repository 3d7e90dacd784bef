"""runtime/ holds every use of a private Dagster name: each is imported or looked up here, so an upgrade of Dagster
that moved one fails this test by name instead of the pipeline in silence. And the packages import one another
only as docs/architecture.md draws them."""
import ast
import importlib
from pathlib import Path

import dagster as dg
import pytest

from .conftest import REPO

PACKAGE = REPO / "liq_pipeline"


def _private_imports(path: Path) -> list[tuple[str, str]]:
    """(module, name) of every `from dagster._… import name` in a file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("dagster._"):
            found += [(node.module, a.name) for a in node.names]
        elif isinstance(node, ast.Import):
            found += [(a.name, "") for a in node.names if a.name.startswith("dagster._")]
    return found


def test_only_runtime_imports_private_dagster_names():
    outside = {str(p.relative_to(REPO)): names for p in PACKAGE.rglob("*.py")
               if "runtime" not in p.parts and (names := _private_imports(p))}
    assert outside == {}


@pytest.mark.parametrize("module, name", sorted({pair for p in (PACKAGE / "runtime").rglob("*.py")
                                                 for pair in _private_imports(p)}))
def test_each_private_name_runtime_imports_is_where_it_was(module, name):
    imported = importlib.import_module(module)
    assert not name or hasattr(imported, name), f"dagster {dg.__version__}: {module}.{name} is gone"


def test_the_direct_metadata_writer_reaches_the_step_and_the_failure_prefix_is_dagsters(tmp_path):
    """The private attributes runtime/private.py writes a range step's metadata through exist on a real step, and
    what it writes is what the public call would have (a partition's own metadata on its materialisation)."""
    from liq_pipeline.defs import preview_apis, ranges
    from liq_pipeline.runtime import private

    assert ranges._writer is private.add_partition_metadata          # importing runtime.private installs it
    days = dg.DailyPartitionsDefinition("2026-01-01", end_date="2026-01-04")
    seen = {}

    with preview_apis():
        @dg.asset(partitions_def=days, backfill_policy=dg.BackfillPolicy.single_run())
        def ranged(context: dg.AssetExecutionContext):
            step = getattr(context.op_execution_context, private.STEP_CONTEXT)
            seen["accumulator"] = hasattr(step, private.ACCUMULATOR)
            for key in context.partition_keys:
                private.add_partition_metadata(context, context.assets_def.key, key, {"day": key})
            return dg.MaterializeResult()

    instance = dg.DagsterInstance.ephemeral()
    assert dg.materialize([ranged], instance=instance, tags={"dagster/asset_partition_range_start": "2026-01-01",
                                                             "dagster/asset_partition_range_end": "2026-01-03"}).success
    assert seen["accumulator"], f"dagster {dg.__version__}: a step context has no {private.ACCUMULATOR}"
    records = instance.fetch_materializations(dg.AssetKey("ranged"), limit=10).records
    assert {r.partition_key: r.asset_materialization.metadata["day"].value for r in records} == \
        {k: k for k in ("2026-01-01", "2026-01-02", "2026-01-03")}

    @dg.op
    def fails():
        raise dg.Failure("the cause, in our words")

    result = dg.GraphDefinition("g", node_defs=[fails]).to_job().execute_in_process(raise_on_error=False)
    error = result.get_step_failure_events()[0].event_specific_data.error
    assert error.message.startswith(f"{dg.Failure.__module__}.{dg.Failure.__qualname__}: ")
    assert private.failure_message(error.message.strip()) == "the cause, in our words"


# The arrows docs/architecture.md draws: which part of the package may import which (itself always).
LAYERS = ("cli", "serve", "runtime", "definitions", "defs", "lib")
ALLOWED = {"cli": {"serve", "runtime", "definitions", "defs", "lib"}, "serve": {"lib"},
           "runtime": {"definitions", "defs", "lib"},
           "definitions": {"defs", "lib"}, "defs": {"lib"}, "lib": set()}
# inside lib: the sources and the simulated market feed the model; neither knows it
LIB_FORBIDDEN = {("sources", "model"), ("sources", "validation"), ("sim", "model"), ("sim", "validation")}


def _part(rel: tuple[str, ...]) -> str:
    return rel[0].removesuffix(".py") if rel[0] in ("cli.py", "definitions.py") or rel[0] in LAYERS else "package"


def _imports(path: Path) -> list[tuple[str, ...]]:
    """The package modules a file imports, as paths of names under liq_pipeline (relative imports resolved)."""
    here = path.relative_to(PACKAGE).with_suffix("").parts
    package = here[:-1] if path.name != "__init__.py" else here[:-1]
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                names = (node.module or "").split(".") if node.module else []
                targets = [(*base, *names)] if node.module else [(*base, a.name) for a in node.names]
            elif (node.module or "").startswith("liq_pipeline"):
                targets = [tuple(node.module.split(".")[1:])]
            else:
                continue
            out += [t for t in targets if t]
        elif isinstance(node, ast.Import):
            out += [tuple(a.name.split(".")[1:]) for a in node.names if a.name.startswith("liq_pipeline.")]
    return out


def test_the_packages_import_one_another_only_as_the_architecture_draws():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).parts
        src = _part(rel)
        for target in _imports(path):
            dst = _part(target if target[0] in LAYERS else (target[0] + ".py",))
            if dst != src and dst != "package" and dst not in ALLOWED.get(src, set()):
                wrong.append(f"{'/'.join(rel)} -> {'.'.join(target)}")
            if src == "lib" == dst and len(rel) > 2 and len(target) > 1 and (rel[1], target[1]) in LIB_FORBIDDEN:
                wrong.append(f"{'/'.join(rel)} -> {'.'.join(target)}")
        if src == "lib" and any(i.startswith("import dagster") or i.startswith("from dagster")
                                for i in (line.strip() for line in path.read_text().splitlines())):
            wrong.append(f"{'/'.join(rel)} imports dagster")
    assert wrong == []


def test_the_architecture_document_draws_those_arrows():
    text = (REPO / "docs" / "architecture.md").read_text()
    for src, targets in ALLOWED.items():
        for dst in targets:
            assert f"{src} → {dst}" in text, f"docs/architecture.md does not draw {src} → {dst}"
