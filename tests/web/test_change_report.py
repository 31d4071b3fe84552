"""R13 in the browser: a conversion sent to someone else's address is announced to the account's own;
its "this wasn't me" page stops it, and the reset link's page sets a new password and leads on to what
a login with it answers (here: the conversion, still pending at the account's own address).
"""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from ..flows import PASSWORD
from ..mailbox import body
from .pages import DESKTOP, LOOP, PHONE
from .steps import open_tab, sign_in

pytestmark = [pytest.mark.slow, LOOP]

NEW_PASSWORD = "a completely new passphrase"


def _link(message: object, page: str) -> str:
    found = re.search(rf"^(https?://\S+/{page}#token=\S+?)\r?$", body(message), flags=re.M)  # type: ignore[arg-type]
    assert found is not None
    return found.group(1)


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
async def test_r13_the_owner_stops_a_change_and_chooses_a_new_password(
    site, browser, shots, mailbox, enforced, viewport
):
    email = f"owner-{viewport['width']}@example.com"
    thief = f"thief-{viewport['width']}@example.org"
    site.user(enforced, email, PASSWORD)
    tab = await open_tab(browser, shots, viewport)
    page = tab.page
    # Someone with the password sends the invitation to their own address.
    await sign_in(tab, site, email)
    await tab.step("step-conversion", "conversion")
    await page.fill("#conversion-email", thief)
    await page.click("#conversion-form button[type=submit]")
    await tab.step("step-check-email", "check-email")
    await mailbox.next_to(thief, "invitation")

    # The owner opens the notice's link in a browser of their own.
    notice = await mailbox.next_to(email, "notice_invitation_elsewhere")
    assert thief in body(notice)
    owner = await open_tab(browser, shots, viewport)
    report_link = _link(notice, "report")
    await owner.page.goto(report_link)
    await owner.step("step-confirm", "report")
    assert owner.page.url == f"{site.url}/report"  # the token left the address bar
    await owner.page.click("#report-form button[type=submit]")
    await owner.step("step-done", "reported")
    await expect(owner.page.locator("#done-message")).to_contain_text("The change was stopped")
    # The same link again, in another tab: used.
    again = await open_tab(browser, shots, viewport)
    await again.page.goto(report_link)
    await again.page.click("#report-form button[type=submit]")
    await again.step("step-invalid", "report-used")

    # The old password no longer signs in; the reset link's page sets a new one and leads on.
    await sign_in(owner, site, email)
    await expect(owner.page.locator("#password-message")).to_contain_text("not right")
    reset = await mailbox.next_to(email, "password_reset")
    await owner.page.goto(_link(reset, "reset-password"))
    await owner.step("step-reset", "reset-password")
    assert owner.page.url == f"{site.url}/reset-password"
    await owner.page.fill("#reset-password", NEW_PASSWORD)
    await owner.page.fill("#reset-password-again", NEW_PASSWORD + "x")
    await owner.page.click("#reset-form button[type=submit]")
    await expect(owner.page.locator("#reset-message")).to_contain_text("not the same")
    await owner.page.fill("#reset-password-again", NEW_PASSWORD)
    await owner.page.click("#reset-form button[type=submit]")
    # R4, R13, R16: the conversion goes on, at the account's own address.
    await owner.step("step-check-email", "after-reset")
    await expect(owner.page.locator("#check-sent")).to_contain_text(email[0] + "***@example.com")
    owner.assert_never_leaked(report_link.split("#token=")[1])
    tab.assert_never_leaked(report_link.split("#token=")[1])
