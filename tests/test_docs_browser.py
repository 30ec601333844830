"""The built site in a real browser: headless Chromium opens the landing page and a tutorial,
waits for MathJax, and checks that the math was typeset, that every picture loaded
(naturalWidth > 0) and that nothing was fetched from outside the site. Screenshots go to
docs/_build/screenshots/.

Needs the built site (README's docs command), the `selenium` package (in the docs extra) and
Chromium with its driver from the system's packages (Debian/Ubuntu:
`apt-get install chromium chromium-driver`); without any of them the tests skip and say which.
Selenium is given the driver's path, so it never tries to download one.
"""
import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "docs" / "_build" / "html"
SHOTS = ROOT / "docs" / "_build" / "screenshots"
BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def find(names, extra=()):
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return next((path for path in extra if Path(path).exists()), None)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not (SITE / "index.html").exists():
        pytest.skip(f"no built site in {SITE}: run README's docs command first")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed "
                                    '(pip install ".[docs]")')
    binary = find(BROWSERS)
    driver_path = find(["chromedriver"], ["/usr/lib/chromium/chromedriver"])
    if binary is None or driver_path is None:
        pytest.skip("no Chromium or no chromedriver on PATH; install both from the system's "
                    "packages, e.g. apt-get install chromium chromium-driver")
    os.environ.setdefault("SE_OFFLINE", "true")          # Selenium Manager: never download
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--window-size=1280,900",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options,
                              service=webdriver.ChromeService(executable_path=driver_path))
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(60)
    yield driver
    driver.quit()


def open_page(driver, relative):
    """Load a page of the site and wait until MathJax (when the page has any math) is done."""
    driver.get((SITE / relative).as_uri())
    driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const ready = () => document.readyState === "complete";
        const wait = () => {
            if (!ready()) return setTimeout(wait, 50);
            if (window.MathJax && MathJax.startup && MathJax.startup.promise)
                MathJax.startup.promise.then(() => done(true), () => done(false));
            else done(true);
        };
        wait();""")
    images = driver.execute_script("""
        return Array.from(document.images).map(img => [img.getAttribute("src"), img.complete,
                                                        img.naturalWidth]);""")
    fetched = driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name);")
    return images, fetched


def screenshot(driver, name, scroll_to=None):
    SHOTS.mkdir(parents=True, exist_ok=True)
    if scroll_to:
        driver.execute_script(f"""const el = document.querySelector({scroll_to!r});
                                  if (el) el.scrollIntoView({{block: "center"}});""")
    path = SHOTS / name
    assert driver.save_screenshot(str(path)), f"could not save {path}"
    return path


def test_landing_page(browser):
    images, fetched = open_page(browser, "index.html")
    assert "minicnn" in browser.title
    assert len(images) >= 2, "the README's two figures should be on the landing page"
    assert all(complete and width > 0 for _, complete, width in images), images
    assert all(url.startswith("file://") for url in fetched), fetched
    screenshot(browser, "index.png")
    screenshot(browser, "index_figure.png", scroll_to="img")


def test_tutorial_page_has_typeset_math_and_its_figures(browser):
    images, fetched = open_page(browser, "tutorials/02_convolution.html")
    math = browser.execute_script("""
        return Array.from(document.querySelectorAll("mjx-container"))
                    .filter(el => el.querySelector("svg")).length;""")
    raw = browser.execute_script("""
        return Array.from(document.querySelectorAll(".math"))
                    .filter(el => !el.querySelector("mjx-container")).length;""")
    assert math >= 10, f"MathJax typeset only {math} formulas"
    assert raw == 0, f"{raw} formulas were left as TeX source"
    assert len(images) >= 3, images            # the filters, im2col, conv backward
    broken = [src for src, complete, width in images if not (complete and width > 0)]
    assert not broken, f"pictures that did not load: {broken}"
    assert all(url.startswith("file://") for url in fetched), fetched
    screenshot(browser, "tutorial_top.png")
    screenshot(browser, "tutorial_math.png", scroll_to="mjx-container[display='true']")
    screenshot(browser, "tutorial_figure.png", scroll_to="img[src*='jupyter_execute'], "
                                                          ".cell_output img")
