"""Open a `liq heatmap --format html` page in headless Chromium (Debian's `chromium`), move the mouse over it and
print what a user would see: external scripts loaded (0: self-contained), the traces, and the hover text at a
few points. Usage: python bench/html_heatmap_check.py PAGE.html [--shots DIR]"""
from __future__ import annotations

import argparse
import asyncio
import base64
import json
import subprocess
import time
import urllib.request
from pathlib import Path

import websockets

PORT = 9333


async def inspect(page: Path, shots: Path | None) -> None:
    tabs = json.load(urllib.request.urlopen(f"http://127.0.0.1:{PORT}/json"))
    url = next(t for t in tabs if t["type"] == "page")["webSocketDebuggerUrl"]
    async with websockets.connect(url, max_size=50_000_000) as ws:
        ids = iter(range(1, 10**6))

        async def call(method, **params):
            i = next(ids)
            await ws.send(json.dumps({"id": i, "method": method, "params": params}))
            while True:
                reply = json.loads(await ws.recv())
                if reply.get("id") == i:
                    return reply.get("result", {})

        await call("Emulation.setDeviceMetricsOverride", width=1400, height=800, deviceScaleFactor=1, mobile=False)
        await call("Page.navigate", url=page.resolve().as_uri())
        await asyncio.sleep(4)
        js = ("document.querySelectorAll('script[src]').length + ' external scripts; traces: ' + "
              "document.querySelector('.js-plotly-plot').data.map(t => t.name).join(', ')")
        print((await call("Runtime.evaluate", expression=js))["result"]["value"])
        for x, y in ((600, 250), (600, 450), (600, 560)):
            await call("Input.dispatchMouseEvent", type="mouseMoved", x=x, y=y)
            await asyncio.sleep(0.8)
            hover = (await call("Runtime.evaluate", expression="(document.querySelector('.hovertext') || "
                                "{textContent: '(no hover)'}).textContent"))["result"]["value"]
            print(f"hover at ({x}, {y}): {hover}")
            if shots:
                shot = await call("Page.captureScreenshot", format="png")
                (shots / f"hover-{x}-{y}.png").write_bytes(base64.b64decode(shot["data"]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("page", type=Path)
    ap.add_argument("--shots", type=Path, default=None)
    a = ap.parse_args()
    proc = subprocess.Popen(["chromium", "--headless", "--no-sandbox", "--disable-gpu", f"--remote-debugging-port={PORT}",
                             "about:blank"], stderr=subprocess.DEVNULL)
    try:
        time.sleep(3)
        asyncio.run(inspect(a.page, a.shots))
    finally:
        proc.terminate()


if __name__ == "__main__":
    main()
