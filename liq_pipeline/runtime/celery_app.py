"""The Celery app a `liq worker` runs (celery -A liq_pipeline.runtime.celery_app worker): dagster-celery's own app and
step task, on the broker of $LIQ_CELERY_BROKER (the one `liq run --executor celery --broker` submits to)."""
import os

from dagster_celery.executor import CeleryExecutor
from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_task

from . import CELERY_BROKER_VAR, DEFAULT_CELERY_BROKER, private  # noqa: F401  (a worker runs steps: the direct writer)


def _app(broker: str):
    """dagster-celery's app on `broker`, which is its result backend too (Redis)."""
    return make_app(CeleryExecutor.for_cli(broker=broker, backend=broker).app_args())


app = _app(os.environ.get(CELERY_BROKER_VAR) or DEFAULT_CELERY_BROKER)
execute_plan = create_task(app)


def workers(broker: str, timeout: float = 2.0) -> list[str]:
    """The workers listening on `broker` (their names); raises if the broker cannot be reached."""
    probe = _app(broker)
    with probe.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1)
    return sorted(name for reply in probe.control.ping(timeout=timeout) for name in reply)
