"""Helpers of the browser test: the app in a subprocess and headless Chromium via Selenium."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

SRC = Path(__file__).resolve().parents[1] / "src"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def start_app(port: int, log: Path) -> subprocess.Popen:
    """``vtrial.app.serve`` on ``port`` in a subprocess (output to ``log``), once it answers HTTP."""
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    code = f"from vtrial.app import serve; serve(port={port}, open_browser=False)"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the app exited: {log.read_text()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("the app did not answer within 60 s")


def chromium(user_data_dir: Path) -> webdriver.Chrome:
    """Headless Chromium from the Debian packages, with a fresh profile and no network extras."""
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1400,1800",
                 f"--user-data-dir={user_data_dir}"):  # fmt: skip
        opts.add_argument(flag)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)


def wait_for(fn, timeout: float = 60.0, what: str = "condition"):
    """Poll ``fn`` until it returns a truthy value; that value."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = fn()
            if last:
                return last
        except Exception as e:  # element not there yet, stale element
            last = e
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def text_of(driver, css: str) -> str:
    return driver.find_element(By.CSS_SELECTOR, css).text.strip()


def image_src(driver, output_id: str) -> str:
    return driver.find_element(By.CSS_SELECTOR, f"#{output_id} img").get_attribute("src") or ""


def idle(driver) -> bool:
    """Shiny has no computation under way: no visible output is recalculating.

    (Outputs on pages not shown stay marked until their page is opened.)
    """
    return driver.execute_script(
        "return !document.documentElement.classList.contains('shiny-busy') && "
        "Array.from(document.querySelectorAll('.recalculating')).every(e => e.offsetParent === null);"
    )


def type_into(driver, input_id: str, value: str) -> None:
    el = driver.find_element(By.ID, input_id)
    el.click()
    el.send_keys(Keys.CONTROL, "a")
    el.send_keys(Keys.DELETE)
    el.send_keys(value)
    el.send_keys(Keys.TAB)


def move_slider(driver, input_id: str, value: float) -> None:
    """Move an ion.rangeSlider as a drag would: the same change event reaches Shiny."""
    driver.execute_script(
        "$('#' + arguments[0]).data('ionRangeSlider').update({from: arguments[1]});"
        "$('#' + arguments[0]).trigger('change');",
        input_id,
        value,
    )


def open_page(driver, title: str) -> None:
    driver.find_element(By.LINK_TEXT, title).click()


def stop_app(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def no_error_shown(driver) -> bool:
    return not [e for e in driver.find_elements(By.CSS_SELECTOR, ".vt-error") if e.is_displayed()]
