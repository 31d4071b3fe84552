"""R20 in the browser: one person, one account. A person with accounts in two customers converts the one
whose customer enforces two factors and types the address of the other account: the answer is the same as
for any address, that address gets a LINK_ACCOUNT invitation, and the invitation page explains, asks to
sign in to that account (and back), accepts through the step-up dialog (R14); the converting account's
memberships move, and its password no longer signs in. Screenshots go to var/screenshots/<test>/.
"""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import expect

from ..flows import PASSWORD, totp_code
from ..graphql import GraphQLClient
from ..mailbox import link_token_in
from .pages import LOOP, PHONE
from .steps import convert_by_choice, enforce, open_tab, sign_in
from .test_account_changes import step_up_is_due

pytestmark = [pytest.mark.slow, LOOP]


async def test_r20_a_second_account_is_linked_into_the_first_from_its_own_session(site, browser, shots, mailbox):
    strict, relaxed = site.customer("Tiukka Oy"), site.customer("Rento Oy")
    strict_admin = "admin@tiukka.example"
    site.user(strict, strict_admin, PASSWORD, "customer")
    site.user(strict, "linda@tiukka.example", PASSWORD)
    site.user(relaxed, "linda@rento.example", PASSWORD)
    kept = await convert_by_choice(site, mailbox, "linda@rento.example", finish=True)
    assert kept is not None and kept.secret is not None
    await enforce(site, strict, strict_admin)
    tab = await open_tab(browser, shots, PHONE)
    page = tab.page

    # The conversion at Tiukka Oy, typing the address of the other account: the usual answer.
    await sign_in(tab, site, "linda@tiukka.example")
    await tab.step("step-conversion", "conversion")
    await page.fill("#conversion-email", "linda@rento.example")
    await page.click("#conversion-form button[type=submit]")
    await tab.step("step-check-email", "check-email")
    await expect(page.locator("#check-sent")).to_contain_text("We sent the invitation to")
    message = await mailbox.next_to("linda@rento.example", "link_account")
    link = f"{site.url}/invitation#token={link_token_in(message, 'invitation')}"

    # The invitation: what linking does, and the account to sign in to first.
    await page.goto(link)
    await tab.step("step-accept", "link-sign-in-first")
    assert page.url == f"{site.url}/invitation"
    await expect(page.locator("#accept-heading")).to_have_text("One person, one account")
    await expect(page.locator("#accept-what")).to_contain_text("already has an account")
    await expect(page.locator("#accept-what")).to_contain_text("Tiukka Oy")
    await expect(page.locator("#accept-after")).to_contain_text("can no longer sign in")
    await expect(page.locator("#accept-sign-in-why")).to_contain_text(
        "First sign in to the account linda@rento.example"
    )
    await page.click("#accept-sign-in-button")

    # The login page knows the address and comes back to the invitation after the second factor.
    await tab.wait_for_path("/login")
    await tab.step("step-password", "link-login")
    await expect(page.locator("#login-for-invitation")).to_be_visible()
    assert await page.input_value("#email") == "linda@rento.example"
    assert await page.evaluate("document.activeElement.id") == "password"
    await page.keyboard.type(PASSWORD)
    await page.keyboard.press("Enter")
    # A recovery code: the app's code of this half-minute was used by the enrollment (a replay is refused).
    await page.locator("#step-second-factor").wait_for()
    await page.click("#use-recovery")
    await page.fill("#code", kept.recovery_codes[0])
    await page.click("#code-form button[type=submit]")
    await tab.wait_for_path("/invitation")
    await tab.step("step-accept", "link-accept")
    await expect(page.locator("#accept-as")).to_contain_text("linda@rento.example")

    # R14: a second factor older than ten minutes is asked for again, then the link is made.
    step_up_is_due(site, "linda@rento.example")
    await page.click("#accept-submit")
    await tab.step("step-up", "link-step-up")
    await page.fill("#step-up-code", totp_code(kept.secret, steps_ahead=1))
    await page.click("#step-up-submit")
    await tab.step("step-accepted", "link-accepted")
    await expect(page.locator("#accepted-what")).to_contain_text("is now part of your account linda@rento.example")
    await expect(page.locator("#accepted-customers")).to_contain_text("Tiukka Oy")
    await expect(page.locator("#accepted-customers")).to_contain_text("Rento Oy")

    # The old account's password no longer signs in; the kept account is Tiukka Oy's member now.
    async with httpx.AsyncClient(base_url=site.url, timeout=30) as http:
        client = GraphQLClient(http)
        assert (await client.login("linda@tiukka.example", PASSWORD))["__typename"] == "InvalidCredentials"
    await page.click("a[href='/account']")
    await tab.wait_for_path("/account")
    await expect(page.locator("#customers")).to_contain_text("Tiukka Oy")
    tab.assert_never_leaked(PASSWORD, link.split("token=")[1])


async def test_r20_a_password_account_is_told_to_turn_on_two_factor_login_first(site, browser, shots, mailbox):
    strict, relaxed = site.customer("Tarkka Oy"), site.customer("Leppoisa Oy")
    strict_admin = "admin@tarkka.example"
    site.user(strict, strict_admin, PASSWORD, "customer")
    site.user(strict, "olli@tarkka.example", PASSWORD)
    site.user(relaxed, "olli@leppoisa.example", PASSWORD)
    await enforce(site, strict, strict_admin)
    tab = await open_tab(browser, shots, PHONE)
    page = tab.page
    await sign_in(tab, site, "olli@tarkka.example")
    await tab.step("step-conversion", "conversion")
    await page.fill("#conversion-email", "olli@leppoisa.example")
    await page.click("#conversion-form button[type=submit]")
    await tab.step("step-check-email", "check-email")
    message = await mailbox.next_to("olli@leppoisa.example", "link_account")
    await page.goto(f"{site.url}/invitation#token={link_token_in(message, 'invitation')}")
    await tab.step("step-accept", "sign-in-first")
    await page.click("#accept-sign-in-button")
    await tab.wait_for_path("/login")
    await page.fill("#password", PASSWORD)
    await page.keyboard.press("Enter")
    await tab.wait_for_path("/invitation")

    # The account signs in with a password alone: it has no second factor to link with (R14).
    await page.click("#accept-submit")

    await expect(page.locator("#accept-message")).to_contain_text("Turn on two-factor login on your account page")
    await tab.step("step-accept", "convert-first")
    async with httpx.AsyncClient(base_url=site.url, timeout=30) as http:
        client = GraphQLClient(http)
        # Nothing was linked: the converting account still signs in (to its pending conversion).
        assert (await client.login("olli@tarkka.example", PASSWORD))["__typename"] == "ConversionPending"
