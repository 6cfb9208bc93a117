"""The web page in a real headless Chromium (Debian's, driven by selenium through Debian's
chromedriver): what a person sees. The text grows token by token, a cancel keeps the text
and marks what never ran, a past run replays, concurrent branches stand side by side and
loop iterations form a list, a completed step shows as Markdown, and a step with
`output_schema` shows its object's fields filling in, live and in a replay.

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
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
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


def serving(browser, tmp_path: Path, flow: str):
    path = tmp_path / "flow.yaml"
    path.write_text(textwrap.dedent(flow), encoding="utf-8")
    with ServerThread(path, tmp_path / "out") as server:
        browser.get(server.url)
        wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#steps li"))
        yield browser, tmp_path / "out"


@pytest.fixture
def page(browser, tmp_path):
    yield from serving(browser, tmp_path, FLOW)


def wait(driver, condition, timeout: float = 20):
    return WebDriverWait(driver, timeout, poll_frequency=0.02).until(condition)


def replay(driver, run_id: str) -> None:
    """Press a past run's replay button; the list may be drawn again between finding the
    button and pressing it, so a stale button is looked up again."""
    def pressed(d) -> bool:
        buttons = d.find_elements(By.CSS_SELECTOR,
                                  f"#past-runs li[data-run='{run_id}'] button.replay")
        if not buttons:
            return False
        try:
            buttons[0].click()
        except StaleElementReferenceException:
            return False
        return True
    wait(driver, pressed)


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


SUMMARY = ("The <b>second</b> acquire in load() deadlocks every refresh, because the lock "
           "is not reentrant and refresh() already holds it when load() runs")
STRUCTURED = f"""
workflow:
  name: browser-verdict
  steps:
    - name: verdict
      type: claude
      prompt: "Judge the change"
      output_schema:
        type: object
        properties:
          severity: {{enum: [low, medium, high]}}
          summary: {{type: string}}
          findings:
            type: array
            items: {{type: object, properties: {{title: {{type: string}}}}, required: [title]}}
          approve: {{type: boolean}}
        required: [severity, summary, findings, approve]
      mock:
        output:
          severity: high
          summary: "{SUMMARY}"
          findings: [{{title: "refresh() holds the lock"}}, {{title: "no test with a cold cache"}}]
          approve: false
        timing: {{pattern: slow, first_token_delay_s: 0, tokens_per_second: 25}}
"""


@pytest.fixture
def verdict_page(browser, tmp_path):
    yield from serving(browser, tmp_path, STRUCTURED)


# The field view as data: [key path, value text, state] per field, plus the caption and
# the step's badge, read in one go so the three belong to the same moment.
READ_FIELDS = """
const panel = document.querySelector("section[data-step='verdict']");
if (!panel) return null;
const box = panel.querySelector('.fields');
const rows = [];
const walk = (entries, prefix) => {
  for (const row of entries.children) {
    const key = prefix + row.querySelector(':scope > .key').textContent;
    const value = row.querySelector(':scope > .value');
    const state = row.classList.contains('done') ? 'done'
                : row.classList.contains('arriving') ? 'arriving' : '';
    rows.push([key, value ? value.textContent : null, state]);
    const inner = row.querySelector(':scope > .entries');
    if (inner) walk(inner, key + '.');
  }
};
const root = box && box.querySelector('.field-tree > .entries');
if (root) walk(root, '');
return {badge: panel.querySelector('.badge').textContent, rows,
        caption: box ? box.querySelector('.fields-caption').textContent : '',
        bold: box ? box.querySelectorAll('b').length : 0,
        raw: panel.querySelector('details.raw .raw-text')?.textContent || '',
        rendered: panel.querySelectorAll('.rendered').length};
