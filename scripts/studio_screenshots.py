"""Screenshots of the studio for the README: docs/studio.png (desktop) and docs/studio-phone.png (390x844).

Runs `voiceguide studio` with its folders in a temporary directory, drives Debian's headless Chromium (the same
setup as tests/test_studio_browser.py), picks a built-in, renders it, and saves the two pictures.

    python scripts/studio_screenshots.py [--engine pyttsx3|fake] [--routine morning]
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.test_studio_browser import by_testid, chromium, start_studio, stop_studio, timeline_duration, wait_for  # noqa: E402

MAX_BYTES = 300_000


def save_png(png: bytes, path: Path) -> None:
    """The screenshot, reduced to a palette if it is over MAX_BYTES (text and flat colours lose nothing visible)."""
    if len(png) > MAX_BYTES:
        try:
            from PIL import Image
        except ImportError:
            raise SystemExit(f"{path.name} would be {len(png):,} bytes; pip install pillow to reduce it to a palette") from None

        image = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT)
        out = io.BytesIO()
        image.save(out, format="PNG", optimize=True)
        png = out.getvalue()
    path.write_bytes(png)
    print(f"wrote {path} ({len(png):,} bytes)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", default="pyttsx3")
    parser.add_argument("--routine", default="morning")
    args = parser.parse_args()
    from selenium.webdriver.support.ui import Select

    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        proc, url = start_studio(tmp, engine=args.engine)
        driver = chromium(1280, 1000, user_data=tmp / "profile")
        try:
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": 1280, "height": 1500, "deviceScaleFactor": 1, "mobile": False})
            driver.get(url)
            select = Select(wait_for(lambda: by_testid(driver, "routine-select")))
            wait_for(lambda: args.routine in [o.get_attribute("value") for o in select.options])
            select.select_by_value(args.routine)
            wait_for(lambda: timeline_duration(driver), timeout_s=300, what="the plan")
            by_testid(driver, "render-button").click()
            wait_for(lambda: driver.execute_script("const a = arguments[0]; return a.readyState >= 1 && isFinite(a.duration);",
                                                   by_testid(driver, "session-audio")), timeout_s=600, what="the session")
            driver.execute_script("window.scrollTo(0, 0)")
            save_png(driver.get_screenshot_as_png(), ROOT / "docs" / "studio.png")
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True})
            driver.get(url)
            wait_for(lambda: timeline_duration(driver), timeout_s=300, what="the plan on the phone")
            save_png(driver.get_screenshot_as_png(), ROOT / "docs" / "studio-phone.png")
        finally:
            driver.quit()
            stop_studio(proc)


if __name__ == "__main__":
    main()
