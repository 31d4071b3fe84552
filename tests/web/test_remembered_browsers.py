"""R18 on the account page: remembered browsers, listed and forgotten. Their API arrives with another part of
issue 14, so here the browser gets answers shaped by lifecycle.graphql from the test for those two
operations (operations/pending/), and everything else from the running service. Without those answers,
on a service that lacks R18, the list stays hidden (checked too). Once R18's API is merged, drive the
same steps against the service itself.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from playwright.async_api import Route, expect

from ..flows import PASSWORD, convert, totp_code
from ..graphql import GraphQLClient
from .pages import DESKTOP, PHONE, ROOT, Site, Visit
from .steps import open_tab, sign_in

pytestmark = pytest.mark.slow

# The service under test runs this checkout's code, whose schema this is.
SCHEMA = (ROOT / "schema" / "schema.graphql").read_text("utf-8")
AT = "2026-05-01T09:05:00+00:00"
PENDING = {"RememberedDevices", "ForgetDevice"}


class Contract:
    """The answers of R18's operations, and the variables each was called with."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.devices = [
            {
                "id": "d1",
                "createdAt": AT,
                "expiresAt": AT,
                "lastUsedAt": AT,
                "userAgent": "Mozilla/5.0 (iPhone) Safari/604.1",
            }
        ]

    def answer(self, name: str, variables: dict[str, Any]) -> dict[str, Any]:
        """`data` of operation `name`, as the contract shapes it."""
        if name == "RememberedDevices":
            return {"viewer": {"rememberedDevices": self.devices}}
        forgotten = any(device["id"] == variables["id"] for device in self.devices)
        self.devices = [device for device in self.devices if device["id"] != variables["id"]]
        return {"forgetDevice": forgotten}

    async def route(self, route: Route) -> None:
        """Answer R18's operations; pass everything else on to the service."""
        request = json.loads(route.request.post_data or "{}")
        name = request.get("operationName")
        if name not in PENDING:
            await route.continue_()
            return
        variables = request.get("variables") or {}
        self.calls.append((name, variables))
        await route.fulfill(json={"data": self.answer(name, variables)})


async def signed_in(site: Site, mailbox, browser, shots, enforced: str, email: str, viewport) -> Visit:  # type: ignore[no-untyped-def]
    """A converted TOTP user's tab on the account page."""
    site.user(enforced, email, PASSWORD)
    async with httpx.AsyncClient(base_url=site.url, timeout=30) as http:
        user = await convert(GraphQLClient(http), mailbox, email, "totp")
    tab = await open_tab(browser, shots, viewport)
    return tab, user


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
async def test_r18_remembered_browsers_are_listed_and_forgotten(site, browser, shots, mailbox, enforced, viewport):
    email = f"devices-{viewport['width']}@example.com"
    tab, user = await signed_in(site, mailbox, browser, shots, enforced, email, viewport)
    contract = Contract()
    page = tab.page
    await page.route("**/graphql", contract.route)
    await sign_in(tab, site, email)
    await page.locator("#step-second-factor").wait_for()
    await page.fill("#code", totp_code(user.secret, steps_ahead=1))
    await page.click("#code-form button[type=submit]")

    await tab.step("devices-area", "remembered-browsers")
    await expect(page.locator("#devices")).to_contain_text("Safari · iOS")
    await page.get_by_role("button", name="Forget").click()
    await expect(page.locator("#devices-message")).to_have_text("That browser will ask for a code again.")
    await expect(page.locator("#devices")).to_have_text("None.")
    await tab.shot("forgotten")
    assert [variables for name, variables in contract.calls if name == "ForgetDevice"] == [{"id": "d1"}]
    tab.assert_never_leaked()


@pytest.mark.skipif("rememberedDevices" in SCHEMA, reason="the service has R18's API")
async def test_without_r18_the_list_stays_hidden(site, browser, shots, mailbox, enforced):
    email = "no-devices@example.com"
    tab, user = await signed_in(site, mailbox, browser, shots, enforced, email, PHONE)
    page = tab.page
    await sign_in(tab, site, email)
    await page.locator("#step-second-factor").wait_for()
    await page.fill("#code", totp_code(user.secret, steps_ahead=1))
    await page.click("#code-form button[type=submit]")
    await tab.step("security", "security")
    await expect(page.locator("#devices-area")).to_be_hidden()
    # The service refused the document it does not know; nothing else went wrong.
    tab.assert_never_leaked()
