"""What the validation suite reads, per day: table -> layer. Model tables are filtered to the model being validated.

Apart from the suite (lib/validation/suite) so the validation assets can declare their inputs without importing the
suite's statistics (scipy.stats: a second of every process's start, needed only where a period is validated)."""

INPUTS = {"model_snapshots": "model", "heatmap": "model", "heatmap_levels": "model", "predicted_liquidations": "model",
          "klines": "clean", "funding": "clean", "liquidation_events": "clean", "liquidation_bars": "clean",
          "sim_positions": "clean", "sim_liquidations": "clean"}
