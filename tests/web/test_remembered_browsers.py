"""R18 in the browser: a customer admin sets how many days a browser may skip the second factor (the
settings page); the code step then offers "Remember this browser for N days" (after a login and after a
reset by link), and a remembered browser signs in with the password alone; at 0 the box is not shown.
The account page lists the remembered browsers and forgets them.
"""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import expect

from ..flows import PASSWORD, Converted, challenge, enroll, totp_code
from ..graphql import GraphQLClient
from ..mailbox import invitation_token_in, link_token_in
from .pages import DESKTOP, LOOP, PHONE, Site, Visit
from .steps import open_tab, sign_in, sign_out

pytestmark = [pytest.mark.slow, LOOP]


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
async def test_r18_remembered_browsers_are_listed_and_forgotten(site, browser, shots, mailbox, viewport):
    customer = site.customer(f"Remember {viewport['width']} Oy")
    admin = f"remember-admin-{viewport['width']}@example.com"
    email = f"remembered-{viewport['width']}@example.com"
    site.user(customer, admin, PASSWORD, "customer")
    site.user(customer, email, None)
    async with httpx.AsyncClient(base_url=site.url, timeout=30) as http:
        client = GraphQLClient(http)
        await client.login_token(admin, PASSWORD)
        done = await client.run("UpdateCustomerSettings", customerId=customer, input={"rememberDeviceDays": 30})
        assert done["updateCustomerSettings"]["__typename"] == "CustomerSettingsUpdated", done
        client.forget_cookies()
        invitation = invitation_token_in(await mailbox.next_to(email, "invitation"))
        user = await enroll(client, mailbox, invitation, "totp", password=PASSWORD)
        client.forget_cookies()
        # Another client signs in and asks to be remembered.
        remembered = await client.run(
            "VerifySecondFactor",
            challenge=await challenge(client, email),
            method="totp",
            code=totp_code(user.secret, steps_ahead=1),
            rememberDevice=True,
        )
        assert remembered["verifySecondFactor"]["__typename"] == "LoginSuccess", remembered

    tab = await open_tab(browser, shots, viewport)
    page = tab.page
    await sign_in(tab, site, email)
    await page.locator("#step-second-factor").wait_for()
    await page.click("#use-recovery")
    await page.fill("#code", user.recovery_codes[0])
    await page.click("#code-form button[type=submit]")
    await tab.step("devices-area", "remembered-browsers")
    devices = page.locator("#devices > li")
    await expect(devices).to_have_count(1)
    await expect(devices.first).to_contain_text("Unknown browser")  # python-httpx names no browser
    await expect(devices.first).to_contain_text("Remembered")
    await devices.first.get_by_role("button", name="Forget").click()
    await expect(page.locator("#devices-message")).to_have_text("That browser will ask for a code again.")
    await expect(page.locator("#devices")).to_have_text("None.")
    await tab.shot("forgotten")
    tab.assert_never_leaked(*user.recovery_codes)


async def _two_factor_member(site: Site, mailbox, customer: str, email: str, days: int | None = None) -> Converted:
    """A new member of `customer` with an authenticator app (enrolled through the API); with `days`, the
    customer's admin (a new password member) first sets rememberDeviceDays through the API."""
    if days is not None:
        admin = f"admin-{email}"
        site.user(customer, admin, PASSWORD, "customer")
    site.user(customer, email, None)
    async with httpx.AsyncClient(base_url=site.url, timeout=30) as http:
        client = GraphQLClient(http)
        if days is not None:
            await client.login_token(admin, PASSWORD)
            done = await client.run("UpdateCustomerSettings", customerId=customer, input={"rememberDeviceDays": days})
            assert done["updateCustomerSettings"]["__typename"] == "CustomerSettingsUpdated", done
            client.forget_cookies()
        invitation = invitation_token_in(await mailbox.next_to(email, "invitation"))
        return await enroll(client, mailbox, invitation, "totp", password=PASSWORD)


async def _save_days(tab: Visit, days: str) -> None:
    """The admin's settings page: type `days` into the remembered-browsers field and save."""
    await tab.page.fill("#remember-days", days)
    await tab.page.click("#settings-form button[type=submit]")


