"""R18 on the account page: the browsers where the user's second factor is remembered, listed and
forgotten. The remembering itself happens through the API here (`verifySecondFactor(rememberDevice)`):
the code step has no box for it yet (README, "The web client").
"""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import expect

from ..flows import PASSWORD, challenge, enroll, totp_code
from ..graphql import GraphQLClient
from ..mailbox import invitation_token_in
from .pages import DESKTOP, PHONE
from .steps import open_tab, sign_in

pytestmark = pytest.mark.slow


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
