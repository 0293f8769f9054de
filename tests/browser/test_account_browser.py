"""Profile and two-factor enrollment in chromium at 375 px, checked with axe-core.

A provider at a practice that requires staff two-factor sign-in logs in, is
held on the enrollment page, scans (reads) the secret, confirms a code, keeps
the recovery codes, edits the profile, and logs in again with a recovery code.
The real Content Security Policy applies: the inline QR SVG must not trip it.
"""

from __future__ import annotations

import re

import pyotp
import pytest

from .conftest import BROWSER_PASSWORD, PHONE, main_menu
from .tour import Tour

pytestmark = pytest.mark.browser


def test_profile_and_two_factor_enrollment_on_a_phone(live_server, new_page, tmp_path):
    from playwright.sync_api import expect

    live_server.app.config["REQUIRE_STAFF_2FA"] = True
    provider = live_server.add_user("provider", name="Dr. Rowan Achterberg-Lindqvist")
    url = live_server.url
    page = new_page(PHONE)
    tour = Tour(page, tmp_path, "account")

    page.goto(url + "/login")
    page.get_by_label("Email").fill(provider.email)
    page.get_by_label("Password").fill(BROWSER_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(url + "/account/two-factor")  # held here until enrolled
    tour.visit("enrollment required")

    page.get_by_role("button", name="Set up two-factor sign-in").click()
    qr = page.locator("figure.qr svg")
    expect(qr).to_be_visible()
    tour.visit("scan the code")
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    page.get_by_label("6-digit code from your app").fill("000000")
    page.get_by_role("button", name="Turn on two-factor sign-in").click()
    expect(page.get_by_text("That code is not valid")).to_be_visible()
    tour.visit("wrong code")
    page.get_by_label("6-digit code from your app").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Turn on two-factor sign-in").click()

    expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    codes = [c.strip() for c in page.locator(".recovery-codes code").all_inner_texts()]
    assert len(codes) == 10 and all(re.fullmatch(r"[0-9a-f-]{23}", c) for c in codes)
    tour.visit("recovery codes")
    page.get_by_role("link", name="I have saved them").click()
    tour.visit("two-factor on")

    main_menu(page).get_by_role("link", name="Profile").click()
    expect(page.get_by_role("heading", name="Your profile")).to_be_visible()
    tour.visit("profile")
    page.get_by_label("Time zone").fill("Europe/Berlin")
    page.get_by_label("Clock").select_option("24h")
    page.get_by_label("Email me when a session is cancelled, moved or changes place").uncheck()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("Your profile is saved.")
    expect(page.get_by_label("Time zone")).to_have_value("Europe/Berlin")
    tour.visit("profile saved")

    page.get_by_role("link", name="Change your password").click()
    page.get_by_label("Current password").fill("not my password")
    page.get_by_label(re.compile(r"^New password")).fill("another good passphrase")
    page.get_by_label("Repeat the new password").fill("another good passphrase")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_text("That is not your current password.")).to_be_visible()
    tour.visit("change password refused")

    main_menu(page).get_by_role("button", name="Log out").click()
    page.get_by_label("Email").fill(provider.email)
    page.get_by_label("Password").fill(BROWSER_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(url + "/login/code")
    tour.visit("login code step")
    page.get_by_label("Code from your app, or a recovery code").fill(codes[0])
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(url + "/home")
    expect(page.get_by_role("status")).to_contain_text("9 are left")

    assert tour.problems == [], "\n".join(tour.problems)
    refused = [f"422 {url}/account/two-factor/confirm", f"422 {url}/account/password"]
    assert new_page.errors == refused  # the two refusals above, and no CSP violation
