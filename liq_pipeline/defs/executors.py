"""The jobs' executor, chosen per run by config (`liq run --executor`), so the same definitions run on a laptop
and across machines:

- in_process: every step in the run's own process (least overhead; what a range run of one symbol needs);
- multiprocess: independent steps in parallel processes on this machine;
- celery: each step is a Celery task (dagster-celery), run by whichever worker takes it from the broker (Redis
  here). Workers load the same definitions and write to the same instance and data root;
- k8s (with $LIQ_K8S_EXECUTOR=1 and dagster-k8s installed, the `k8s` extra): each step in its own Kubernetes Job
  (docs/scaling.md, Kubernetes).

Each mode is Dagster's own executor; this only puts them behind one config selector (Dagster's default executor
offers the first two the same way).
"""
import os

import dagster as dg
from dagster_celery import celery_executor

from . import EXECUTORS as CLI_MODES

# The k8s mode imports dagster-k8s and the Kubernetes client in every process that loads the definitions, so only
# a deployment that uses it turns it on.
K8S_VAR = "LIQ_K8S_EXECUTOR"


def executors(k8s: bool = False) -> dict[str, dg.ExecutorDefinition]:
    modes = {"in_process": dg.in_process_executor, "multiprocess": dg.multiprocess_executor, "celery": celery_executor}
    assert tuple(modes) == CLI_MODES, "the CLI's --executor choices and the executors differ"
    if k8s:
        from dagster_k8s import k8s_job_executor
        modes["k8s"] = k8s_job_executor
    return modes


def liq_executor_def(k8s: bool = False) -> dg.ExecutorDefinition:
    modes = executors(k8s)

    @dg.executor(
        name="liq_executor",
        config_schema=dg.Field(dg.Selector({mode: d.config_schema.as_field() for mode, d in modes.items()}),
                               default_value={"in_process": {}}),
        requirements=lambda config: [] if "in_process" in config else dg.multiple_process_executor_requirements(),
    )
    def liq_executor(init_context: dg.InitExecutorContext) -> dg.Executor:
        (mode, config), = init_context.executor_config.items()
        chosen = modes[mode]
        return chosen.executor_creation_fn(dg.InitExecutorContext(
            job=init_context.job, executor_def=chosen, executor_config=config, instance=init_context.instance))

    return liq_executor


liq_executor = liq_executor_def(k8s=os.environ.get(K8S_VAR) == "1")
