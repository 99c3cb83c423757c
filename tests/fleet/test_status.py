"""`tenantforge fleet status`: versions, drift, upgrade branches and last gate per tenant; text, JSON, HTML."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.fleet.conftest import MakeTenant, TenantFactory, TenantRepo, isolated_env, write_inventory
from tests.helpers import CLI, git, run_cli

CHROMIUM_INSTALL = "apt-get install -y chromium"


def status(inventory: Path, *args: str) -> tuple[int, dict[str, Any]]:
    proc = run_cli("fleet", "status", "-i", str(inventory), "--format", "json", *args)
    assert proc.stdout.strip(), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def rows(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["tenant"]: t for t in report["tenants"]}


@pytest.fixture(scope="module")
def small_fleet(
    blueprint_repo: Path, tmp_path_factory: pytest.TempPathFactory, _render_cache: dict[tuple[str, ...], Path]
) -> tuple[Path, dict[str, TenantRepo]]:
    """acme: untouched at v1.0.0; bolt: hand-edited odoo.conf; core: at v1.1.0; gone: unreachable. Shared by the
    tests of this module (one work dir, so drift is rendered once)."""
    base = tmp_path_factory.mktemp("small-fleet")
    with isolated_env(base / "home"):
        make = TenantFactory(base, blueprint_repo, _render_cache, tmp_path_factory)
        acme, bolt, core = make("acme"), make("bolt"), make("core", version="v1.1.0")
        conf = (bolt.checkout / "base/odoo.conf").read_text().replace("workers = 2", "workers = 8")
        bolt.edit({"base/odoo.conf": conf})
    inventory = write_inventory(
        base / "fleet.yaml",
        [
            {"name": "acme", "url": str(acme.remote), "labels": {"tier": "gold", "region": "eu"}},
            {"name": "bolt", "url": str(bolt.remote), "labels": {"tier": "silver", "region": "eu"}},
            {"name": "core", "url": str(core.remote), "labels": {"tier": "gold", "region": "us"}},
            {"name": "gone", "url": str(base / "nowhere.git"), "labels": {"tier": "bronze"}},
        ],
    )
    return inventory, {"acme": acme, "bolt": bolt, "core": core}


SMALL_FLEET = pytest.mark.xdist_group("fleet-small")


@SMALL_FLEET
def test_status_reports_version_latest_drift_and_unreachable(small_fleet: tuple[Path, dict[str, TenantRepo]]) -> None:
    inventory, _ = small_fleet

    code, report = status(inventory)

    assert code == 1  # a tenant could not be read
    assert report["summary"] == "fleet status: 4 tenants, 1 current, 1 behind, 1 drifted, 1 error"
    r = rows(report)
    assert (r["acme"]["version"], r["acme"]["latest"], r["acme"]["state"]) == ("v1.0.0", "v1.1.0", "behind")
    assert r["acme"]["drift"] == []
    assert r["bolt"]["state"] == "drifted" and r["bolt"]["drift"] == ["M base/odoo.conf"]
    assert (r["core"]["version"], r["core"]["state"]) == ("v1.1.0", "current")
    assert r["gone"]["state"] == "error" and r["gone"]["problem"].startswith("unreachable: ")


def test_status_shows_upgrade_branches_and_the_last_gate(make_tenant: MakeTenant, tmp_path: Path) -> None:
    acme = make_tenant("acme")
    inventory = write_inventory(tmp_path / "fleet.yaml", [acme])
    assert run_cli("fleet", "upgrade", "--to", "v1.1.0", "-i", str(inventory)).returncode == 0

    proc = run_cli("fleet", "status", "-i", str(inventory))

    assert proc.returncode == 0, proc.stderr
    assert "fleet status: 1 tenant, 1 behind" in proc.stdout
    row = rows(status(inventory)[1])["acme"]
    assert row["upgrade_branches"] == ["upgrade/v1.1.0"]
    assert row["last_upgrade"] == "v1.1.0: pushed"
    assert row["last_gate"].startswith("v1.1.0: gate passed: 2 environments")


@SMALL_FLEET
def test_select_and_shards(small_fleet: tuple[Path, dict[str, TenantRepo]]) -> None:
    inventory, _ = small_fleet

    _, gold_eu = status(inventory, "--no-drift", "--select", "tier=gold,region=eu", "--select", "bolt")
    assert [t["tenant"] for t in gold_eu["tenants"]] == ["acme", "bolt"]

    seen: list[str] = []
    for index in (1, 2, 3):
        _, shard = status(inventory, "--no-drift", "--shard", f"{index}/3")
        again = status(inventory, "--no-drift", "--shard", f"{index}/3")[1]
        assert [t["tenant"] for t in shard["tenants"]] == [t["tenant"] for t in again["tenants"]]
        seen += [t["tenant"] for t in shard["tenants"]]
    assert sorted(seen) == ["acme", "bolt", "core", "gone"]  # every tenant in exactly one shard


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("version: 2\ntenants: []\n", "fleet.yaml: version: 2 is not supported (allowed: 1)"),
        (
            "version: 1\ntenants:\n  - {name: Acme, url: /x}\n",
            "fleet.yaml: tenants[0].name: 'Acme' is not a DNS-1123 label",
        ),
        (
            "version: 1\ntenants:\n  - {name: a, url: /x}\n  - {name: a, url: /y}\n",
            "fleet.yaml: tenants[1].name: 'a' is already used by tenants[0]",
        ),
        (
            "version: 1\ntenants:\n  - {name: a, url: /x, lables: {}}\n",
            "fleet.yaml: tenants[0].lables: unknown key (allowed: answers_file, branch, labels, name, project, url)",
        ),
        (
            "version: 1\ntenants:\n  - {name: a, url: /x, answers_file: ../a.yml}\n",
            "fleet.yaml: tenants[0].answers_file: '../a.yml' must be a path inside the tenant repository",
        ),
        (
            "version: 1\nhosting: {provider: bitbucket}\ntenants:\n  - {name: a, url: /x}\n",
            "fleet.yaml: hosting.provider: 'bitbucket' is not allowed (allowed: github, gitlab)",
        ),
        ("version: 1\ntenants: [\n", "fleet.yaml: line 3: not valid YAML"),
        (
            "version: 1\ntenants:\n  - name: a\n    url: /x\n    name: b\n",
            "fleet.yaml: line 5: not valid YAML (duplicate key 'name')",
        ),
    ],
)
def test_an_invalid_inventory_is_one_line_naming_the_key(tmp_path: Path, content: str, message: str) -> None:
    inventory = tmp_path / "fleet.yaml"
    inventory.write_text(content)

    proc = run_cli("fleet", "status", "-i", str(inventory))

    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert message in proc.stderr


@SMALL_FLEET
def test_bad_selection_options_are_one_line_errors(small_fleet: tuple[Path, dict[str, TenantRepo]]) -> None:
    inventory, _ = small_fleet
    for args, message in [
        (("--shard", "4/3"), "--shard '4/3': expected I/N with 1 <= I <= N"),
        (("--select", "tier=platinum"), "--select tier=platinum: no tenant matches"),
    ]:
        proc = run_cli("fleet", "status", "-i", str(inventory), *args)
        assert proc.returncode == 1 and message in proc.stderr, proc.stderr
    proc = run_cli("fleet", "upgrade", "-i", str(inventory), "--to", "v1.1.0", "--wave", "canary")
    assert proc.returncode == 1 and "--wave 'canary': 'canary' must be NAME=N" in proc.stderr


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    raise RuntimeError(f"chromium is not installed: {CHROMIUM_INSTALL} (.ci/run does this)")


def _browser_dom(page: Path, fragment: str = "") -> str:
    """The DOM after the page's scripts ran, as headless Chromium shows it."""
    proc = subprocess.run(
        [
            _chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--allow-file-access-from-files",
            "--virtual-time-budget=2000",
            "--dump-dom",
            page.as_uri() + fragment,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def _visible_tenants(dom: str) -> list[str]:
    import re

    found = re.findall(r'<tr class="(\w+)"([^>]*)><td class="tenant">([^<]+)</td>', dom)
    return [name for _, attrs, name in found if " hidden" not in attrs]


@SMALL_FLEET
def test_html_report_filters_in_a_real_browser(small_fleet: tuple[Path, dict[str, TenantRepo]], tmp_path: Path) -> None:
    inventory, _ = small_fleet
    page = tmp_path / "fleet.html"

    proc = run_cli("fleet", "status", "-i", str(inventory), "--format", "html", "--output", str(page))

    assert proc.returncode == 1  # "gone" is unreachable; the report is still written
    html = page.read_text()
    assert "<script src" not in html and "<link" not in html and "http" not in html.split("<body>")[1]
    dom = _browser_dom(page)
    assert _visible_tenants(dom) == ["acme", "bolt", "core", "gone"]
    assert '<span id="shown">4 of 4 tenants shown</span>' in dom
    dom = _browser_dom(page, "#state=drifted")
    assert _visible_tenants(dom) == ["bolt"]
    assert '<span id="shown">1 of 4 tenants shown</span>' in dom
    assert "M base/odoo.conf" in dom
    dom = _browser_dom(page, "#q=tier%3Dgold")
    assert _visible_tenants(dom) == ["acme", "core"]
    dom = _browser_dom(page, "#version=v1.1.0&q=us")
    assert _visible_tenants(dom) == ["core"]


def test_a_terminal_gets_a_progress_bar_and_a_pipe_does_not(tmp_path: Path) -> None:
    git(tmp_path, "init", "--quiet", "--bare", "empty.git")
    inventory = write_inventory(tmp_path / "fleet.yaml", [{"name": "empty", "url": str(tmp_path / "empty.git")}])
    command = f"{CLI} fleet status -i {inventory} --no-drift"

    tty = subprocess.run(
        ["script", "-qec", command, "/dev/null"], capture_output=True, text=True, timeout=120, check=False
    )
    piped = run_cli("fleet", "status", "-i", str(inventory), "--no-drift")

    assert "1/1" in tty.stdout and "empty: error" in tty.stdout  # the bar, as the tenant finished
    assert "fleet status: 1 tenant, 1 error" in tty.stdout
    assert "1/1" not in piped.stdout + piped.stderr and "fleet status: 1 tenant, 1 error" in piped.stdout
