"""An administrator disables alice, enables her again; then alice deletes her account.

In a real browser: alice's open page, her API token and her share link stop the
moment she is disabled and work again when she is enabled; deleting her account
takes everything with it, and she can sign up afresh.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import requests
from playwright.sync_api import BrowserContext, Page, expect

from e2e.browsing import LiveServer, Watch, api_upload, picture, screenshot, sign_in
from e2e.test_accessibility import axe_problems

ADMIN = "admin@example.com"
ALICE = "alice@example.com"


def _create_token(page: Page) -> str:
    page.get_by_role("link", name="Settings").click()
    page.get_by_label("Token name").fill("curl on my laptop")
    page.get_by_role("button", name="Create token").click()
    secret = page.locator("#new-token").input_value()
    assert secret.startswith("pb_")
    return secret


def _share(page: Page, base_url: str, image_id: str) -> str:
    csrf = page.locator('meta[name="csrf-token"]').get_attribute("content") or ""
    answer = page.request.post(
        f"{base_url}/api/v1/images/{image_id}/shares",
        data={"expires": "never"},
        headers={"X-CSRFToken": csrf},
    )
    assert answer.status == 201, answer.text()
    url: str = answer.json()["share_url"]
    return url


def _until(check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 20
    while not check():
        assert time.monotonic() < deadline, "did not happen in time"
        time.sleep(0.1)


def test_admin_disables_and_enables_alice_then_alice_leaves(
    start_server: Callable[..., LiveServer],
    new_context: Callable[..., BrowserContext],
    watch: Watch,
) -> None:
    server = start_server(admin_emails=(ADMIN,))
    base = server.url
    alice = new_context(base_url=base).new_page()
    sign_in(alice, base, ALICE)
    photo = api_upload(alice, base, picture(1), "Lighthouse.png")
    share_url = _share(alice, base, photo["id"])
    token = {"Authorization": f"Bearer {_create_token(alice)}"}
    alice.get_by_role("link", name="Gallery").click()
    expect(alice.get_by_text("Lighthouse")).to_be_visible()
    assert requests.get(share_url, timeout=10).status_code == 200

    admin = new_context(base_url=base).new_page()
    sign_in(admin, base, ADMIN)
    admin.get_by_role("link", name="Admin").click()
    admin.get_by_label("Find by email").fill("ali")
    admin.get_by_role("button", name="Search").click()
    people = admin.get_by_role("table")
    expect(people.get_by_role("link", name=ALICE)).to_be_visible()
    expect(people).not_to_contain_text("Lighthouse")  # counts only, never photos
    screenshot(admin, "admin-people.png", full_page=True)
    problems = axe_problems(admin, "admin people")
    people.get_by_role("link", name=ALICE).click()
    admin.get_by_role("button", name=f"Disable {ALICE}").click()
    expect(admin.locator("#account-status")).to_have_text("Disabled")
    screenshot(admin, "admin-person-disabled.png", full_page=True)
    problems += axe_problems(admin, "admin person")

    # At once: alice's open page, her token, her link.
    watch.allow(404, r"/s/")
    alice.get_by_role("link", name="Settings").click()
    expect(alice.get_by_text("Your account has been disabled by an administrator.")).to_be_visible()
    expect(alice.get_by_role("link", name="Sign in").first).to_be_visible()
    screenshot(alice, "alice-disabled.png")
    assert requests.get(f"{base}/api/v1/images", headers=token, timeout=10).status_code == 401
    assert requests.get(share_url, timeout=10).status_code == 404

    admin.get_by_role("button", name=f"Enable {ALICE}").click()
    expect(admin.locator("#account-status")).to_have_text("Active")
    assert requests.get(f"{base}/api/v1/images", headers=token, timeout=10).status_code == 200
    assert requests.get(share_url, timeout=10).status_code == 200
    admin.get_by_role("navigation", name="breadcrumb").get_by_role("link", name="People").click()
    admin.get_by_role("link", name="Audit log").click()
    expect(admin.get_by_role("table")).to_contain_text("disable")
    expect(admin.get_by_role("table")).to_contain_text("enable")
    screenshot(admin, "admin-audit.png", full_page=True)
    problems += axe_problems(admin, "admin audit")

    # Alice comes back, sees the way out (export first), and leaves.
    sign_in(alice, base, ALICE)
    alice.get_by_role("link", name="Settings").click()
    expect(alice.get_by_role("link", name="Download everything (.zip)")).to_be_visible()
    alice.get_by_label(f"Type {ALICE} to confirm").fill(ALICE)
    screenshot(alice, "settings-delete-account.png", full_page=True)
    problems += axe_problems(alice, "settings with delete")
    assert problems == [], "\n".join(problems)
    alice.get_by_role("button", name="Delete my account").click()
    expect(alice.get_by_text("Your account is being deleted")).to_be_visible()
    _until(lambda: requests.get(share_url, timeout=10).status_code == 404)
    assert requests.get(f"{base}/api/v1/images", headers=token, timeout=10).status_code == 401

    # The same email signs up afresh, to an empty gallery (once deletion has finished).
    def fresh_start() -> bool:
        admin.goto(f"{base}/admin?q=alice")
        return admin.locator("#no-people").count() == 1

    _until(fresh_start)
    sign_in(alice, base, ALICE)
    expect(alice.get_by_text("Lighthouse")).to_have_count(0)
