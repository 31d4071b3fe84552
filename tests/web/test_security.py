"""The account page's Security section in the browser (issue 14): new recovery codes behind the step-up
dialog (R14, R15), sessions (R17), the language (R13), and "forgot your password" through the mailed
link (R16). Phone and desktop widths; screenshots of every step go to var/screenshots/<test>/.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from pathlib import Path

import httpx
import pytest
from playwright.async_api import expect

from ..flows import PASSWORD, convert, totp_code
from ..graphql import GraphQLClient
from ..mailbox import body, code_in
from .pages import DESKTOP, LOOP, PHONE, Site, Visit
from .steps import open_tab, sign_in

pytestmark = [pytest.mark.slow, LOOP]

NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
def open_customer(site: Site) -> str:
    """A customer that does not enforce two factors: its password users sign in with a password alone."""
    return site.customer("Open Oy")


async def converted(site: Site, mailbox, email: str, method: str):  # type: ignore[no-untyped-def]
    """A two-factor user of an enforcing customer, converted through the API (`flows.Converted`)."""
    async with httpx.AsyncClient(base_url=site.url, timeout=30) as http:
        return await convert(GraphQLClient(http), mailbox, email, method)


def _step_up_is_due(site: Site, email: str) -> None:
    """Forget when the user's sessions last verified a second factor, as ten minutes of waiting would (R14)."""
    with sqlite3.connect(site.workdir / "web.sqlite3") as db:
        db.execute(
            'UPDATE session SET verified_at = NULL WHERE user_id = (SELECT id FROM "user" WHERE email = ?)', (email,)
        )


async def _downloaded(tab: Visit, button: str) -> str:
    async with tab.page.expect_download() as downloading:
        await tab.page.click(button)
    download = await downloading.value
    assert download.suggested_filename == "recovery-codes.txt"
    return await asyncio.to_thread(Path(await download.path()).read_text, "utf-8")


@pytest.mark.parametrize(
    ("viewport", "method"), [(PHONE, "totp"), (DESKTOP, "email_code")], ids=["phone-totp", "desktop-email"]
)
async def test_r14_r15_new_recovery_codes_after_the_step_up_dialog(
    site, browser, shots, mailbox, enforced, viewport, method
):
    email = f"codes-{method}@example.com"
    site.user(enforced, email, PASSWORD)
    user = await converted(site, mailbox, email, method)
    tab = await open_tab(browser, shots, viewport)
    page = tab.page
    await sign_in(tab, site, email)
    await tab.step("step-second-factor", "second-factor")
    if method == "totp":
        # A recovery code here leaves the app's next code (the enrollment used this one) for the step-up.
        await page.click("#use-recovery")
        await page.fill("#code", user.recovery_codes[0])
    else:
        await page.click("#send-code")
        await page.locator("#code-message.success").wait_for()
        await page.fill("#code", code_in(await mailbox.next_to(email, "login_code")))
    await page.click("#code-form button[type=submit]")
    await tab.wait_for_path("/account")
    await tab.step("security", "security")
    left = 9 if method == "totp" else 10
    await expect(page.locator("#codes-left")).to_have_text(f"{left} unused recovery codes left.")

    # Ten minutes later: creating codes asks for the second factor again, then creates them as asked.
    _step_up_is_due(site, email)
    await page.click("#new-codes")
    await expect(page.locator("#confirm-heading")).to_contain_text("The codes you have now stop working")
    await page.click("#confirm-ok")
    await tab.step("step-up", "step-up-dialog")
    await expect(page.locator("#step-up-heading")).to_have_text("Confirm it's you")
    # The user's method first, recovery codes as the fallback.
    assert await page.is_checked(f"#step-up-method-{method}")
    await expect(page.locator("#step-up-options")).to_contain_text("Recovery code")
    await page.fill("#step-up-code", "000000")
    await page.click("#step-up-submit")
    await page.locator("#step-up-message.error").wait_for()
    await expect(page.locator("#step-up-message")).to_contain_text("not right")
    await tab.shot("step-up-wrong-code")
    if method == "totp":
        await page.fill("#step-up-code", totp_code(user.secret, steps_ahead=1))
    else:
        assert await page.evaluate("document.activeElement.id") in {"step-up-code", "step-up-send"}
        await page.click("#step-up-send")
        await page.locator("#step-up-message.success").wait_for()
        await expect(page.locator("#step-up-message")).to_contain_text("Code sent to c***@example.com")
        await page.fill("#step-up-code", code_in(await mailbox.next_to(email, "login_code")))
    await page.click("#step-up-submit")

    await tab.step("step-recovery", "new-recovery-codes")
    await expect(page.locator("#recovery-done")).to_contain_text("the old ones no longer work")
    codes = await page.locator("#recovery-codes code").all_inner_texts()
    assert len(codes) == 10 and not set(codes) & set(user.recovery_codes)
    saved = await _downloaded(tab, "#download-codes")
    assert all(code in saved for code in codes) and email in saved
    await page.check("#saved-codes")
    await page.click("#recovery-form button[type=submit]")
    await tab.wait_for_path("/account")
    await tab.step("security", "security-after")
    await expect(page.locator("#codes-left")).to_have_text("10 unused recovery codes left.")
    # R13: the account's address hears of it, with a "this wasn't me" link.
    notice = await mailbox.next_to(email, "recovery_codes_replaced")
    assert f"{site.url}/report#token=" in body(notice)
    tab.assert_never_leaked(*codes)


