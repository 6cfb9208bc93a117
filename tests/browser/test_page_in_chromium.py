"""The web page in a real headless Chromium (Debian's, driven by selenium through Debian's
chromedriver): what a person sees. The text grows token by token, a cancel keeps the text
and marks what never ran, a past run replays, concurrent branches stand side by side and
loop iterations form a list, and a completed step shows as Markdown.

Chromium comes from the system (`make test` installs it as root when it is missing); no
browser is ever downloaded. Without it the test is skipped, except under CI, where it fails.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import textwrap
import threading
import time
from pathlib import Path

import pytest

from rillet.web.server import WebServer
from rillet.workflow.loader import load_workflow

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"

if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
    message = ("the browser test needs Debian's chromium and chromium-driver "
               "(apt-get install chromium chromium-driver; `make test` does it as root)")
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message, allow_module_level=True)

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

WORDS = " ".join(f"word{i}" for i in range(400))
FLOW = f"""
workflow:
  name: browser-demo
  steps:
    - name: draft
      type: claude
      prompt: "Write slowly"
      mock:
        text: "# Rivers\\n\\nThey carve **valleys** and <b>keep</b> going. {WORDS}"
        timing: {{pattern: slow, first_token_delay_s: 0, tokens_per_second: 120}}
    - name: polish
      type: gemini
      prompt: "Polish: {{{{ steps.draft.text }}}}"
      mock:
        text: "Polished."
        timing: {{pattern: fast}}
"""


class ServerThread:
    """The page's server on its own event loop, as `rillet serve` runs it."""

    def __init__(self, workflow_path: Path, output_dir: Path):
        self.loop = asyncio.new_event_loop()
        self.server = WebServer(load_workflow(workflow_path), port=0, mode="mock",
                                output_dir=output_dir, workspace_dir=output_dir / "ws")
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> WebServer:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(10)
        return self.server

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1200,900",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_script_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture
def page(browser, tmp_path):
    path = tmp_path / "flow.yaml"
    path.write_text(textwrap.dedent(FLOW), encoding="utf-8")
    with ServerThread(path, tmp_path / "out") as server:
        browser.get(server.url)
        wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#steps li"))
        yield browser, tmp_path / "out"


def wait(driver, condition, timeout: float = 20):
    return WebDriverWait(driver, timeout, poll_frequency=0.02).until(condition)


def body_text(driver, step: str) -> str:
    return driver.execute_script(
        "const p = document.querySelector(`section[data-step='${arguments[0]}'] .body`);"
        "return p ? p.textContent : '';", step)


def badge(driver, step: str) -> str:
    return driver.find_element(By.CSS_SELECTOR, f"section[data-step='{step}'] .badge").text


def results(output_dir: Path) -> dict:
    [path] = output_dir.glob("*/results.json")
    return json.loads(path.read_text(encoding="utf-8"))


def sample_growth(driver, step: str, until) -> list[int]:
    """The lengths of the step's text seen on the page, sampled until `until()`."""
    seen: list[int] = []
    deadline = time.monotonic() + 30
    while not until() and time.monotonic() < deadline:
        length = len(body_text(driver, step))
        if not seen or length != seen[-1]:
            seen.append(length)
        time.sleep(0.02)
    return seen


def test_the_text_grows_token_by_token_and_ends_as_markdown(page):
    driver, out = page
    where = driver.find_element(By.CSS_SELECTOR, "#steps li[data-step='draft'] .where").text
    assert where == "· mock"
    driver.find_element(By.ID, "run").click()
    wait(driver, lambda d: body_text(d, "draft"))
    feet, scrolled = set(), 0
    seen: list[int] = []
    while badge(driver, "draft") != "✓ done":
        length, foot, top = driver.execute_script(
            "const p = document.querySelector(\"section[data-step='draft']\");"
            "const b = p.querySelector('.body');"
            "return [b.textContent.length, p.querySelector('.foot').textContent, b.scrollTop];")
        if not seen or length != seen[-1]:
            seen.append(length)
        feet.add(foot)
        scrolled = max(scrolled, top)
        time.sleep(0.02)
    # Many sizes, always growing (a loaded machine polls less often, so a few, not dozens).
    assert len(seen) >= 6 and seen == sorted(seen)
    # Tokens so far while it streams (estimated between the provider's reports), and
    # the step's text box follows the newest text.
    counts = sorted(int(m[1]) for f in feet if (m := re.search(r"(\d+) tokens so far", f)))
    assert len(counts) >= 3 and counts[-1] > counts[0]
    assert scrolled > 0
    assert driver.find_element(By.CSS_SELECTOR, "section[data-step='draft'] .where").text == "mock"
    wait(driver, lambda d: "done" in d.find_element(By.ID, "summary").text)
    rendered = driver.find_element(By.CSS_SELECTOR, "section[data-step='draft'] .rendered")
    assert rendered.find_element(By.TAG_NAME, "h1").text == "Rivers"
    assert rendered.find_element(By.TAG_NAME, "strong").text == "valleys"
    assert "<b>keep</b>" in rendered.text and not rendered.find_elements(By.TAG_NAME, "b")
    kept = results(out)["steps"]["draft"]["text"]
    assert rendered.text.replace("\n", " ").endswith(kept.rsplit(". ", 1)[1])
    assert "results.json" in driver.find_element(By.ID, "summary").text


