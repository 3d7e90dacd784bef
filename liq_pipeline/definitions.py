"""Entry point for `dagster dev` (workspace.yaml) and `liq`: assembles Definitions from defs/, nothing more."""
import dagster as dg

from .defs.clean.assets import clean_assets
from .defs.clean.checks import clean_gates
from .defs.jobs import daily_job
from .defs.raw.assets import raw_assets
from .defs.resources import PipelineConfig
from .defs.schedules import daily_schedule
from .defs.warehouse import warehouse_views

defs = dg.Definitions(
    assets=[*raw_assets, *clean_assets, warehouse_views],
    asset_checks=[*clean_gates],
    jobs=[daily_job],
    schedules=[daily_schedule],
    resources={"pipeline": PipelineConfig()},
)
