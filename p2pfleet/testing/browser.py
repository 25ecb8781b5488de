"""A headless Chromium driven by Selenium, for the explorer's browser tests and tools.

Uses Debian's `chromium` and `chromium-driver` packages (installed by the
Makefile / CI); Selenium's own driver download is never used.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = Path(os.environ.get("P2PFLEET_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("P2PFLEET_CHROMEDRIVER", "/usr/bin/chromedriver"))
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


@contextmanager
def open_chromium(user_data_dir: Path, *, width: int = 1400, height: int = 1000) -> Iterator[Any]:
    """A fresh headless Chromium (a Selenium WebDriver), always quit on exit."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    for binary in (CHROMIUM, CHROMEDRIVER):
        if not binary.exists():
            raise FileNotFoundError(
                f"{binary} not found: install Debian's chromium and chromium-driver packages "
                "(or set P2PFLEET_CHROMIUM / P2PFLEET_CHROMEDRIVER)"
            )
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={user_data_dir}")
    options.add_argument(f"--window-size={width},{height}")
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()
