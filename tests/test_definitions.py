"""The Definitions load, and the asset graph is the one the README documents."""
import re


from liq_pipeline.definitions import defs

from .conftest import REPO


def documented_graph() -> dict[str, set[str]]:
    text = (REPO / "README.md").read_text()
    block = text.split("<!-- asset-graph -->")[1].split("<!-- /asset-graph -->")[0]
    graph = {}
    for line in block.splitlines():
        m = re.match(r"\|\s*`([^`]+)`\s*\|\s*(.*?)\s*\|", line)
        if m:
            graph[m.group(1)] = set(re.findall(r"`([^`]+)`", m.group(2)))
    return graph


def test_definitions_load_and_graph_is_documented():
    graph = defs.resolve_asset_graph()
    actual = {k.to_user_string(): {p.to_user_string() for p in graph.get(k).parent_keys} for k in graph.get_all_asset_keys()}
    assert actual == documented_graph()


def test_every_clean_asset_has_a_blocking_gate():
    graph = defs.resolve_asset_graph()
    checks = {spec.asset_key.to_user_string(): spec for cd in defs.asset_checks for spec in cd.check_specs}
    clean = [k for k in graph.get_all_asset_keys() if k.path[0] == "clean"]
    assert len(clean) == 8
    for key in clean:
        assert checks[key.to_user_string()].blocking, key


def test_jobs_and_schedules():
    assert defs.resolve_job_def("daily_job").partitions_def is not None
    assert defs.resolve_schedule_def("daily_schedule").cron_schedule == "0 3 * * *"
