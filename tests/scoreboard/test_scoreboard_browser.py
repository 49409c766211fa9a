"""The scoreboard in a real headless browser (Debian's chromium driven by selenium, no download).

mosquitto, the scoreboard (``edge-detsam2 scoreboard`` in a subprocess) and a tracks-replay
daemon on a simulated clip all run for real; the page must show what the daemon published.
Set ``EDGE_DETSAM2_UPDATE_DOCS=1`` to refresh the README's screenshot (docs/img/scoreboard.png)
from this test.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from daemon_helpers import Broker, Subscriber, free_port, spawn, wait_until, write_config

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture
def browser() -> Iterator[Any]:
    assert CHROMIUM and CHROMEDRIVER, "chromium and chromium-driver are not installed: run bash .ci/install"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,900"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    yield driver
    driver.quit()


@pytest.fixture
def scoreboard(tmp_path: Path, broker: Broker) -> Iterator[str]:
    port = free_port()
    cfg = tmp_path / "scoreboard.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "table": {"id": "t1"},
                "mqtt": {"host": "127.0.0.1", "port": broker.port, "reconnect_min_s": 0.2, "reconnect_max_s": 1.0},
                "scoreboard": {"bind": f"127.0.0.1:{port}"},
            }
        )
    )
    cmd = [sys.executable, "-m", "edge_detsam2", "scoreboard", "--config", str(cfg)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/"

    def healthy() -> bool:
        try:
            with urllib.request.urlopen(url + "healthz", timeout=1) as r:
                return bool(json.load(r)["broker_online"])
        except OSError:
            return False

    assert wait_until(healthy, 20), "scoreboard did not come up"
    yield url
    proc.terminate()
    out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0, out  # SIGTERM is a clean stop
    assert "Traceback" not in out, out


def text(driver: Any, css: str) -> str:
    return str(driver.find_element("css selector", css).text)


def feed(driver: Any) -> list[tuple[str, int]]:
    """The feed's (id, seq), newest first, read in one script (the page re-renders as updates arrive)."""
    script = (
        "return Array.from(document.querySelectorAll('#event-feed li.event'))"
        ".map(li => [li.dataset.id, li.dataset.seq]);"
    )
    return [(i, int(q)) for i, q in driver.execute_script(script)]


def shot_rows(driver: Any) -> list[dict[str, str]]:
    script = """
    return Array.from(document.querySelectorAll('#shots tr.shot-summary')).map(tr => {
      const row = {id: tr.dataset.id};
      for (const td of tr.querySelectorAll('td')) row[td.dataset.col] = td.textContent;
      return row;
    });
    """
    return list(driver.execute_script(script))


def ball_positions_m(driver: Any) -> dict[str, tuple[float, float]]:
    """Where the page *draws* each ball, converted back to table metres via the felt's rectangle."""
    script = """
    const felt = document.getElementById('felt').getBoundingClientRect();
    const out = {};
    for (const g of document.querySelectorAll('#balls g.ball')) {
      const r = g.querySelector('.ball-body').getBoundingClientRect();
      out[g.dataset.label] = [(r.left + r.width / 2 - felt.left) / felt.width,
                              (r.top + r.height / 2 - felt.top) / felt.height];
    }
    return out;
    """
    return {k: (float(v[0]), float(v[1])) for k, v in driver.execute_script(script).items()}


