"""Run every benchmark in turn, each in its own process, and print its figures."""
import subprocess
import sys
from pathlib import Path

BENCHES = ["sim_speed.py", "sim_realism.py", "flow_speed.py", "heatmap_query.py", "model_vs_truth.py", "real_skill.py", "walk_forward.py",
           "choice_stability.py",
           "recorder_speed.py", "event_log_speed.py", "pipeline_speed.py"]


def main() -> int:
    here = Path(__file__).resolve().parent
    failed = 0
    for name in BENCHES:
        print(f"\n=== bench/{name}", flush=True)
        failed += subprocess.run([sys.executable, str(here / name)]).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
