"""Each role logs in through the real login form in chromium and lands on its home page."""

from __future__ import annotations

import pytest

from .conftest import BROWSER_PASSWORD, DESKTOP, PHONE, main_menu

pytestmark = pytest.mark.browser

HOMES = {"admin": "/admin/", "provider": "/home", "member": "/schedule"}


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
@pytest.mark.parametrize("role", sorted(HOMES))
def test_each_role_logs_in_and_sees_its_home(live_server, new_page, tmp_path, role, viewport):
    from playwright.sync_api import expect

    user = live_server.add_user(role)
    home = HOMES[role]
    page = new_page(viewport)

    page.goto(live_server.url + "/")  # not logged in: sent to the login form
    expect(page).to_have_url(live_server.url + "/login?next=%2F")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(BROWSER_PASSWORD)
    page.get_by_role("button", name="Log in").click()

    expect(page).to_have_url(live_server.url + home)
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    expect(page.locator("footer")).to_contain_text(f"Logged in as {user.name} ({role})")
    screenshot = tmp_path / f"{role}-home-{viewport['width']}px.png"
    page.screenshot(path=screenshot, full_page=True)
    assert screenshot.stat().st_size > 0
    # Readable on a phone: nothing wider than the screen.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    main_menu(page).get_by_role("button", name="Log out").click()
    expect(page).to_have_url(live_server.url + "/login")
    expect(page.get_by_role("status")).to_contain_text("You have been logged out.")
    assert new_page.errors == []


def test_wrong_password_shows_the_generic_message(live_server, new_page):
    from playwright.sync_api import expect

    user = live_server.add_user("member")
    page = new_page()
    page.goto(live_server.url + "/login")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill("not the password at all")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("do not match an active account")
    expect(page).to_have_url(live_server.url + "/login")
    # A refused form answers 422 (the one error convention); nothing else may go wrong.
    assert new_page.errors == [f"422 {live_server.url}/login"]
