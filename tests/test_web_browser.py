"""The web app end to end in a real headless browser: `python -m bot --web` as `make web`
starts it, Debian's chromium driven by selenium.

A visitor searches "star wars", likes it, sees recommendations with a reason, adds one to
the watchlist, reloads the page and still sees their taste (the cookie). The page's
inputs are labelled and reachable with the keyboard. On "Your account" a real upload of an
IMDb export is imported, a file over the limit gets the core's line (or, over Streamlit's
own cap, Streamlit's), and /export offers its two files. Screenshots of the search, the
recommendations and the model page are saved (into ``$WEB_SCREENSHOTS`` too, when set:
``WEB_SCREENSHOTS=docs`` refreshes the README's). ``WEB_E2E_MODELS_DIR`` runs it on
another model (the README's pictures are of ML-100K); by default it is the small test
model. Chromium is installed with apt when missing, as CI machines start without it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bot_model import write_model

ROOT = Path(__file__).resolve().parent.parent
WAIT = 60  # seconds: the ceiling of every wait, never a pause
SHOTS = ("web-search.png", "web-recommendations.png", "web-model.png")
# Inputs without an accessible name: no aria-label, aria-labelledby, <label for> or
# enclosing <label>.
LABELLED = """
return [...document.querySelectorAll('input:not([type=hidden]), textarea, select')]
  .filter(e => !(e.getAttribute('aria-label') || e.getAttribute('aria-labelledby')
                 || (e.id && document.querySelector(`label[for="${e.id}"]`))
                 || e.closest('label')))
  .map(e => e.outerHTML.slice(0, 200));
"""


EMOJI_FONT = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")


def ensure_chromium() -> tuple[str, str]:
    """Paths of chromium and chromedriver, installed from Debian's packages if missing
    (with the emoji font, so the screenshots show 👍 rather than boxes)."""
    browser = shutil.which("chromium") and shutil.which("chromedriver")
    if not (browser and EMOJI_FONT.exists()):
        if shutil.which("apt-get") is None:
            if browser:  # the font only makes the screenshots nicer
                return shutil.which("chromium") or "", shutil.which("chromedriver") or ""
            pytest.fail("chromium and chromium-driver are needed, and apt-get is missing")
        sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for command in (["apt-get", "update"],
                        ["apt-get", "install", "-y", "--no-install-recommends", "chromium",
                         "chromium-driver", "fonts-noto-color-emoji"]):
            done = subprocess.run(sudo + command, env=env, capture_output=True, text=True,
                                  timeout=900)
            assert done.returncode == 0, done.stderr[-2000:]
    return shutil.which("chromium") or "", shutil.which("chromedriver") or ""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path) -> Iterator[str]:
    """The web app as `make web` serves it; its URL once Streamlit says it is up."""
    models = os.environ.get("WEB_E2E_MODELS_DIR")
    if not models:
        write_model(tmp_path / "models")
        models = str(tmp_path / "models")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("TELEGRAM_TOKEN", "DISCORD_TOKEN")}
    env.update({"PYTHONPATH": str(ROOT), "MODELS_DIR": models, "DATA_DIR": str(tmp_path / "data"),
                "WEB_PORT": str(port), "RETRAIN_CRON": "off", "BACKUP_CRON": "off"})
    proc = subprocess.Popen([sys.executable, "-m", "bot", "--web"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    up, output = threading.Event(), []

    def read() -> None:
        for line in proc.stdout:
            output.append(line)
            if f"127.0.0.1:{port}" in line:
                up.set()
        up.set()  # the server ended: stop waiting

    threading.Thread(target=read, daemon=True).start()
    try:
        assert up.wait(WAIT) and proc.poll() is None, "".join(output)
        url = f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=WAIT) as health:
            assert health.read() == b"ok"  # what the compose healthcheck asks
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=WAIT)


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver_path = ensure_chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                 "--window-size=1280,1300", "--disable-gpu", "--force-device-scale-factor=1"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    driver.set_page_load_timeout(WAIT)
    try:
        yield driver
    finally:
        driver.quit()


def text_of(driver) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.TAG_NAME, "body").text


def wait_for(driver, *texts: str) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, WAIT).until(lambda d: all(t in text_of(d) for t in texts),
                                      f"waiting for {texts}")


def element(driver, xpath: str):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT).until(ec.element_to_be_clickable((By.XPATH, xpath)))


def button(driver, label: str, nth: int = 1):
    return element(driver, f"(//button[contains(normalize-space(.), '{label}')])[{nth}]")


def open_page(driver, name: str) -> None:
    element(driver, f"//div[@role='radiogroup']//label[contains(normalize-space(.), "
                    f"'{name}')]").click()
    wait_for(driver, name)


def idle(driver) -> None:
    """Wait until Streamlit has finished the run (its status widget says "Running")."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, WAIT).until(lambda d: not d.find_elements(
        By.CSS_SELECTOR, "[data-testid='stStatusWidget'] *"))