async def _code_step_offers(tab: Visit, label: str | None) -> None:
    """The code step, with the box saying `label` (unticked), or without any box."""
    await tab.step("step-second-factor", "code-step")
    box = tab.page.locator("#remember-device")
    if label is None:
        await expect(box).to_be_hidden()
        return
    await expect(box).to_be_visible()
    await expect(box).not_to_be_checked()
    # A real checkbox with its own label: found by role and name, as assistive technology finds it.
    await expect(tab.page.get_by_role("checkbox", name=label, exact=True)).to_be_visible()


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
async def test_r18_the_code_step_remembers_this_browser_for_the_days_the_admin_set(
    site, browser, shots, mailbox, viewport
):
    customer = site.customer(f"Days {viewport['width']} Oy")
    admin = f"days-admin-{viewport['width']}@example.com"
    email = f"days-user-{viewport['width']}@example.com"
    site.user(customer, admin, PASSWORD, "customer")
    user = await _two_factor_member(site, mailbox, customer, email)

    # The admin sets 7 days on the settings page (0, the default, is off; above 30 is refused).
    settings = await open_tab(browser, shots, viewport)
    await sign_in(settings, site, admin)
    await settings.wait_for_path("/account")
    await settings.page.goto(f"{site.url}/customers/{customer}/settings")
    await settings.step("settings", "settings-days")
    await expect(settings.page.locator("#remember-days")).to_have_value("0")
    await expect(settings.page.get_by_label("Days a browser may skip the code step")).to_be_visible()
    await _save_days(settings, "31")
    await expect(settings.page.locator("#settings-message.error")).to_have_text(
        "Give a whole number of days from 0 to 30."
    )
    assert await settings.page.evaluate("document.activeElement.id") == "remember-days"
    await _save_days(settings, "7")
    await expect(settings.page.locator("#settings-message.success")).to_have_text("Saved.")
    await settings.page.reload()
    await expect(settings.page.locator("#remember-days")).to_have_value("7")
    await settings.shot("settings-days-saved")

    # The user ticks the box by keyboard and confirms with the app's code.
    tab = await open_tab(browser, shots, viewport)
    page = tab.page
    await sign_in(tab, site, email)
    await _code_step_offers(tab, "Remember this browser for 7 days")
    await expect(page.locator("#remember-hint")).to_contain_text("shared or public computer")
    await page.focus("#remember-device")
    await page.keyboard.press("Space")
    await expect(page.locator("#remember-device")).to_be_checked()
    await tab.shot("remember-ticked")
    await page.fill("#code", totp_code(user.secret or "", steps_ahead=1))
    await page.keyboard.press("Enter")
    await tab.wait_for_path("/account")
    await expect(page.locator("#devices > li")).to_have_count(1)
    await expect(page.locator("#devices > li").first).to_contain_text("Remembered")

    # Signed out and in again with the password: no code step, straight to the account page.
    await sign_out(tab)
    await sign_in(tab, site, email)
    await tab.wait_for_path("/account")
    await tab.step("account", "remembered-sign-in")

    # At 0 the browser is forgotten (a lowered setting) and the code step offers no box.
    await settings.page.reload()
    await expect(settings.page.locator("#remember-days")).to_have_value("7")
    await _save_days(settings, "0")
    await expect(settings.page.locator("#settings-message.success")).to_have_text("Saved.")
    await sign_out(tab)
    await sign_in(tab, site, email)
    await _code_step_offers(tab, None)
    tab.assert_never_leaked(*user.recovery_codes)
    settings.assert_never_leaked()


async def test_r18_after_a_reset_by_link_the_code_step_offers_the_box_too(site, browser, shots, mailbox):
    customer = site.customer("Reset Days Oy")
    email = "reset-days@example.com"
    user = await _two_factor_member(site, mailbox, customer, email, days=1)
    async with httpx.AsyncClient(base_url=site.url, timeout=30) as http:
        asked = await GraphQLClient(http).run("RequestPasswordReset", email=email)
        assert asked["requestPasswordReset"]["__typename"] == "PasswordResetRequested", asked
    token = link_token_in(await mailbox.next_to(email, "password_reset"), "reset-password")

    tab = await open_tab(browser, shots, PHONE, locale="fi-FI")
    page = tab.page
    new_password = "a brand new passphrase"
    await page.goto(f"{site.url}/reset-password#token={token}")
    await tab.step("step-reset", "reset-password")
    await page.fill("#reset-password", new_password)
    await page.fill("#reset-password-again", new_password)
    await page.click("#reset-form button[type=submit]")
    # In Finnish, and singular for one day.
    await _code_step_offers(tab, "Muista tämä selain 1 päivän ajan")
    await page.click("#language")
    await expect(page.get_by_role("checkbox", name="Remember this browser for 1 day", exact=True)).to_be_visible()
    await page.check("#remember-device")
    await page.click("#use-recovery")
    await page.fill("#code", user.recovery_codes[0])
    await page.click("#code-form button[type=submit]")
    await tab.wait_for_path("/account")

    await sign_out(tab)
    await sign_in(tab, site, email, new_password)
    await tab.wait_for_path("/account")
    tab.assert_never_leaked(token, *user.recovery_codes)