def test_a_cancel_keeps_the_text_and_marks_the_steps_that_never_ran(page):
    driver, out = page
    driver.find_element(By.ID, "run").click()
    wait(driver, lambda d: len(body_text(d, "draft")) > 80)
    driver.find_element(By.ID, "stop").click()
    wait(driver, lambda d: badge(d, "draft") == "■ cancelled")
    shown = body_text(driver, "draft")
    assert len(shown) > 80
    assert badge(driver, "polish") == "not run"
    summary = driver.find_element(By.ID, "summary").text
    assert "cancelled" in summary and "results.json" in summary
    # The server cancelled the run and kept the same text in its results.
    wait(driver, lambda d: list(out.glob("*/results.json")))
    record = results(out)
    assert record["status"] == "cancelled"
    assert str(out / record["run_id"] / "results.json") in summary
    assert record["steps"]["draft"]["text"].startswith(shown[:60])


def test_a_past_run_is_listed_and_replays_as_it_streamed(page):
    driver, out = page
    driver.find_element(By.ID, "run").click()
    wait(driver, lambda d: "done" in d.find_element(By.ID, "summary").text)
    run_id = results(out)["run_id"]
    item = wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, f"#past-runs li[data-run='{run_id}']"))[0]
    assert "completed" in item.text
    item.find_element(By.CSS_SELECTOR, "button.replay").click()
    wait(driver, lambda d: body_text(d, "draft"))
    growth = sample_growth(driver, "draft", lambda: badge(driver, "draft") == "✓ done")
    assert len(growth) >= 5 and growth == sorted(growth)  # replayed over time, not at once
    assert "replay" in driver.find_element(By.CSS_SELECTOR, "section[data-step='draft'] .where").text
    assert driver.find_element(By.CSS_SELECTOR, "section[data-step='draft'] h1").text == "Rivers"


ALPHA = "".join(f"alpha{i} " for i in range(6))
BETA = "".join(f"beta{i} " for i in range(6))


def synthetic_run(output_dir: Path) -> str:
    """A run's event log with two concurrent branches and a two-iteration loop, as the
    tree engine writes them: container events, path labels, interleaved deltas."""
    run_id = "20260101T000000-synthetic"
    run_dir = output_dir / run_id
    run_dir.mkdir(parents=True)
    events = [
        {"type": "PipelineStarted", "step": "", "workflow": "tree", "run_id": run_id,
         "steps": ["fanout", "review"]},
        {"type": "StepStarted", "step": "fanout", "step_type": "parallel", "provider": None},
        {"type": "StepStarted", "step": "fanout.a", "step_type": "claude", "provider": "mock"},
        {"type": "StepStarted", "step": "fanout.b", "step_type": "gemini", "provider": "mock"},
    ]
    for i in range(6):
        events.append({"type": "TextDelta", "step": "fanout.a", "text": f"alpha{i} "})
        events.append({"type": "TextDelta", "step": "fanout.b", "text": f"beta{i} "})
    events += [
        {"type": "StepCompleted", "step": "fanout.b", "text": BETA, "metrics": {}},
        {"type": "StepCompleted", "step": "fanout.a", "text": ALPHA, "metrics": {}},
        {"type": "StepCompleted", "step": "fanout", "text": "", "metrics": {}},
        {"type": "StepStarted", "step": "review", "step_type": "for_loop", "provider": None},
    ]
    for n in range(2):
        events += [
            {"type": "StepStarted", "step": f"review[{n}].note", "step_type": "claude",
             "provider": "mock"},
            {"type": "TextDelta", "step": f"review[{n}].note", "text": f"note {n}"},
            {"type": "StepCompleted", "step": f"review[{n}].note", "text": f"note {n}",
             "metrics": {}},
        ]
    events += [{"type": "StepCompleted", "step": "review", "text": "", "metrics": {}},
               {"type": "PipelineCompleted", "step": "", "workflow": "tree", "run_id": run_id,
                "duration_s": 0.2, "cost_usd": 0.0, "output_dir": str(run_dir)}]
    lines = [json.dumps({"t": round(i * 0.01, 3), **e}) for i, e in enumerate(events)]
    (run_dir / "events.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return run_id


def test_concurrent_branches_stand_side_by_side_and_iterations_form_a_list(page):
    driver, out = page
    run_id = synthetic_run(out)
    driver.find_element(By.ID, "refresh-runs").click()
    item = wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, f"#past-runs li[data-run='{run_id}']"))[0]
    item.find_element(By.CSS_SELECTOR, "button.at-once").click()
    wait(driver, lambda d: "done" in d.find_element(By.ID, "summary").text)
    a = driver.find_element(By.CSS_SELECTOR, "section[data-step='fanout'] section[data-step='fanout.a']")
    b = driver.find_element(By.CSS_SELECTOR, "section[data-step='fanout'] section[data-step='fanout.b']")
    assert body_text(driver, "fanout.a") == ALPHA.strip()  # as Markdown: one paragraph
    assert body_text(driver, "fanout.b") == BETA.strip()
    assert a.rect["y"] == b.rect["y"] and b.rect["x"] > a.rect["x"] + a.rect["width"] - 1
    first = driver.find_element(By.CSS_SELECTOR, "section[data-step='review'] section[data-step='review[0]']")
    second = driver.find_element(By.CSS_SELECTOR, "section[data-step='review'] section[data-step='review[1]']")
    assert first.rect["x"] == second.rect["x"] and second.rect["y"] > first.rect["y"]
    assert body_text(driver, "review[1].note") == "note 1"
