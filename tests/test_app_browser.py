"""The teaching app in a real browser: headless Chromium drives every page.

The app runs in a subprocess on a free port, as ``vtrial.app.serve`` does for a
teacher. Each page is loaded, an input is moved, and the test checks that the
figure and the numbers change and that they are the numbers the public API
gives for the same settings and seed (``run_power``, ``sample_size``,
``run_assurance``, ``simulate_trial``, ``simulated_statistics``). A bad value must be refused on
the page with a one-line message, never a traceback. Screenshots of every page
are written under the test's tmp_path.
"""

from __future__ import annotations

import pandas as pd
import pytest
from app_browser import (
    chromium,
    idle,
    image_src,
    move_slider,
    no_error_shown,
    open_page,
    start_app,
    stop_app,
    text_of,
    type_into,
    wait_for,
)
from selenium.webdriver.common.by import By

from vtrial.app import free_port
from vtrial.assurance import run_assurance
from vtrial.calibration import simulated_statistics
from vtrial.config import load_config, scenario_id
from vtrial.power import run_power, sample_size
from vtrial.streams import rng_for
from vtrial.trial import ARMS, simulate_trial

SEED = 20091201


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    port = free_port()
    proc = start_app(port, tmp_path_factory.mktemp("app") / "app.log")
    try:
        driver = chromium(tmp_path_factory.mktemp("chromium-profile"))
        try:
            driver.get(f"http://127.0.0.1:{port}/")
            yield driver
        finally:
            driver.quit()
    finally:
        stop_app(proc)


def no_traceback(driver) -> None:
    body = driver.find_element(By.TAG_NAME, "body").text
    assert "Traceback" not in body and 'File "' not in body


def refused(driver, key: str) -> str:
    box = wait_for(lambda: [e for e in driver.find_elements(By.CSS_SELECTOR, ".vt-error") if e.is_displayed()],
                   what=f"a message refusing {key}")  # fmt: skip
    text = box[0].text
    assert key in text and "\n" not in text.split("Not accepted: ", 1)[-1], text
    no_traceback(driver)
    return text


def test_one_trial_page(browser, tmp_path):
    d = browser
    wait_for(lambda: image_src(d, "trial_paths") and idle(d), what="the trial figure")
    wait_for(lambda: d.find_elements(By.CSS_SELECTOR, "#trial_blocks img"), what="the block figure")
    d.save_screenshot(str(tmp_path / "one_trial.png"))
    # The analysis on the page is the analysis of `vtrial simulate` with this seed.
    cfg = load_config(overrides=["trial.n_per_arm=44", "trial.block_sizes=[4]"], seed=SEED)
    data = simulate_trial(cfg, rng=rng_for(SEED, scenario_id(cfg), 0))
    from vtrial.analysis import run_methods

    expected = run_methods(data, ["ancova"], rng=rng_for(SEED, scenario_id(cfg), 0)).iloc[0]
    table = text_of(d, "#trial_analysis")
    assert f"{expected['estimate']:.3f}" in table and f"{expected['p_value']:.4f}" in table
    completers = data[(data["visit_month"] == 12) & data["bmd_g_cm2"].notna()]
    left = {arm: 44 - int((completers["arm"] == arm).sum()) for arm in ARMS}
    summary = text_of(d, "#trial_dropout_summary")
    for arm in ARMS:
        assert f"{arm}: {left[arm]} men left" in summary
    # A new seed gives a new trial: new seed, new figure, new numbers.
    before_seed = d.find_element(By.ID, "trial_seed").get_attribute("value")
    before_img, before_table = image_src(d, "trial_paths"), table
    d.find_element(By.ID, "trial_new_seed").click()
    wait_for(lambda: image_src(d, "trial_paths") != before_img and idle(d), what="a new trial")
    assert d.find_element(By.ID, "trial_seed").get_attribute("value") != before_seed
    assert text_of(d, "#trial_analysis") != before_table
    assert "vtrial simulate --seed" in d.execute_script("return $('#trial_command').text()")
    # A bad value is refused on the page.
    type_into(d, "trial_n", "1")
    refused(d, "n_per_arm")
    d.save_screenshot(str(tmp_path / "one_trial_refused.png"))
    type_into(d, "trial_n", "44")
    wait_for(lambda: no_error_shown(d), what="the message to go")


