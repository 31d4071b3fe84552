"""The account page's changes in the browser (issue 14): factors named, added, renamed and never the last
one removed (R15), the password changed (R16) and the email address changed through the link mailed to
the new one (R13), each behind the step-up dialog when the second factor is not recent (R14).
"""

from __future__ import annotations

import re
import sqlite3

import httpx
import pytest
from playwright.async_api import expect

from ..flows import PASSWORD, Converted, convert, totp_code
from ..graphql import GraphQLClient
from ..mailbox import body, code_in
from .pages import DESKTOP, LOOP, PHONE, Site, Visit
from .steps import open_tab, sign_in, sign_out

pytestmark = [pytest.mark.slow, LOOP]

NEW_PASSWORD = "another long passphrase"


async def two_factor_user(site: Site, mailbox, customer: str, email: str) -> Converted:  # type: ignore[no-untyped-def]
    """A converted TOTP user (through the API)."""
    site.user(customer, email, PASSWORD)
    async with httpx.AsyncClient(base_url=site.url, timeout=30) as http:
        return await convert(GraphQLClient(http), mailbox, email, "totp")


async def signed_in_with_recovery_code(tab: Visit, site: Site, email: str, user: Converted) -> None:
    """Sign in with a recovery code, which leaves the app's next code for a step-up."""
    await sign_in(tab, site, email)
    await tab.page.locator("#step-second-factor").wait_for()
    await tab.page.click("#use-recovery")
    await tab.page.fill("#code", user.recovery_codes[0])
    await tab.page.click("#code-form button[type=submit]")
    await tab.step("account", "account")


def step_up_is_due(site: Site, email: str) -> None:
    """Forget when the user's sessions last verified a second factor, as ten minutes of waiting would (R14)."""
    with sqlite3.connect(site.workdir / "web.sqlite3") as db:
        db.execute(
            'UPDATE session SET verified_at = NULL WHERE user_id = (SELECT id FROM "user" WHERE email = ?)', (email,)
        )


async def step_up_with_the_app(tab: Visit, user: Converted, name: str) -> None:
    """The step-up dialog, answered with the authenticator app's next code."""
    await tab.step("step-up", name)
    await tab.page.fill("#step-up-code", totp_code(user.secret, steps_ahead=1))
    await tab.page.click("#step-up-submit")
    await expect(tab.page.locator("#step-up")).to_be_hidden()


async def test_r15_factors_are_added_named_renamed_and_never_the_last_removed(site, browser, shots, mailbox, enforced):
    email = "factors@example.com"
    user = await two_factor_user(site, mailbox, enforced, email)
    tab = await open_tab(browser, shots, DESKTOP)
    page = tab.page
    await signed_in_with_recovery_code(tab, site, email, user)
    items = page.locator("#factors > li")
    await expect(items).to_have_count(1)
    await expect(items.first).to_contain_text("Authenticator app")

    # R9: never the last one; the page says why.
    await items.first.get_by_role("button", name="Remove").click()
    await expect(page.locator("#confirm-heading")).to_contain_text("Remove Authenticator app?")
    await page.click("#confirm-ok")
    await expect(page.locator("#factors-message")).to_contain_text("cannot be removed")
    await expect(items).to_have_count(1)

    # Add codes by email, named: the code from the mail, and the name.
    await page.click("#add-factor")
    await tab.step("add-factor-panel", "add-choose")
    assert await page.is_checked("#add-method-totp")  # the authenticator app is offered first
    await page.check("#add-method-email_code")
    await page.click("#add-choose-form button[type=submit]")
    await tab.step("add-sent-to", "add-code-sent")
    await expect(page.locator("#add-sent-to")).to_contain_text("f***@example.com")
    code = code_in(await mailbox.next_to(email, "enrollment_code"))
    await page.fill("#add-code", code)
    await page.fill("#add-label", "Work inbox")
    await page.click("#add-confirm-form button[type=submit]")
    await expect(page.locator("#factors-message")).to_contain_text("The new factor is added")
    await expect(page.locator("#add-factor-panel")).to_be_hidden()
    await expect(items).to_have_count(2)
    await expect(items.last).to_contain_text("Work inbox")
    await expect(items.last).to_contain_text("Code by email")
    await tab.shot("factor-added")

    # Ten minutes later, a rename asks for the second factor again and is then made as asked.
    step_up_is_due(site, email)
    await items.first.get_by_role("button", name="Rename").click()
    await page.fill("#rename-0", "Old phone")
    await page.click("#factors form.rename button[type=submit]")
    await step_up_with_the_app(tab, user, "rename-step-up")
    await expect(page.locator("#factors-message")).to_have_text("Renamed to Old phone.")
    await expect(items.first).to_contain_text("Old phone")

    # Now there are two: one can go (and the other sessions with it, S18).
    await items.last.get_by_role("button", name="Remove").click()
    await expect(page.locator("#confirm-heading")).to_contain_text("Remove Work inbox?")
    await page.click("#confirm-ok")
    await expect(page.locator("#factors-message")).to_contain_text("Work inbox was removed")
    await expect(items).to_have_count(1)
    await tab.shot("factor-removed")
    tab.assert_never_leaked(code, *user.recovery_codes)


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
async def test_r16_the_password_is_changed_after_the_step_up(site, browser, shots, mailbox, enforced, viewport):
    email = f"password-{viewport['width']}@example.com"
    user = await two_factor_user(site, mailbox, enforced, email)
    tab = await open_tab(browser, shots, viewport)
    page = tab.page
    await signed_in_with_recovery_code(tab, site, email, user)
    step_up_is_due(site, email)
    await page.fill("#current-password", PASSWORD)
    await page.fill("#new-password", NEW_PASSWORD)
    await page.fill("#new-password-again", NEW_PASSWORD + "x")
    await page.click("#password-form button[type=submit]")
    await expect(page.locator("#password-message")).to_contain_text("not the same")
    await page.fill("#new-password-again", NEW_PASSWORD)
    await page.click("#password-form button[type=submit]")
    await step_up_with_the_app(tab, user, "password-step-up")
    await expect(page.locator("#password-message")).to_contain_text("Your password is changed")
    assert await page.input_value("#current-password") == ""
    await tab.step("password-area", "password-changed")
    # The step-up is recent now: a wrong current password is simply refused.
    await page.fill("#current-password", "not my password")
    await page.fill("#new-password", NEW_PASSWORD + "!")
    await page.fill("#new-password-again", NEW_PASSWORD + "!")
    await page.click("#password-form button[type=submit]")
    await expect(page.locator("#password-message")).to_contain_text("not your current password")
    # The account's address hears of the change; the new password signs in.
    assert f"{site.url}/report#token=" in body(await mailbox.next_to(email, "notice_password_changed"))
    await sign_out(tab)
    await sign_in(tab, site, email, NEW_PASSWORD)
    await tab.step("step-second-factor", "second-factor")
    tab.assert_never_leaked(PASSWORD, NEW_PASSWORD)