"""


def watch_fields(driver, until_badge: tuple[str, ...]) -> tuple[list[dict], dict]:
    """The field view sampled while the step runs, and as it is when the badge is one of
    `until_badge`."""
    seen: list[dict] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        view = driver.execute_script(READ_FIELDS)
        if view and view["badge"] in until_badge:
            return seen, view
        if view and view["rows"] and (not seen or view["rows"] != seen[-1]["rows"]):
            seen.append(view)
        time.sleep(0.02)
    raise AssertionError(f"the step never ended: {seen[-1:]}")


def value_of(view: dict, key: str) -> str | None:
    return next((value for name, value, _ in view["rows"] if name == key), None)


def assert_filled_in_while_running(seen: list[dict]) -> None:
    running = [v for v in seen if v["badge"] == "running"]
    summaries = [s for v in running if (s := value_of(v, "summary"))]
    # The summary grew word by word on the page before the step finished ...
    assert len(set(summaries)) >= 4, summaries
    assert all(SUMMARY.startswith(s) for s in summaries), summaries
    assert all(len(a) <= len(b) for a, b in zip(summaries, summaries[1:])), summaries
    # ... as the last field, still arriving, while the severity before it was done.
    growing = next(v for v in running if value_of(v, "summary"))
    assert growing["rows"][:2] == [["severity", "high", "done"], ["summary", growing["rows"][1][1],
                                                                  "arriving"]]
    assert all(v["caption"] == "fields as they arrive" for v in running), running


def assert_the_validated_object(view: dict, record: dict) -> None:
    output = record["steps"]["verdict"]["output"]
    assert view["caption"] == "✓ the validated object"
    assert view["rows"] == [
        ["severity", "high", "done"], ["summary", SUMMARY, "done"], ["findings", None, "done"],
        ["findings.[0]", None, "done"], ["findings.[0].title", "refresh() holds the lock", "done"],
        ["findings.[1]", None, "done"], ["findings.[1].title", "no test with a cold cache", "done"],
        ["approve", "false", "done"]]
    assert output["summary"] == SUMMARY and output["approve"] is False
    assert view["bold"] == 0  # the model's <b> stayed text
    assert json.loads(view["raw"]) == output  # the JSON text is kept, under "JSON text"
    assert view["rendered"] == 0  # and not shown again as Markdown


def test_a_structured_steps_fields_fill_in_live_and_end_as_the_validated_object(verdict_page):
    driver, out = verdict_page
    driver.find_element(By.ID, "run").click()
    seen, final = watch_fields(driver, ("✓ done",))
    assert_filled_in_while_running(seen)
    wait(driver, lambda d: "done" in d.find_element(By.ID, "summary").text)
    record = results(out)
    assert_the_validated_object(driver.execute_script(READ_FIELDS), record)
    # Reloaded after the run, the page replays it: the fields fill in again, as they did.
    driver.refresh()
    replay(driver, record['run_id'])
    seen, final = watch_fields(driver, ("✓ done",))
    assert_filled_in_while_running(seen)
    assert_the_validated_object(final, record)


def test_a_page_reloaded_mid_run_replays_the_object_as_far_as_it_got(verdict_page):
    driver, out = verdict_page
    driver.find_element(By.ID, "run").click()
    wait(driver, lambda d: len(value_of(d.execute_script(READ_FIELDS) or {"rows": []},
                                        "summary") or "") > 20)
    driver.refresh()  # the page goes away mid-run: the server cancels its run
    wait(driver, lambda d: list(out.glob("*/results.json")))
    record = results(out)
    assert record["status"] == "cancelled"
    driver.find_element(By.ID, "refresh-runs").click()
    replay(driver, record['run_id'])
    seen, final = watch_fields(driver, ("■ cancelled",))
    assert any(value_of(v, "severity") == "high" for v in seen if v["badge"] == "running")
    # As far as it got: the fields so far, the last one neither arriving nor done.
    assert final["caption"] == "the object so far (cancelled; not validated)"
    kept = value_of(final, "summary")
    assert len(kept) > 20 and SUMMARY.startswith(kept)
    assert final["rows"][0] == ["severity", "high", "done"]
    assert final["rows"][-1][2] == "" and "arriving" not in {s for *_, s in final["rows"]}
    assert record["steps"]["verdict"]["text"].startswith(final["raw"][:40])
