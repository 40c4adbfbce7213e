"""End to end in a browser: headless Chromium (Debian's, driven by Playwright) opens the viewer
of a running service, submits real DWD frames, plays the nowcast and asks for a point chart;
/docs renders too. No request may leave the machine. Screenshots are kept as artefacts."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest

from service.views import RAIN_COLOURS

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "tests" / "artifacts" / "viewer"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def chromium() -> str:
    pytest.importorskip("playwright.sync_api")
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it with apt-get)")
    return path


@pytest.fixture(scope="module")
def service_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "NOWCAST_REDIS_URL")}
    env.update(NOWCAST_MODEL_DIR=str(REPO / "models" / "shipped"), OMP_NUM_THREADS="2")
    proc = subprocess.Popen(
        [sys.executable, "-m", "nowcast", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/healthz", timeout=2)
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("the service did not start")
            time.sleep(0.3)
    yield url
    proc.terminate()
    proc.wait(timeout=20)


def test_viewer_and_docs_in_headless_chromium(chromium, service_url, dwd_dir: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    frames = sorted((dwd_dir / "martines1_ry").glob("*25092123[23]*"))  # 23:20..23:35, rain
    assert len(frames) == 4
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots in {ARTIFACTS}")
    hosts: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1150, "height": 900})
        # blob: URLs are the map frames fetched with the key, held by the page itself
        page.on("request", lambda r: None if r.url.startswith("blob:")
                else hosts.append(urlparse(r.url).hostname or r.url))  # fmt: skip
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        auth: list[str | None] = []
        page.on("request", lambda r: auth.append(r.headers.get("authorization"))
                if "/jobs/" in r.url or "/nowcast" in r.url else None)  # fmt: skip
        page.goto(f"{service_url}/viewer")
        # a key entered once is sent as a bearer token with every API request (this service
        # asks for none, and ignores it)
        page.fill("#api-key", "nk_browser-test-key")
        page.click("#key button")
        expect(page.locator("#status")).to_contain_text("key kept")
        page.set_input_files("#files", [str(f) for f in frames])
        page.click("#submit button")
        expect(page.locator("#viewer")).to_be_visible(timeout=180_000)
        page.wait_for_timeout(300)
        assert errors == []
        expect(page.locator("#kind")).to_have_text("OBSERVED")
        expect(page.locator("#time")).to_contain_text("UTC")
        # no rain, no data, one box per class of the rain scale, the units
        expect(page.locator("#legend .item")).to_have_count(len(RAIN_COLOURS) + 3)
        expect(page.locator("#legend")).to_contain_text("mm/h")
        expect(page.locator("#attribution")).to_contain_text("Quelle: Deutscher Wetterdienst")
        assert page.locator("#borders polyline.country").count() > 20
        assert page.locator("#borders polyline.state").count() >= 20  # German state borders
        page.wait_for_function("document.getElementById('frame').naturalWidth === 900")
        page.screenshot(path=ARTIFACTS / "1-observed.png")
        first = page.locator("#time").inner_text()
        page.click("#play")
        expect(page.locator("#time")).not_to_have_text(first, timeout=10_000)  # it advances
        expect(page.locator("#kind")).to_have_text("FORECAST", timeout=10_000)
        page.wait_for_timeout(2500)
        page.click("#play")  # pause
        assert "lead +" in page.locator("#lead").inner_text()
        page.screenshot(path=ARTIFACTS / "2-forecast.png")
        box = page.locator("#map").bounding_box()
        page.mouse.click(box["x"] + box["width"] * 0.75, box["y"] + box["height"] * 0.6)
        expect(page.locator("#chart")).to_be_visible(timeout=20_000)
        assert page.locator("#chart rect.bar").count() == 24
        expect(page.locator("#point")).to_contain_text("° N")
        page.screenshot(path=ARTIFACTS / "3-point.png", full_page=True)
        page.select_option("#layer", "probability")
        expect(page.locator("#legend")).to_contain_text("probability")
        page.wait_for_timeout(1500)
        page.screenshot(path=ARTIFACTS / "4-probability.png")
        assert len(auth) > 10 and set(auth) == {"Bearer nk_browser-test-key"}, set(auth)
        page.goto(f"{service_url}/docs")
        expect(page.locator(".swagger-ui .info .title")).to_contain_text(
            "ms-nowcast", timeout=20_000
        )
        expect(page.locator(".opblock").first).to_be_visible()
        page.screenshot(path=ARTIFACTS / "5-docs.png")
        browser.close()
    assert errors == []
    assert hosts and set(hosts) == {"127.0.0.1"}, sorted(set(hosts))