async def test_r14_closing_the_step_up_dialog_changes_nothing(site, browser, shots, mailbox, enforced):
    email = "codes-cancel@example.com"
    site.user(enforced, email, PASSWORD)
    user = await converted(site, mailbox, email, "totp")
    tab = await open_tab(browser, shots, DESKTOP)
    page = tab.page
    await sign_in(tab, site, email)
    await page.locator("#step-second-factor").wait_for()
    await page.click("#use-recovery")
    await page.fill("#code", user.recovery_codes[0])
    await page.click("#code-form button[type=submit]")
    await tab.step("security", "security")
    await expect(page.locator("#codes-left")).to_have_text("9 unused recovery codes left.")
    _step_up_is_due(site, email)
    await page.click("#new-codes")
    await page.click("#confirm-ok")
    await tab.step("step-up", "step-up-dialog")
    await page.keyboard.press("Escape")
    await expect(page.locator("#step-up")).to_be_hidden()
    await expect(page.locator("#codes-message")).to_have_text("Nothing was changed.")
    await expect(page.locator("#codes-left")).to_have_text("9 unused recovery codes left.")
    tab.assert_never_leaked(*user.recovery_codes)


async def test_r17_sessions_are_listed_and_ended(site, browser, shots, open_customer):
    email = "sessions@example.com"
    site.user(open_customer, email, PASSWORD)
    others = [await open_tab(browser, shots, PHONE) for _ in range(2)]
    for other in others:
        await sign_in(other, site, email)
        await other.wait_for_path("/account")
    tab = await open_tab(browser, shots, DESKTOP)
    page = tab.page
    await sign_in(tab, site, email)
    await tab.wait_for_path("/account")
    await tab.step("sessions-area", "sessions")
    sessions = page.locator("#sessions > li")
    await expect(sessions).to_have_count(3)
    # Newest first: this one, marked, with no button of its own.
    await expect(sessions.first.locator(".badge")).to_have_text("this device")
    await expect(sessions.first.locator("button")).to_have_count(0)
    await expect(sessions.first).to_contain_text("Chrome · Linux")
    await expect(sessions.first).to_contain_text("from 127.0.0.1")

    # The oldest one ends by its own button.
    await sessions.last.locator("button").click()
    await expect(page.locator("#sessions-message")).to_have_text("That session was signed out.")
    await expect(sessions).to_have_count(2)
    await others[0].page.goto(f"{site.url}/account")
    await others[0].wait_for_path("/login")

    await page.click("#end-others")
    await expect(page.locator("#sessions-message")).to_have_text("Signed out of 1 other session.")
    await expect(sessions).to_have_count(1)
    await expect(page.locator("#end-others")).to_be_hidden()
    await tab.shot("sessions-ended")
    await others[1].page.goto(f"{site.url}/account")
    await others[1].wait_for_path("/login")
    # This session lives on.
    await page.reload()
    await tab.step("account", "account-after")
    for visit in (tab, *others):
        visit.assert_never_leaked()


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
async def test_r13_the_language_is_the_users_own(site, browser, shots, open_customer, viewport):
    email = f"kieli-{viewport['width']}@example.com"
    site.user(open_customer, email, PASSWORD)
    tab = await open_tab(browser, shots, viewport)
    page = tab.page
    await sign_in(tab, site, email)
    await tab.step("locale-area", "language-en")
    await expect(page.locator("#locale")).to_have_value("en")
    await page.select_option("#locale", "fi")
    await expect(page.locator("html")).to_have_attribute("lang", "fi")
    await expect(page.locator("#account-heading")).to_have_text("Omat tiedot")
    await expect(page.locator("#locale-message")).to_have_text("Tallennettu.")
    await tab.step("locale-area", "language-fi")

    # Saved to the account: another browser, set to English, shows the account page in Finnish.
    elsewhere = await open_tab(browser, shots, viewport)
    await sign_in(elsewhere, site, email)
    await elsewhere.wait_for_path("/account")
    await expect(elsewhere.page.locator("#account-heading")).to_have_text("Omat tiedot")
    await expect(elsewhere.page.locator("#locale")).to_have_value("fi")
    # The header's button on this page changes the account's language too.
    await elsewhere.page.click("#language")
    await expect(elsewhere.page.locator("#account-heading")).to_have_text("Your account")
    await expect(elsewhere.page.locator("#locale")).to_have_value("en")
    # The first browser keeps the language chosen in it, and shows the account's (for emails) in the select.
    await page.reload()
    await expect(page.locator("#locale")).to_have_value("en")
    await expect(page.locator("#account-heading")).to_have_text("Omat tiedot")
    tab.assert_never_leaked()
    elsewhere.assert_never_leaked()


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
async def test_r16_forgot_password_then_the_mailed_link_sets_a_new_one(
    site, browser, shots, mailbox, open_customer, viewport
):
    email = f"forgot-{viewport['width']}@example.com"
    site.user(open_customer, email, PASSWORD)
    tab = await open_tab(browser, shots, viewport)
    page = tab.page
    await page.goto(f"{site.url}/login")
    await tab.step("step-password", "login")
    await page.fill("#email", email)
    await page.click("#forgot")
    await tab.step("step-forgot", "forgot")
    await expect(page.locator("#forgot-email")).to_have_value(email)
    await page.click("#forgot-form button[type=submit]")
    await expect(page.locator("#forgot-message")).to_have_text(
        f"If {email} belongs to an account, we sent a link to it. It works once, for an hour. "
        "No email? Check the address and your spam folder."
    )
    await tab.shot("forgot-sent")
    # An address without an account gets the same words (and no mail).
    stranger = f"nobody-{viewport['width']}@example.com"
    await page.fill("#forgot-email", stranger)
    await page.click("#forgot-form button[type=submit]")
    await expect(page.locator("#forgot-message")).to_contain_text(f"If {stranger} belongs to an account")

    reset = await mailbox.next_to(email, "password_reset")
    link = re.search(r"^(https?://\S+/reset-password#token=\S+?)\r?$", body(reset), flags=re.M)
    assert link is not None
    await page.goto(link.group(1))
    await tab.step("step-reset", "reset-password")
    assert page.url == f"{site.url}/reset-password"
    await page.fill("#reset-password", NEW_PASSWORD)
    await page.fill("#reset-password-again", NEW_PASSWORD)
    await page.click("#reset-form button[type=submit]")
    await tab.wait_for_path("/account")
    await page.click("#logout")
    await tab.wait_for_path("/login")
    # The old password is gone; the new one signs in.
    await sign_in(tab, site, email)
    await expect(page.locator("#password-message")).to_contain_text("not right")
    await sign_in(tab, site, email, NEW_PASSWORD)
    await tab.wait_for_path("/account")
    # The link worked once: used again, it leads to asking for a new one.
    await page.goto(link.group(1))
    await page.fill("#reset-password", NEW_PASSWORD + "!")
    await page.fill("#reset-password-again", NEW_PASSWORD + "!")
    await page.click("#reset-form button[type=submit]")
    await tab.step("step-forgot", "reset-link-used")
    await expect(page.locator("#forgot-message")).to_contain_text("Ask for a new one here")
    tab.assert_never_leaked(link.group(1).split("#token=")[1], NEW_PASSWORD)


async def test_r13_the_email_change_link_acts_only_on_the_click(site, browser, shots):
    tab = await open_tab(browser, shots, PHONE)
    page = tab.page
    await page.goto(f"{site.url}/email-change#token=not-a-real-token")
    await tab.step("step-confirm", "email-change")
    assert page.url == f"{site.url}/email-change"  # the token left the address bar
    await page.click("#email-change-form button[type=submit]")
    # An unknown token: used or expired.
    await tab.step("step-invalid", "email-change-invalid")
    await page.goto(f"{site.url}/email-change")
    await expect(page.locator("#invalid-reason")).to_contain_text("needs the link from the email")
    tab.assert_never_leaked("not-a-real-token")
