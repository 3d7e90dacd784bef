"""The jobs' executor, chosen per run by config (`liq run --executor`), so the same definitions run on a laptop
and across machines:

- in_process: every step in the run's own process (least overhead; what a range run of one symbol needs);
- multiprocess: independent steps in parallel processes on this machine;
- celery: each step is a Celery task (dagster-celery), run by whichever worker takes it from the broker (Redis
  here). Workers load the same definitions and write to the same instance and data root;
- k8s (where dagster-k8s is installed: the `k8s` extra): each step in its own Kubernetes Job (README, deployment).

Each mode is Dagster's own executor; this only puts them behind one config selector (Dagster's default executor
offers the first two the same way).
"""
import dagster as dg
from dagster_celery import celery_executor

from . import EXECUTORS as CLI_MODES

EXECUTORS = {"in_process": dg.in_process_executor, "multiprocess": dg.multiprocess_executor, "celery": celery_executor}
assert tuple(EXECUTORS) == CLI_MODES, "the CLI's --executor choices and the executors differ"
try:      # a cluster's mode, set in the run config there (the CLI's machine has no cluster to send steps to)
    from dagster_k8s import k8s_job_executor
    EXECUTORS["k8s"] = k8s_job_executor
except ImportError:
    pass


@dg.executor(
    name="liq_executor",
    config_schema=dg.Field(dg.Selector({mode: d.config_schema.as_field() for mode, d in EXECUTORS.items()}),
                           default_value={"in_process": {}}),
    requirements=lambda config: [] if "in_process" in config else dg.multiple_process_executor_requirements(),
)
def liq_executor(init_context: dg.InitExecutorContext) -> dg.Executor:
    (mode, config), = init_context.executor_config.items()
    chosen = EXECUTORS[mode]
    return chosen.executor_creation_fn(dg.InitExecutorContext(
        job=init_context.job, executor_def=chosen, executor_config=config, instance=init_context.instance))
