"""Entry point for `dagster dev` (workspace.yaml) and `liq`: assembles Definitions from defs/, nothing more."""
import dagster as dg

from .defs.clean.assets import clean_assets
from .defs.executors import liq_executor
from .defs.freshness import freshness_checks, freshness_job, freshness_schedule
from .defs.jobs import daily_job, monthly_job, tape_job
from .defs.model.assets import liquidation_model, volume_profile_asset
from .defs.raw.assets import raw_assets
from .defs.resources import SourceResource, StorageResource
from .defs.schedules import daily_schedule, monthly_schedule
from .defs.sensors import tape_sensor
from .defs.validation.assets import validation_daily, validation_monthly
from .defs.warehouse import warehouse_views

defs = dg.Definitions(
    assets=[*raw_assets, *clean_assets, volume_profile_asset, liquidation_model, validation_daily,
            validation_monthly, warehouse_views],
    asset_checks=[freshness_checks],
    jobs=[daily_job, monthly_job, tape_job, freshness_job],
    schedules=[daily_schedule, monthly_schedule, freshness_schedule],
    sensors=[tape_sensor],
    resources={"storage": StorageResource(), "source": SourceResource()},
    executor=liq_executor,
)
