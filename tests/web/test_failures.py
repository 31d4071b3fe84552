"""Every failure branch the client shows (issue 7): the service's answers are replaced in the browser,
so outages, throttling and expired tokens show without being staged.
"""

from __future__ import annotations

import json

import pytest
from playwright.async_api import Route, expect

from ..flows import PASSWORD
from .pages import LOOP, PHONE
from .steps import open_tab

pytestmark = [pytest.mark.slow, LOOP]


async def test_failures_are_explained_and_outages_say_try_again(site, browser, shots):
    # The service's answers are replaced here, so every branch shows without staging an outage.
    tab = await open_tab(browser, shots, PHONE)
    page = tab.page
    replies: list[dict[str, object] | None] = []

    async def reply(route: Route) -> None:
        answer = replies.pop(0)
        if answer is None:
            await route.abort("connectionrefused")
        else:
            await route.fulfill(status=200, content_type="application/json", body=json.dumps(answer))

    await page.route("**/graphql", reply)

    async def submit_password(answer: dict[str, object] | None, expected: str) -> None:
        replies.append(answer)
        await page.fill("#email", "someone@example.com")
        await page.fill("#password", PASSWORD)
        await page.click("#password-form button[type=submit]")
        await expect(page.locator("#password-message")).to_contain_text(expected)

    await page.goto(f"{site.url}/login")
    await tab.step("step-password", "login")
    await submit_password(None, "Could not reach the service")
    await submit_password(
        {"data": None, "errors": [{"message": "x", "extensions": {"code": "SERVICE_UNAVAILABLE", "retryable": True}}]},
        "nothing was changed. Try again.",
    )
    await submit_password(
        {"data": {"login": {"__typename": "TooManyAttempts", "message": "x", "retryAfterSeconds": 120}}},
        "Too many attempts. Try again in 2 minutes.",
    )
    await submit_password(
        {"data": {"login": {"__typename": "InvalidCredentials", "message": "x"}}}, "email address or password"
    )
    await tab.shot("invalid-credentials")

    # An expired challenge leads back to the password step, saying why.
    methods = [
        {"id": "totp", "displayName": "Authenticator app", "channel": "authenticator_app"},
        {"id": "recovery_code", "displayName": "Recovery code", "channel": "lookup_secret"},
    ]
    replies.append({"data": {"login": {"__typename": "SecondFactorRequired", "challenge": "c", "methods": methods}}})
    # A refused password is cleared, so it is typed again.
    await expect(page.locator("#password")).to_have_value("")
    await page.fill("#password", PASSWORD)
    await page.click("#password-form button[type=submit]")
    await tab.step("step-second-factor", "second-factor")
    replies.append({"data": {"verifySecondFactor": {"__typename": "InvalidCode", "message": "x", "attemptsLeft": 2}}})
    await page.fill("#code", "123456")
    await page.keyboard.press("Enter")
    await expect(page.locator("#code-message")).to_contain_text("Attempts left: 2")
    replies.append({"data": {"verifySecondFactor": {"__typename": "ChallengeExpired", "message": "x"}}})
    await page.fill("#code", "123456")
    await page.keyboard.press("Enter")
    await tab.step("step-password", "challenge-expired")
    await expect(page.locator("#password-message")).to_contain_text("Sign in again")

    # A mail server that refuses for now: the invitation was not sent, and trying again may help.
    replies.append({"data": {"login": {"__typename": "ConversionRequired", "ticket": "t", "email": "a@example.com"}}})
    await page.fill("#password", PASSWORD)
    await page.click("#password-form button[type=submit]")
    await tab.step("step-conversion", "conversion")
    replies.append(
        {"data": None, "errors": [{"message": "x", "extensions": {"code": "MAIL_NOT_DELIVERED", "retryable": True}}]}
    )
    await page.click("#conversion-form button[type=submit]")
    await expect(page.locator("#conversion-message")).to_contain_text("could not be sent just now")
    replies.append({"data": {"requestConversion": {"__typename": "EmailInUse", "message": "x"}}})
    await page.click("#conversion-form button[type=submit]")
    await expect(page.locator("#conversion-message")).to_contain_text("belongs to another account")
    await tab.shot("email-in-use")

    # An invitation page that cannot reach the service offers to try again rather than calling the link dead.
    replies.append(None)
    await page.goto(f"{site.url}/invitation#token=abc")
    await tab.step("step-invalid", "invitation-unreachable")
    await expect(page.locator("#retry-load")).to_be_visible()
    assert page.url == f"{site.url}/invitation"
    replies.append({"data": {"invitation": None}})
    await page.click("#retry-load")
    await expect(page.locator("#invalid-reason")).to_contain_text("expired or was already used")
    assert replies == []