def save(driver, folder: Path, name: str) -> Path:
    idle(driver)
    path = folder / name
    driver.save_screenshot(str(path))
    target = os.environ.get("WEB_SCREENSHOTS")
    if target:
        Path(ROOT, target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(ROOT, target, name))
    return path


def test_search_like_recommend_watch_reload_keeps_the_taste(server, browser, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    browser.get(server)
    box = element(browser, "//input[@aria-label='Search a title']")
    box.send_keys("star wars")
    wait_for(browser, "Star Wars (1977)")
    button(browser, "❤ Like").click()
    wait_for(browser, "Liked Star Wars (1977)")
    box = element(browser, "//input[@aria-label='Search a title']")
    assert box.get_attribute("value") == "star wars"
    save(browser, tmp_path, SHOTS[0])

    open_page(browser, "Recommendations")
    button(browser, "Recommend").click()
    wait_for(browser, "Picks for you:", "because you liked Star Wars")
    first = next(line for line in text_of(browser).splitlines() if line.startswith("1. "))
    title = first[3:].split(" · ")[0]
    save(browser, tmp_path, SHOTS[1])
    button(browser, "➕ Watchlist").click()
    wait_for(browser, f"Added {title} to your /watchlist")

    browser.refresh()  # a new Streamlit session: only the cookie carries the visitor
    open_page(browser, "Watchlist & likes")
    wait_for(browser, "Your watchlist (1):", f"1. {title}", "❤ liked: Star Wars (1977)")

    open_page(browser, "About the model")
    wait_for(browser, "Version ", "Retraining")
    save(browser, tmp_path, SHOTS[2])
    for name in SHOTS:
        assert (tmp_path / name).stat().st_size > 10_000

    # Basic accessibility: every input is labelled, and the keyboard reaches the search.
    open_page(browser, "Search")
    idle(browser)
    unlabelled = browser.execute_script(LABELLED)
    assert unlabelled == [], unlabelled
    browser.execute_script("document.activeElement && document.activeElement.blur()")
    for _ in range(40):
        ActionChains(browser).send_keys(Keys.TAB).perform()
        focused = browser.execute_script(
            "return document.activeElement && document.activeElement.getAttribute('aria-label')")
        if focused == "Search a title":
            break
    else:
        pytest.fail("the search box cannot be reached with Tab")


def test_import_and_export_on_the_account_page(server, browser, tmp_path):
    """A real upload: the IMDb sample is imported; a file a little over the core's 5 MB
    reaches the core and gets its friendly line; one over Streamlit's own cap (6 MB) is
    stopped by the browser with Streamlit's message. /export offers its two files."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    from tests import exports

    browser.get(server)
    open_page(browser, "Your account")
    files = {"ratings.csv": exports.imdb_ratings(),
             "big.csv": b"Const,Your Rating\n" + b"x" * (5 * 1024 * 1024 + 500_000),
             "huge.csv": b"x" * (7 * 1024 * 1024)}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)

    def choose(name: str) -> None:
        # The upload box is drawn anew (a new key) after each import: wait for it.
        idle(browser)
        WebDriverWait(browser, WAIT).until(ec.presence_of_element_located(
            (By.XPATH, "//input[@type='file']"))).send_keys(str(tmp_path / name))

    element(browser, "//button[contains(normalize-space(.), 'Export my data')]")
    idle(browser)
    unlabelled = browser.execute_script(LABELLED)  # the upload box and the code too
    assert unlabelled == [], unlabelled
    choose("ratings.csv")
    wait_for(browser, "Your IMDb file:", "Matched", "Picks for you:")  # any model
    choose("big.csv")
    wait_for(browser, "I take up to 5 MB")
    choose("huge.csv")
    wait_for(browser, "6.0MB or smaller")
    button(browser, "Export my data").click()
    wait_for(browser, "Here is everything I know about you:",
             "Download movie-bot-export.csv", "Download movie-bot-export.json")
