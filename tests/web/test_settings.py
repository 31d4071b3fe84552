"""A customer admin's settings page in the browser (R1, R7, R9-R11): the impact preview and the
confirmation before enforcing, enforcement switched off again, and a new account that chooses its
password in the invitation. Screenshots of every step go to var/screenshots/<test>/.
"""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import expect

from ..flows import PASSWORD, convert, totp_code
from ..graphql import GraphQLClient
from ..mailbox import invitation_token_in
from .pages import DESKTOP, LOOP, PHONE
from .steps import account_shows, finish_with_recovery_codes, open_invitation, open_tab, sign_in, sign_out

pytestmark = [pytest.mark.slow, LOOP]


async def test_admin_enforces_after_seeing_who_must_convert(site, browser, shots, mailbox):
    customer = site.customer("Aalto Oy")
    site.user(customer, "anna@aalto.example", PASSWORD, "customer")
    for email in ("bea@aalto.example", "cai@aalto.example"):
        site.user(customer, email, PASSWORD)
    tab = await open_tab(browser, shots, DESKTOP)
    page = tab.page

    await sign_in(tab, site, "anna@aalto.example")
    await tab.wait_for_path("/account")
    await account_shows(tab, "Email and password", None)
    await page.click("#customers a")
    await tab.wait_for_path(f"/customers/{customer}/settings")
    await tab.step("settings", "settings")
    await expect(tab.page.locator("#impact-summary")).to_contain_text("3 users will have to convert")
    listed = await tab.text("#impact-users")
    assert all(email in listed for email in ("anna@aalto.example", "bea@aalto.example", "cai@aalto.example"))

    # Switching on asks first, naming who is affected; the safe choice has the focus; Escape cancels.
    await page.check("#enforce")
    await page.click("#settings-form button[type=submit]")
    await tab.step("confirm", "settings-confirm")
    await expect(tab.page.locator("#confirm-text")).to_contain_text("3 users will have to convert")
    await expect(tab.page.locator("#confirm-users")).to_contain_text("bea@aalto.example")
    assert await page.evaluate("document.activeElement.id") == "confirm-cancel"
    await page.keyboard.press("Escape")
    await expect(page.locator("#settings-message")).to_contain_text("Nothing was changed")

    await page.click("#settings-form button[type=submit]")
    await page.click("#confirm-ok")
    # R2, R10: the password admin must convert too, and is taken to where that starts.
    await tab.wait_for_path("/account")
    await tab.step("conversion", "account-must-convert")
    await expect(tab.page.locator("#conversion-why")).to_contain_text("requires two-factor")
    async with httpx.AsyncClient(base_url=site.url) as http:
        assert (await GraphQLClient(http).login("bea@aalto.example", PASSWORD))["__typename"] == "ConversionRequired"
    tab.assert_never_leaked()


async def test_enforcement_off_keeps_converted_users_on_two_factors(site, browser, shots, mailbox):
    customer = site.customer("Lahti Oy")
    admin = "leena@lahti.example"
    converted, untouched = "kalle@lahti.example", "ville@lahti.example"
    site.user(customer, converted, PASSWORD)
    site.user(customer, untouched, PASSWORD)
    # A new account without a password is invited by email: it chooses its password in the invitation.
    site.user(customer, admin, None, "customer")
    tab = await open_tab(browser, shots, DESKTOP)
    page = tab.page

    link = f"{site.url}/invitation#token={invitation_token_in(await mailbox.next_to(admin, 'invitation'))}"
    await open_invitation(tab, site, link)
    await page.click("#choose-form button[type=submit]")
    await tab.step("password-area", "new-account-password")
    secret = (await tab.text("#secret-text")).replace(" ", "")
    await page.fill("#new-password", "a long admin passphrase")
    await page.fill("#new-password-again", "a long admin passphrase!")
    await page.fill("#code", totp_code(secret))
    await page.click("#confirm-form button[type=submit]")
    await expect(tab.page.locator("#confirm-message")).to_contain_text("not the same")
    await page.fill("#new-password-again", "a long admin passphrase")
    await page.click("#confirm-form button[type=submit]")
    await finish_with_recovery_codes(tab, "admin-recovery-codes")

    # The two-factor admin switches enforcement on; one user converts (through the API, for speed).
    await page.goto(f"{site.url}/customers/{customer}/settings")
    await tab.step("settings", "settings-off")
    await page.check("#enforce")
    await page.click("#settings-form button[type=submit]")
    await page.click("#confirm-ok")
    await page.locator("#settings-message.success").wait_for()
    await expect(tab.page.locator("#settings-message")).to_contain_text("now required")
    await expect(tab.page.locator("#impact-summary")).to_contain_text("2 users will have to convert")
    async with httpx.AsyncClient(base_url=site.url, timeout=30) as http:
        await convert(GraphQLClient(http), mailbox, converted, "email_code")

    # R7, R9: switched off, the untouched user signs in with a password alone; the converted one still
    # needs a second factor.
    await page.reload()
    await tab.step("settings", "settings-on")
    await page.uncheck("#enforce")
    await page.click("#settings-form button[type=submit]")
    await tab.step("confirm", "settings-confirm-off")
    await expect(tab.page.locator("#confirm-text")).to_contain_text("keep signing in with two factors")
    await page.click("#confirm-ok")
    await page.locator("#settings-message.success").wait_for()
    await expect(tab.page.locator("#settings-message")).to_contain_text("not required")

    others = await open_tab(browser, shots, PHONE)
    await sign_in(others, site, untouched)
    await others.wait_for_path("/account")
    await account_shows(others, "Email and password", None)
    # R1: a company-level member sees why the settings are not theirs to change.
    await others.page.goto(f"{site.url}/customers/{customer}/settings")
    await expect(others.page.locator("#page-message")).to_contain_text("Only the customer's administrators")
    await expect(others.page.locator("#settings")).to_be_hidden()
    await others.shot("settings-not-admin")
    await others.page.goto(f"{site.url}/account")
    await sign_out(others)
    await sign_in(others, site, converted)
    await others.step("step-second-factor", "converted-still-two-factor")
    await expect(others.page.locator("#code-label")).to_have_text("Code from the email")
    tab.assert_never_leaked(secret)
    others.assert_never_leaked()


async def test_requiring_passkeys_of_admins_is_refused_and_explained_while_one_has_none(site, browser, shots, mailbox):
    # Issue 16: the switch is refused while an administrator (here the one switching it) has no passkey.
    customer = site.customer("Kallio Oy")
    site.user(customer, "kim@kallio.example", PASSWORD, "customer")
    tab = await open_tab(browser, shots, DESKTOP)
    page = tab.page
    await sign_in(tab, site, "kim@kallio.example")
    await tab.wait_for_path("/account")
    await page.click("#customers a")
    await tab.wait_for_path(f"/customers/{customer}/settings")

    await expect(page.locator("label[for=phishing-resistant]")).to_contain_text("phishing-resistant")
    await page.check("#phishing-resistant")
    await page.click("#settings-form button[type=submit]")

    await expect(page.locator("#settings-message")).to_contain_text("Each administrator adds a passkey")
    await expect(page.locator("#phishing-resistant")).not_to_be_checked()
    assert await page.evaluate("document.activeElement.id") == "phishing-resistant"
    tab.assert_never_leaked()
