"""The steps the browser tests share: signing in, asking for and opening an invitation, saving recovery
codes, the account page. Each checks what a person would see at that step.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
from playwright.async_api import Browser, expect

from ..flows import PASSWORD, Converted, enroll
from ..graphql import GraphQLClient
from ..mailbox import Mailbox, body, invitation_token_in
from .pages import Shots, Site, Visit


async def open_tab(browser: Browser, shots: Shots, viewport: dict[str, int], locale: str = "en-GB") -> Visit:
    """A fresh browser profile (no cookies) with one tab."""
    context = await browser.new_context(viewport=viewport, locale=locale, accept_downloads=True)
    return Visit(await context.new_page(), shots)


async def enforce(site: Site, customer: str, admin_email: str) -> None:
    """Switch enforcement on through the API, as the customer's password admin."""
    async with httpx.AsyncClient(base_url=site.url, timeout=30) as http:
        client = GraphQLClient(http)
        await client.login_token(admin_email, PASSWORD)
        done = await client.run("UpdateCustomerSettings", customerId=customer, input={"enforceTwoFactor": True})
        assert done["updateCustomerSettings"]["__typename"] == "CustomerSettingsUpdated", done


async def convert_by_choice(site: Site, mailbox: Mailbox, email: str, *, finish: bool) -> Converted | None:
    """A password member converts of their own accord (R8) through the API: left PENDING, or finished with
    an authenticator app (its secret and recovery codes in the answer)."""
    async with httpx.AsyncClient(base_url=site.url, timeout=30) as http:
        client = GraphQLClient(http)
        await client.login_token(email, PASSWORD)
        started = (await client.run("StartConversion", email=email))["startConversion"]
        assert started["__typename"] == "ConversionRequested", started
        token = invitation_token_in(await mailbox.next_to(email, "invitation"))
        return await enroll(client, mailbox, token) if finish else None


async def sign_in(tab: Visit, site: Site, email: str, password: str = PASSWORD) -> None:
    """Fill the password step of /login by keyboard, as a person without a mouse does."""
    page = tab.page
    await page.goto(f"{site.url}/login")
    await tab.step("step-password", "login")
    # The script puts the focus in the email field; Tab moves to the password, Enter submits.
    assert await page.evaluate("document.activeElement.id") == "email"
    await page.keyboard.type(email)
    await page.keyboard.press("Tab")
    await page.keyboard.type(password)
    await page.keyboard.press("Enter")


async def request_invitation(tab: Visit, site: Site, mailbox: Mailbox, email: str) -> str:
    """Password login under enforcement, the conversion screen, "check your email": the mailed link."""
    page = tab.page
    await sign_in(tab, site, email)
    await tab.step("step-conversion", "conversion")
    assert await page.input_value("#conversion-email") == email
    assert await page.evaluate("document.activeElement.id") == "conversion-email"
    hint = await page.get_attribute("#conversion-email", "aria-describedby")
    assert "carefully" in await tab.text(f"#{hint}")
    await page.click("#conversion-form button[type=submit]")
    await tab.step("step-check-email", "check-email")
    await expect(tab.page.locator("#check-sent")).to_contain_text("We sent the invitation to")
    message = await mailbox.next_to(email, "invitation")
    link = re.search(r"^(https?://\S+/invitation#token=\S+?)\r?$", body(message), flags=re.M)
    assert link is not None
    assert link.group(1).startswith(f"{site.url}/invitation#token=")
    return link.group(1)


async def open_invitation(tab: Visit, site: Site, link: str) -> None:
    """Open the mailed link; the token leaves the address bar at once."""
    await tab.page.goto(link)
    await tab.step("step-choose", "choose-method")
    assert tab.page.url == f"{site.url}/invitation"


async def finish_with_recovery_codes(tab: Visit, name: str) -> list[str]:
    """The recovery-codes step: ten codes, downloaded, acknowledged; then the account page."""
    page = tab.page
    await tab.step("step-recovery", name)
    codes = await page.locator("#recovery-codes code").all_inner_texts()
    assert len(codes) == 10 and len(set(codes)) == 10
    async with page.expect_download() as downloading:
        await page.click("#download-codes")
    download = await downloading.value
    saved = await asyncio.to_thread(Path(await download.path()).read_text, "utf-8")
    assert all(code in saved for code in codes)
    # Continuing without confirming the codes are saved is refused with a reason.
    await page.click("#recovery-form button[type=submit]")
    await expect(tab.page.locator("#recovery-message")).to_contain_text("Save the codes first")
    await page.check("#saved-codes")
    await page.click("#recovery-form button[type=submit]")
    await tab.wait_for_path("/account")
    return codes


async def account_shows(tab: Visit, method: str, factor: str | None) -> None:
    """The account page: the sign-in method and (if any) the factor's name."""
    await tab.step("account", "account")
    await expect(tab.page.locator("#account-method")).to_have_text(method)
    if factor:
        await expect(tab.page.locator("#factors")).to_contain_text(factor)


async def sign_out(tab: Visit) -> None:
    """The account page's sign-out button ends the session and leads to /login."""
    await tab.page.click("#logout")
    await tab.wait_for_path("/login")