def test_scoreboard_page_shows_the_daemons_table_live(
    tmp_path: Path,
    sim_dir: Path,
    broker: Broker,
    scoreboard: str,
    browser: Any,
    subscriber_factory: Callable[[int], Subscriber],
) -> None:
    sub = subscriber_factory(broker.port)
    browser.get(scoreboard)
    assert wait_until(lambda: text(browser, "#broker-status") == "broker online", 10)

    # the daemon starts after the page is open: every event reaches it live, over SSE
    mqtt = {"enabled": True, "host": "127.0.0.1", "port": broker.port, "stats_interval_s": 0.5}
    cfg = write_config(tmp_path / "daemon.yaml", sim_dir, mqtt=mqtt)
    proc = spawn(cfg)
    log, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, log
    published = sub.events()
    assert len(published) >= 10 and {e["type"] for e in published} >= {"shot", "collision", "shot_end"}
    want = [(e["id"], e["seq"]) for e in published]

    # same ids, in order (the feed lists the newest first)
    assert wait_until(lambda: feed(browser)[::-1] == want, 15), (feed(browser)[::-1], want)
    assert wait_until(lambda: text(browser, "#available") == "table: stopped", 10)
    assert text(browser, "#camera") == "camera: online"

    # balls where the retained state says, within 1 cm at table scale
    state = json.loads(sub.on("/state")[-1])
    length, width = state["table"]["length_m"], state["table"]["width_m"]
    expected = {b["label"]: b["position_m"] for b in state["balls"]}
    assert len(expected) >= 5
    assert wait_until(lambda: set(ball_positions_m(browser)) == set(expected), 10)
    drawn = ball_positions_m(browser)
    for label, (x, y) in expected.items():
        fx, fy = drawn[label]
        assert abs(fx * length - x) <= 0.01 and abs(fy * width - y) <= 0.01, (label, fx * length, fy * width, x, y)

    # one summary row per shot_end, with its first contact and pots
    ends = [e for e in published if e["type"] == "shot_end"]
    rows = shot_rows(browser)
    assert [r["id"] for r in rows][::-1] == [e["id"] for e in ends]
    for row, end in zip(rows[::-1], ends, strict=True):
        summary = end["summary"]
        assert row["first-contact"] == (summary["first_contact"] or "none")
        assert row["potted"] == (" ".join(summary["potted"]) or "none")
        assert row["cushions"] == str(summary["cushions"]) and row["scratch"] == ("yes" if summary["scratch"] else "no")
    assert "fps" in text(browser, "#stats") and "outbox backlog 0" in text(browser, "#stats")

    # a redelivered event (QoS 1) is shown once; a malformed message is ignored and counted
    import paho.mqtt.publish as publish

    publish.single("edge-detsam2/t1/events", json.dumps(published[3]), qos=1, port=broker.port)
    publish.single("edge-detsam2/t1/events", "{not json", qos=1, port=broker.port)
    assert wait_until(lambda: "malformed messages ignored: 1" in text(browser, "#stats"), 10)
    assert feed(browser)[::-1] == want

    # a second table on the same broker: the picker offers it and shows its balls
    t2_state = {"balls": [{"id": 0, "label": "cue_ball", "position_m": [0.5, 0.6]}], "shots": 0, "last_seq": 0}
    publish.single("edge-detsam2/t2/state", json.dumps(t2_state), qos=1, retain=True, port=broker.port)
    publish.single("edge-detsam2/t2/available", "online", qos=1, retain=True, port=broker.port)
    assert wait_until(lambda: len(browser.find_elements("css selector", "#table-picker option")) == 2, 10)
    shot = tmp_path / "scoreboard.png"
    browser.save_screenshot(str(shot))  # table t1 after the clip: the README's screenshot
    if os.environ.get("EDGE_DETSAM2_UPDATE_DOCS"):
        shutil.copyfile(shot, ROOT / "docs" / "img" / "scoreboard.png")
    from selenium.webdriver.support.ui import Select

    Select(browser.find_element("css selector", "#table-picker")).select_by_value("t2")
    assert wait_until(lambda: set(ball_positions_m(browser)) == {"cue_ball"}, 10)
    fx, fy = ball_positions_m(browser)["cue_ball"]
    assert abs(fx * 2.54 - 0.5) <= 0.01 and abs(fy * 1.27 - 0.6) <= 0.01  # default table size without 'table'
    assert text(browser, "#available") == "table: online" and feed(browser) == []
    Select(browser.find_element("css selector", "#table-picker")).select_by_value("t1")

    # broker killed: the page says so; back: it clears, and the view is intact
    broker.kill()
    assert wait_until(lambda: text(browser, "#broker-status") == "broker offline", 15)
    time.sleep(0.5)
    broker.start()
    assert wait_until(lambda: text(browser, "#broker-status") == "broker online", 20)
    assert feed(browser)[::-1] == want

    # a page opened now gets the same history from the snapshot
    browser.refresh()
    assert wait_until(lambda: feed(browser)[::-1] == want, 10)
