"""The studio in a real browser: Debian's headless Chromium driven by Selenium against `voiceguide studio` run as a
user runs it (a subprocess, the fake voice registered first so the test is quick and deterministic)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ROOT = Path(__file__).resolve().parents[1]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists() or not CHROMEDRIVER.exists(),
                       reason="needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver; .ci/run does)"),
]

# The real command line, with the fake voice registered as a plugin would register an engine.
LAUNCHER = (
    "import sys; sys.path.insert(0, {root!r}); from tests.conftest import FakeEngine; from voiceguide.voice import ENGINES; "
    "ENGINES['fake'] = FakeEngine; sys.argv = ['voiceguide', 'studio', '--port', '0', '--no-browser']; "
    "from voiceguide._entry import main; main()"
)

TYPO_ROUTINE = """\
title: Typo test
music: none
sections:
  - title: Neck
    stesp:
      - say: Stroke down the neck.
        hold: 3s
"""


def start_studio(tmp_path: Path, engine: str = "fake") -> tuple[subprocess.Popen, str]:
    """`voiceguide studio` on a free port, its folders in tmp_path; returns the process and the printed link."""
    config = tmp_path / "config.yaml"
    config.write_text(f"routines_dir: {tmp_path / 'routines'}\noutput_dir: {tmp_path / 'sessions'}\nengine: {engine}\n")
    env = {**os.environ, "VOICEGUIDE_CONFIG": str(config)}
    code = LAUNCHER.format(root=str(ROOT)) if engine == "fake" else "from voiceguide._entry import main; import sys; sys.argv = ['voiceguide', 'studio', '--port', '0', '--no-browser']; main()"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    url = proc.stdout.readline().strip()
    if not url.startswith("http://"):
        proc.kill()
        raise AssertionError(f"no link from the studio: {url!r} {proc.stderr.read()}")
    return proc, url


def stop_studio(proc: subprocess.Popen) -> str:
    import signal

    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    return err


def chromium(width: int = 1280, height: int = 1000, user_data: Path | None = None):
    """Headless Chromium from Debian, its driver named explicitly so Selenium Manager never downloads anything."""
    os.environ["SE_OFFLINE"] = "true"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--autoplay-policy=no-user-gesture-required", f"--window-size={width},{height}",
                 f"--user-data-dir={user_data}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)


def by_testid(driver, name: str):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, f'[data-testid="{name}"]')


def wait_for(condition, timeout_s: float = 60.0, what: str = ""):
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        try:
            last = condition()
            if last:
                return last
        except Exception as exc:  # noqa: BLE001 - the page is still loading
            last = exc
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}: {last!r}")


def timeline_duration(driver) -> float | None:
    value = by_testid(driver, "timeline").get_attribute("data-duration-s")
    return float(value) if value else None


@pytest.fixture
def studio(tmp_path):
    proc, url = start_studio(tmp_path)
    driver = chromium(user_data=tmp_path / "chromium-profile")
    try:
        yield driver, url, tmp_path
    finally:
        driver.quit()
        err = stop_studio(proc)
        assert "Traceback" not in err, err


def test_pick_pace_render_play_chapters_and_typo(studio):
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    driver, url, tmp_path = studio
    driver.get(url)
    select = Select(wait_for(lambda: by_testid(driver, "routine-select"), what="the routine picker"))
    wait_for(lambda: "morning" in [o.get_attribute("value") for o in select.options], what="the built-ins")
    select.select_by_value("morning")
    first = wait_for(lambda: timeline_duration(driver), what="the first plan")
    assert by_testid(driver, "problems").find_elements("css selector", "li") == []  # a built-in has no problems
    assert by_testid(driver, "timeline").find_elements("css selector", "svg .vg-speech")

    pace = by_testid(driver, "pace")
    pace.clear()
    pace.send_keys("0.8")
    slower = wait_for(lambda: (d := timeline_duration(driver)) and d > first + 1 and d, what="the plan at pace 0.8")

    by_testid(driver, "render-button").click()
    audio = by_testid(driver, "session-audio")
    duration = wait_for(lambda: driver.execute_script(
        "const a = arguments[0]; return a.src && a.readyState >= 1 && isFinite(a.duration) ? a.duration : null;", audio),
        timeout_s=180, what="the rendered session in the player")
    assert float(by_testid(driver, "progress").get_attribute("value")) == 1.0
    assert duration == pytest.approx(slower, abs=0.1), (duration, slower)
    print(f"morning at pace 0.8: plan {slower:.3f} s (pace 1: {first:.3f} s), <audio> duration {duration:.3f} s")

    chapters = by_testid(driver, "chapters").find_elements("css selector", "li")
    assert [c.text.split(" (")[0] for c in chapters][:2] == ["Introduction", "Cool hands and an open neck"]
    second_start = float(chapters[1].get_attribute("data-start-s"))
    chapters[1].find_element("css selector", "button").click()
    wait_for(lambda: abs(driver.execute_script("return arguments[0].currentTime", audio) - second_start) < 1.0, what="the seek")
    link = by_testid(driver, "download-link").get_attribute("href")
    assert link.endswith("download=1") and ".mp3" in link
    assert (tmp_path / "sessions").is_dir() and list((tmp_path / "sessions").glob("morning-*.mp3"))

    editor = by_testid(driver, "yaml-editor")
    editor.send_keys(Keys.CONTROL, "a")
    editor.send_keys(Keys.DELETE)
    editor.send_keys(TYPO_ROUTINE)
    problems = by_testid(driver, "problems")
    wait_for(lambda: "did you mean 'steps'" in problems.text, what="the did-you-mean")
    assert "5:5" in problems.text, problems.text  # line 5, column 5: 'stesp'


def test_phone_sized_page_fits_its_width(studio):
    """At 390x844 (a phone) the page is one column: nothing is wider than the screen, every control is reachable."""
    driver, url, _ = studio
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True})
    driver.get(url)
    wait_for(lambda: timeline_duration(driver), what="the first plan")
    assert driver.execute_script("return [window.innerWidth, document.documentElement.scrollWidth]") == [390, 390]
    for name in ("routine-select", "pace", "render-button", "progress", "timeline", "yaml-editor", "problems"):
        box = driver.execute_script("const r = arguments[0].getBoundingClientRect(); return [r.left, r.right, r.width];", by_testid(driver, name))
        assert 0 <= box[0] and box[1] <= 390 and box[2] > 40, (name, box)
    # The timeline scrolls inside its box rather than widening the page.
    assert driver.execute_script("return getComputedStyle(arguments[0]).overflowX", by_testid(driver, "timeline")) == "auto"
