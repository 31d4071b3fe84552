"""R13: the account's language is the web client's too: an invitation opens in the language its email
was written in, whatever the browser prefers; the header's switch still changes it."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from ..mailbox import body, invitation_token_in
from .pages import LOOP, PHONE
from .steps import open_tab

pytestmark = [pytest.mark.slow, LOOP]


async def test_r13_an_invitation_opens_in_the_accounts_language(site, browser, shots, mailbox, enforced):
    email = "aino@example.com"
    site.cli("user", "create", "--customer", enforced, "--email", email, "--level", "company", "--locale", "fi")
    message = await mailbox.next_to(email, "invitation")
    assert "Hei" in body(message)
    token = invitation_token_in(message)
    # The test's browser prefers English (Playwright's default en-US).
    tab = await open_tab(browser, shots, PHONE)

    await tab.page.goto(f"{site.url}/invitation#token={token}")

    await tab.step("step-choose", "invitation-fi")
    await expect(tab.page.locator("html")).to_have_attribute("lang", "fi")
    await expect(tab.page.locator("#choose-heading")).to_have_text("Ota kaksivaiheinen kirjautuminen käyttöön")
    await tab.page.click("#language")
    await expect(tab.page.locator("html")).to_have_attribute("lang", "en")