def test_thousand_trials_page(browser, tmp_path):
    d = browser
    open_page(d, "A thousand trials")
    wait_for(
        lambda: text_of(d, "#many-power") and image_src(d, "many_figure") and idle(d), what="1000 trials"
    )
    d.save_screenshot(str(tmp_path / "thousand_trials.png"))
    cfg = load_config(overrides=["trial.n_per_arm=44"], seed=SEED)
    stats = simulated_statistics(cfg, 1000, rng=rng_for(SEED, scenario_id(cfg), 3))
    power = (stats["bmd_change_g_cm2|difference|12|p_value"] < 0.05).mean()
    assert text_of(d, "#many-power") == f"{power:.3f}"
    assert "0.0014" in text_of(d, "#many_numbers")
    before = image_src(d, "many_figure")
    type_into(d, "many_n", "20")
    wait_for(lambda: image_src(d, "many_figure") != before and idle(d), what="a new distribution")
    cfg = load_config(overrides=["trial.n_per_arm=20"], seed=SEED)
    stats = simulated_statistics(cfg, 1000, rng=rng_for(SEED, scenario_id(cfg), 3))
    power20 = (stats["bmd_change_g_cm2|difference|12|p_value"] < 0.05).mean()
    assert text_of(d, "#many-power") == f"{power20:.3f}" and power20 < power
    type_into(d, "many_trials", "7")
    refused(d, "trials")


def _power_cfg(diff: float, n: int = 44) -> dict:
    return load_config(overrides=[f"effects.difference_pct={diff:g}", "effects.sd_pct_change=3",
                                  "dropout.anastrozole=0.2", "dropout.placebo=0.2", "dropout.mechanism=MCAR",
                                  f"trial.n_per_arm={n}"], seed=SEED)  # fmt: skip


def test_power_page_agrees_with_run_power(browser, tmp_path):
    d = browser
    open_page(d, "Power and sample size")
    wait_for(lambda: text_of(d, "#n-80") and image_src(d, "power_figure") and idle(d), what="the power page")
    d.save_screenshot(str(tmp_path / "power.png"))
    expected = run_power(_power_cfg(-2.46), reps=2000, methods=["ancova"]).iloc[0]
    assert float(text_of(d, "#power-at-n")) == pytest.approx(expected["power"], abs=1e-12)
    n80 = sample_size(_power_cfg(-2.46), 0.8, ["ancova"], reps=2000, n_max=2000).loc[0, "n_per_arm"]
    assert text_of(d, "#n-80") == f"{n80:.0f}"
    # Move the difference slider: figure and numbers change, and still agree with run_power.
    before_img, before_power = image_src(d, "power_figure"), text_of(d, "#power-at-n")
    move_slider(d, "power_diff", -1.5)
    wait_for(lambda: text_of(d, "#power-at-n") != before_power and idle(d), what="the new power")
    wait_for(lambda: image_src(d, "power_figure") != before_img, what="the new power curve")
    moved = run_power(_power_cfg(-1.5), reps=2000, methods=["ancova"]).iloc[0]
    assert float(text_of(d, "#power-at-n")) == pytest.approx(moved["power"], abs=1e-12)
    assert moved["power"] < expected["power"]
    n90 = sample_size(_power_cfg(-1.5), 0.9, ["ancova"], reps=2000, n_max=2000).loc[0, "n_per_arm"]
    wait_for(lambda: text_of(d, "#n-90") == f"{n90:.0f}", what="n for 90% power")
    command = d.execute_script("return $('#power_command').text()")
    assert "--set effects.difference_pct=-1.5" in command and "vtrial sample-size" in command
    d.save_screenshot(str(tmp_path / "power_moved.png"))
    type_into(d, "power_n", "2")
    refused(d, "n_per_arm")
    d.save_screenshot(str(tmp_path / "power_refused.png"))
    type_into(d, "power_n", "44")
    wait_for(lambda: no_error_shown(d), what="the message to go")
    type_into(d, "power_reps", "50")
    refused(d, "reps")


