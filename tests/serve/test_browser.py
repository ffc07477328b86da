"""The balance page in a real headless Chromium (Debian's chromium + chromium-driver, driven by selenium):
the balance shown is the one computed by hand from the entries written here, a new entry shows on reload
(the server is not restarted), and a screenshot is saved as a PNG."""

from __future__ import annotations

import shutil
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import ServeSpace

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

CHROMIUM = shutil.which("chromium")
DRIVER = shutil.which("chromedriver")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    if CHROMIUM is None or DRIVER is None:
        pytest.fail("chromium and chromium-driver are needed (scripts/bootstrap.sh installs them)")
    options = Options()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def test_balance_page_in_chromium(space: ServeSpace, browser: webdriver.Chrome, tmp_path: Path) -> None:
    # 10 h a month; 50 min → 1.00 h and 20 min → 0.50 h billed (15-minute steps, up): 8.50 h remain.
    space.log("alpha", 50, "maintenance", "Checked the backups")
    space.log("alpha", 20, "bugfix", "Fixed the order form")
    browser.get(f"{space.base_url}/c/alpha/?token={space.tokens['alpha']}")
    assert browser.current_url == f"{space.base_url}/c/alpha/"  # the token left the address bar
    assert browser.find_element(By.ID, "remaining").text == "8.50 h"
    assert browser.find_element(By.ID, "used").text == "1.50 h"
    notes = [row.text for row in browser.find_elements(By.CSS_SELECTOR, "#entries tr.entry")]
    assert len(notes) == 2 and any("Fixed the order form" in n for n in notes)

    # A new entry lands while the page is open: 100 min → 1.75 h billed; 8.50 - 1.75 = 6.75 h.
    space.log("alpha", 100, "bugfix", "Repaired the 1C exchange")
    browser.refresh()
    assert browser.find_element(By.ID, "remaining").text == "6.75 h"
    rows = browser.find_elements(By.CSS_SELECTOR, "#entries tr.entry")
    assert len(rows) == 3 and "Repaired the 1C exchange" in rows[0].text

    shot = tmp_path / "balance.png"
    assert browser.save_screenshot(str(shot))
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert width > 100 and height > 100 and len(data) > 1000


def test_other_clients_page_shows_nothing_in_chromium(space: ServeSpace, browser: webdriver.Chrome) -> None:
    space.log("beta", 30, "bugfix", "beta-only work")
    browser.get(f"{space.base_url}/c/beta/?token={space.tokens['alpha']}")
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "404" in body and "beta-only work" not in body and " h" not in body