async def test_r16_a_password_user_changes_it_with_the_current_one_alone(site, browser, shots):
    customer = site.customer("Password Oy")
    email = "just-a-password@example.com"
    site.user(customer, email, PASSWORD)
    tab = await open_tab(browser, shots, PHONE)
    page = tab.page
    await sign_in(tab, site, email)
    await tab.step("password-area", "password")
    # R8: a password user's address changes by converting; no email form here.
    await expect(page.locator("#email-area")).to_be_hidden()
    # Nothing of a second factor either: no recovery codes, no remembered browsers.
    await expect(page.locator("#codes-area")).to_be_hidden()
    await expect(page.locator("#devices-area")).to_be_hidden()
    await page.fill("#current-password", PASSWORD)
    await page.fill("#new-password", NEW_PASSWORD)
    await page.fill("#new-password-again", NEW_PASSWORD)
    await page.click("#password-form button[type=submit]")
    await expect(page.locator("#password-message")).to_contain_text("Your password is changed")
    await sign_out(tab)
    await sign_in(tab, site, email, NEW_PASSWORD)
    await tab.wait_for_path("/account")
    tab.assert_never_leaked(PASSWORD, NEW_PASSWORD)


async def test_r13_the_email_address_changes_through_the_link_to_the_new_one(site, browser, shots, mailbox, enforced):
    email = "moving@example.com"
    new_address = "moved@example.org"
    user = await two_factor_user(site, mailbox, enforced, email)
    tab = await open_tab(browser, shots, DESKTOP)
    page = tab.page
    await signed_in_with_recovery_code(tab, site, email, user)
    await page.fill("#new-email", "not an address")
    await page.click("#email-form button[type=submit]")
    await expect(page.locator("#email-message")).to_contain_text("Enter a valid email address")
    await page.fill("#new-email", new_address)
    await page.click("#email-form button[type=submit]")
    await expect(page.locator("#email-message")).to_contain_text(
        "Check your new inbox: we sent a link to m***@example.org"
    )
    await tab.step("email-area", "email-change-requested")

    # The link from the new inbox, opened in another tab: nothing changes until the button.
    mail = await mailbox.next_to(new_address)
    found = re.search(r"^(https?://\S+/email-change#token=\S+?)\r?$", body(mail), flags=re.M)
    assert found is not None
    link = found.group(1)
    other = await open_tab(browser, shots, DESKTOP)
    await other.page.goto(link)
    await other.step("step-confirm", "email-change")
    assert other.page.url == f"{site.url}/email-change"
    await other.page.click("#email-change-form button[type=submit]")
    await other.step("step-done", "email-changed")
    await expect(other.page.locator("#done-message")).to_contain_text(f"is now {new_address}")
    await page.reload()
    await expect(page.locator("#account-email")).to_have_text(new_address)

    # Used once: the same link again says so.
    again = await open_tab(browser, shots, DESKTOP)
    await again.page.goto(link)
    await again.page.click("#email-change-form button[type=submit]")
    await again.step("step-invalid", "email-change-used")
    await expect(again.page.locator("#invalid-reason")).to_contain_text("expired or was already used")
    for visit in (tab, other, again):
        visit.assert_never_leaked(link.split("#token=")[1])
