"""`make dev` (`liq ui`): the Dagster UI comes up on 127.0.0.1 and goes down on Ctrl-C, even when whatever started
it had SIGINT and SIGTERM ignored (a shell's background job, nohup), which every child would otherwise inherit."""
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ignoring_signals():
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _group_alive(pgid: int) -> list[str]:
    out = subprocess.run(["ps", "-o", "pid=,stat=,args=", "-g", str(pgid)], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line.split()[1][0] != "Z"]


@pytest.mark.slow
@pytest.mark.parametrize("stop", ["ctrl-c", "sigterm"])
def test_the_ui_serves_on_loopback_and_stops_on_ctrl_c_or_sigterm(tmp_path, stop):
    port = _free_port()
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "home")}
    proc = subprocess.Popen([sys.executable, "-m", "liq_pipeline.cli", "ui", "--port", str(port)], env=env,
                            preexec_fn=_ignoring_signals, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                info = urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2).read()
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
                assert time.monotonic() < deadline, "the UI did not come up in 120 s"
                time.sleep(0.5)
        assert b"dagster_webserver_version" in info
        if stop == "ctrl-c":
            os.killpg(proc.pid, signal.SIGINT)      # what a terminal sends the foreground group
        else:
            proc.send_signal(signal.SIGTERM)        # what a supervisor sends the process it started
        proc.wait(timeout=60)
        deadline = time.monotonic() + 30
        while _group_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert _group_alive(proc.pid) == []
        err = proc.stderr.read().decode()
        assert "BetaWarning" not in err and "SupersessionWarning" not in err, err
    finally:
        if _group_alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