def test_dropout_page(browser, tmp_path):
    d = browser
    open_page(d, "Dropout and missing data")
    type_into(d, "drop_reps", "1000")
    wait_for(lambda: "MNAR" in text_of(d, "#drop_table") and idle(d), timeout=120, what="the dropout table")
    wait_for(lambda: d.find_elements(By.CSS_SELECTOR, "#drop_figure img"), what="the dropout figure")
    d.save_screenshot(str(tmp_path / "dropout.png"))
    head = [th.text for th in d.find_elements(By.CSS_SELECTOR, "#drop_table thead th")]
    body = [[td.text for td in tr.find_elements(By.TAG_NAME, "td")]
            for tr in d.find_elements(By.CSS_SELECTOR, "#drop_table tbody tr")]  # fmt: skip
    table = pd.DataFrame(body, columns=head).set_index("strategy")
    assert len(table) == 4 and "bias MNAR" in table.columns and "coverage MCAR" in table.columns
    cfg = load_config(overrides=["trial.n_per_arm=44", "dropout.anastrozole=0.25", "dropout.placebo=0.18",
                                 "dropout.strength=1", "dropout.mechanism=MNAR",
                                 "analysis.missing=complete_case"], seed=SEED)  # fmt: skip
    r = run_power(cfg, reps=1000, methods=["ancova"]).iloc[0]
    row = table.loc["complete case (ANCOVA)"]
    assert float(row["bias MNAR"]) == pytest.approx(round(r["bias"], 3), abs=1e-9)
    assert float(row["coverage MNAR"]) == pytest.approx(round(r["coverage"], 3), abs=1e-9)
    assert "Why can power rise under MNAR?" in d.find_element(By.TAG_NAME, "body").text
    before = text_of(d, "#drop_table")
    move_slider(d, "drop_strength", 2.0)  # stronger MAR/MNAR selection: the table changes
    wait_for(lambda: text_of(d, "#drop_table") != before and idle(d), timeout=120, what="the new table")
    type_into(d, "drop_n", "5")
    refused(d, "n_per_arm")


def _assurance_cfg(mean: float, sd: float = 0.74) -> dict:
    return load_config(overrides=["prior.difference.distribution=normal", f"prior.difference.mean={mean:g}",
                                  f"prior.difference.sd={sd:g}", "dropout.anastrozole=0.2", "dropout.placebo=0.2",
                                  "grid={trial.n_per_arm: [11, 22, 33, 44, 55, 66, 88]}"], seed=SEED)  # fmt: skip


def test_uncertain_effects_page_agrees_with_run_assurance(browser, tmp_path):
    d = browser
    open_page(d, "Uncertain effects")
    wait_for(lambda: text_of(d, "#assur-at-n") and image_src(d, "assur_figure") and idle(d), what="assurance")
    d.save_screenshot(str(tmp_path / "uncertain_effects.png"))
    table = run_assurance(_assurance_cfg(-2.46), reps=2000, methods=["ancova"])
    row = table[table["n_per_arm"] == 44].iloc[0]
    assert text_of(d, "#assur-at-n") == f"{row['assurance']:.4f}"
    assert text_of(d, "#assur-power") == f"{row['power']:.4f}"
    assert text_of(d, "#assur-ceiling") == f"{row['max_assurance']:.4f}"
    assert row["assurance"] < row["power"]
    body = d.find_element(By.TAG_NAME, "body").text
    assert "Why is assurance below power?" in body and "-2.28" in body
    # Widen the prior: the figure and the numbers change and still equal run_assurance.
    before_img, before = image_src(d, "assur_figure"), text_of(d, "#assur-at-n")
    move_slider(d, "assur_sd", 1.5)
    wait_for(lambda: text_of(d, "#assur-at-n") != before and idle(d), what="the new assurance")
    wait_for(lambda: image_src(d, "assur_figure") != before_img, what="the new assurance figure")
    wide = run_assurance(_assurance_cfg(-2.46, 1.5), reps=2000, methods=["ancova"])
    wide_row = wide[wide["n_per_arm"] == 44].iloc[0]
    assert (
        text_of(d, "#assur-at-n") == f"{wide_row['assurance']:.4f}"
        and wide_row["assurance"] < row["assurance"]
    )
    assert text_of(d, "#assur-power") == f"{row['power']:.4f}"  # power at the mean does not depend on the SD
    command = d.execute_script("return $('#assur_command').text()")
    assert "vtrial assurance" in command and "--set prior.difference.sd=1.5" in command
    d.save_screenshot(str(tmp_path / "uncertain_effects_wide.png"))
    move_slider(d, "assur_sd", 0)
    refused(d, "prior_sd")
    move_slider(d, "assur_sd", 0.74)
    wait_for(lambda: no_error_shown(d), what="the message to go")
    type_into(d, "assur_n", "2")
    refused(d, "n_per_arm")
