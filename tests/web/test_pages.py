"""The pages in a real headless Chromium: log in through the provider, read the fleet and the vessels of a
seeded ledger, launch from the form on the real dockerd, keep, stop; what a role may not do is not shown and
a forged request is refused; the plot's numbers are Prometheus's."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.server.conftest import ssh_keypair
from tests.web.conftest import Site

pytestmark = pytest.mark.docker


def shot(page: Any, site: Site, name: str) -> None:
    page.screenshot(path=str(site.shots / f"{name}.png"), full_page=True)


def test_fleet_and_vessels_of_a_seeded_ledger(login: Callable[[str], Any], site: Site) -> None:
    page = login("alice")
    assert page.text_content("header .who").strip().startswith("alice (researcher)")
    assert page.text_content("#gpus-free").strip() == "7 / 10"  # 8 seeded + 2 local, 3 held
    shot(page, site, "summary")

    page.goto(site.url + "/fleet")
    cells = page.query_selector_all("li.gpu")
    assert len(cells) == 10
    busy = {c.get_attribute("data-uuid"): c.get_attribute("data-vessel") for c in cells
            if "busy" in (c.get_attribute("class") or "")}
    expected = {u: v.name for v in site.svc.ledger.vessels() for u in v.gpu_uuids}
    assert busy == expected and set(expected.values()) == {"bob-train", "alice-old"}
    cell = page.query_selector(f"li.gpu[data-uuid='{next(iter(expected))}']")
    assert "(bob)" in cell.text_content() or "(alice)" in cell.text_content()
    shot(page, site, "fleet")
    page.select_option("#queue", "rtx")
    page.click("form.filters button")
    assert [h.get_attribute("data-host") for h in page.query_selector_all("section.host")] == ["gpu01"]

    page.goto(site.url + "/vessels")
    rows = [r.get_attribute("data-vessel") for r in page.query_selector_all("#vessels tbody tr")]
    assert rows[0] == "alice-old" and "bob-train" in rows  # the user's own vessels first
    assert page.get_attribute("#vessels tbody tr:first-child", "class") == "mine"
    # the undertaker's view of each vessel (a check-mode plan, refreshed in the background)
    for _ in range(60):
        cell = page.query_selector("tr[data-vessel='alice-old'] td.undertaker span")
        if cell is not None:
            break
        page.wait_for_timeout(250)
        page.reload()
    assert cell is not None, "the undertaker's column never filled"
    assert cell.text_content() == "keep" and "less than a full hour" in (cell.get_attribute("title") or "")
    assert page.text_content("tr[data-vessel='alice-old'] td.idle") == "0"
    assert "only running vessels" in (page.get_attribute("tr[data-vessel='bob-train'] td.undertaker span", "title")
                                      or "")
    shot(page, site, "vessels")
    # the viewer's time zone: the page says which, and renders times in it
    assert page.text_content("#tz") == "Europe/Berlin"


def test_launch_keep_stop_from_the_pages(login: Callable[[str], Any], site: Site, tmp_path: Path) -> None:
    page = login("alice")
    key = ssh_keypair(tmp_path / "keys")
    page.goto(site.url + "/launch")
    page.fill("#name", "web-1")
    page.select_option("#queue", "local")
    page.fill("#gpus", "1")
    page.fill("#memory", "2")
    page.fill("#ssh_public_key", key.with_suffix(".pub").read_text())
    # the preview is live: typing is enough (no button)
    page.wait_for_selector("#placement")
    page.wait_for_function("document.getElementById('placement').textContent.includes('would launch web-1')")
    page.fill("#gpus", "9")
    page.wait_for_selector("#error")
    assert "gpus" in page.text_content("#error")
    page.fill("#gpus", "1")
    page.click("#preview")  # and without JavaScript, the button
    assert "would launch web-1 on local" in page.text_content("#placement")
    shot(page, site, "launch-preview")
    assert site.svc.ledger.vessel("web-1") is None  # a preview reserves nothing
    page.click("#launch")
    page.wait_for_url(site.url + "/vessels/web-1?done=launched")
    entry = page.text_content("#ssh-entry")
    assert "Host web-1" in entry and "User alice" in entry
    assert page.get_attribute("#vscode", "href") == "vscode://vscode-remote/ssh-remote+web-1/home/alice"
    assert site.svc.ledger.vessel("web-1").state == "running"  # type: ignore[union-attr]
    shot(page, site, "vessel")

    page.fill("#hours", "3")
    page.click("#keep")
    page.wait_for_url("**?done=kept")
    assert site.svc.ledger.vessel("web-1").keep_until is not None  # type: ignore[union-attr]
    assert "keep" in page.text_content("#events")
    page.click("#stop")
    page.wait_for_url("**?done=stopped")
    assert site.svc.ledger.vessel("web-1").state == "stopped"  # type: ignore[union-attr]
    assert page.query_selector("#stop") is None


def test_role_aware_and_forged_requests_refused(login: Callable[[str], Any], site: Site) -> None:
    page = login("alice")
    page.goto(site.url + "/vessels/bob-train")
    assert page.query_selector("#stop") is None and page.query_selector("#keep") is None
    assert page.query_selector("#ssh-entry") is None  # another's details are not shown
    page.goto(site.url + "/vessels/alice-old")
    assert page.query_selector("#stop") is not None
    csrf = page.get_attribute("input[name=csrf]", "value")
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}

    # forged: alice's own session and CSRF token, but bob's vessel → refused by the owner-or-admin rule
    r = requests.post(f"{site.url}/vessels/bob-train/stop", data={"csrf": csrf}, cookies=cookies,
                      allow_redirects=False, timeout=30)
    assert r.status_code == 403 and "belongs to bob" in r.text
    # forged from another site: the session cookie but no CSRF token → refused
    r = requests.post(f"{site.url}/vessels/alice-old/stop", cookies=cookies, allow_redirects=False, timeout=30)
    assert r.status_code == 403 and "CSRF" in r.text
    # and the API never takes the cookie
    r = requests.post(f"{site.url}/api/v1/vessels/alice-old/stop", cookies=cookies, json={}, timeout=30)
    assert r.status_code == 401
    assert site.svc.ledger.vessel("bob-train").active and site.svc.ledger.vessel("alice-old").active  # type: ignore[union-attr]

    viewer = login("victor")
    assert viewer.query_selector("a[href='/launch']") is None
    viewer.goto(site.url + "/vessels/alice-old")
    assert viewer.query_selector("#stop") is None


def test_plot_numbers_are_prometheus_numbers(login: Callable[[str], Any], site: Site) -> None:
    page = login("alice")
    page.goto(site.url + "/vessels/alice-old")
    page.wait_for_selector("#plot[data-loaded=true]")
    line = page.query_selector("#plot polyline[data-uuid='GPU-gpu01-0']")
    assert line is not None
    points = json.loads(line.get_attribute("data-points"))
    shot(page, site, "vessel-plot")
    fig = page.query_selector("#plot")
    data = {k: fig.get_attribute(f"data-{k}") for k in ("query", "start", "end", "step")}
    assert float(data["end"]) - float(data["start"]) == 24 * 3600
    direct = requests.get(f"{site.prometheus.url}/api/v1/query_range", timeout=10, params={
        "query": data["query"], "start": data["start"], "end": data["end"], "step": data["step"]}).json()
    [series] = [s for s in direct["data"]["result"] if s["metric"]["UUID"] == "GPU-gpu01-0"]
    assert points == [[float(t), float(v)] for t, v in series["values"]]
    # work hours shaded: one rectangle per span of the (default Mon-Fri 9-17 UTC) calendar in the window
    from slipway.undertaker.calendar import WorkCalendar

    cal = WorkCalendar.parse({})
    start, end = float(data["start"]), float(data["end"])
    hours = list(cal.work_hours(datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC)))
    shaded = page.query_selector_all("#plot rect.work")
    width = sum(float(r.get_attribute("width")) for r in shaded)
    per_hour = 3600 / (end - start) * 720  # the plot is 720 units wide
    assert len(hours) * per_hour - per_hour - 1e-6 <= width <= len(hours) * per_hour + 1e-6
    assert len(points) > 50 and {p[1] for p in points} <= {float(x) for x in range(0, 100, 10)}
