"""R19: the customer's audit log in the browser, for its admins: newest first, a page at a time ("Load
more"), narrowed to a kind of event and to part of an address as it was recorded; in English on a desktop
and in Finnish on a phone. Screenshots go to var/screenshots/<test>/.
"""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import expect

from ..flows import PASSWORD
from ..graphql import GraphQLClient
from .pages import DESKTOP, LOOP, PHONE, Site
from .steps import open_tab, sign_in

pytestmark = [pytest.mark.slow, LOOP]


async def busy_member(site: Site, email: str, logins: int, failures: int) -> None:
    """A member's sign-ins (and wrong passwords) through the API, to fill the log."""
    async with httpx.AsyncClient(base_url=site.url, timeout=30) as http:
        client = GraphQLClient(http)
        for _ in range(logins):
            await client.login_token(email, PASSWORD)
        for _ in range(failures):
            assert (await client.login(email, "not the password"))["__typename"] == "InvalidCredentials"
        await client.login_token(email, PASSWORD)


async def test_r19_the_audit_log_newest_first_filtered_and_paged(site, browser, shots):
    customer = site.customer("Kirjuri Oy")
    admin, member = "aila@kirjuri.example", "ben@kirjuri.example"
    site.user(customer, admin, PASSWORD, "customer")
    site.user(customer, member, PASSWORD)
    await busy_member(site, member, logins=24, failures=2)
    tab = await open_tab(browser, shots, DESKTOP)
    page = tab.page

    await sign_in(tab, site, admin)
    await tab.wait_for_path("/account")
    await page.click("#customers a")
    await tab.wait_for_path(f"/customers/{customer}/settings")
    await page.locator("#settings").wait_for()
    await page.click("a[data-customer-page=audit]")
    await tab.wait_for_path(f"/customers/{customer}/audit")
    await tab.step("audit", "audit-log")
    await expect(page.locator("#audit-heading")).to_have_text("Audit log of Kirjuri Oy")

    # Newest first: the admin's own sign-in, a moment ago, heads the list.
    first = page.locator("#events li").first
    await expect(first).to_contain_text("Signed in")
    await expect(first).to_contain_text(f"Account: {admin}")
    await expect(page.locator("#audit-count")).to_contain_text("The 25 newest events")
    times = await page.locator("#events time").evaluate_all("nodes => nodes.map(n => n.getAttribute('datetime'))")
    assert len(times) == 25 and times == sorted(times, reverse=True)

    # "Load more" brings the older ones under them, and goes once there are no more.
    await page.click("#load-more")
    await expect(page.locator("#load-more")).to_be_hidden()
    await expect(page.locator("#events li").last).to_contain_text("Customer created")
    everything = await page.locator("#events time").evaluate_all("nodes => nodes.map(n => n.getAttribute('datetime'))")
    assert len(everything) > 25 and everything == sorted(everything, reverse=True)
    await expect(page.locator("#audit-count")).to_contain_text(f"{len(everything)} events.")
    await tab.shot("audit-log-all")

    # One kind.
    await page.select_option("#filter-kind", "login_failed")
    await page.click("#audit-filter button[type=submit]")
    await expect(page.locator("#events li")).to_have_count(2)
    await expect(page.locator("#events")).to_contain_text(f"Account: {member}")
    await expect(page.locator("#audit-count")).to_have_text("2 events.")
    await tab.shot("audit-log-kind")

    # Part of an address, whatever the case; with "All kinds" again.
    await page.select_option("#filter-kind", "")
    await page.fill("#filter-email", "AILA@")
    await page.click("#audit-filter button[type=submit]")
    await expect(page.locator("#events li").filter(has_not_text=admin)).to_have_count(0)
    await expect(page.locator("#events li")).not_to_have_count(0)
    await tab.step("audit", "audit-log-address")
    await page.fill("#filter-email", "nobody@")
    await page.click("#audit-filter button[type=submit]")
    await expect(page.locator("#audit-count")).to_have_text("No events match these filters.")
    await page.click("#filter-clear")
    await expect(page.locator("#audit-count")).to_contain_text("The 25 newest events")
    tab.assert_never_leaked(PASSWORD)


async def test_r19_the_audit_log_in_finnish_on_a_phone_and_not_for_members(site, browser, shots):
    customer = site.customer("Puhelin Oy")
    admin, member = "pia@puhelin.example", "olli@puhelin.example"
    site.user(customer, admin, PASSWORD, "customer")
    site.user(customer, member, PASSWORD)
    await busy_member(site, member, logins=1, failures=1)
    tab = await open_tab(browser, shots, PHONE, locale="fi-FI")
    page = tab.page

    await sign_in(tab, site, admin)
    await tab.wait_for_path("/account")
    await page.goto(f"{site.url}/customers/{customer}/audit")
    await tab.step("audit", "audit-log-fi")
    await expect(page.locator("#audit-heading")).to_have_text("Tapahtumaloki: Puhelin Oy")
    await expect(page.locator("#events li").first).to_contain_text("Kirjautui")
    await page.select_option("#filter-kind", "login_failed")
    await page.click("#audit-filter button[type=submit]")
    await expect(page.locator("#events li")).to_have_count(1)
    await expect(page.locator("#events li")).to_contain_text("Kirjautuminen epäonnistui")
    await tab.step("audit", "audit-log-fi-filtered")
    tab.assert_never_leaked(PASSWORD)

    # A company-level member is told the page is not theirs.
    others = await open_tab(browser, shots, PHONE)
    await sign_in(others, site, member)
    await others.wait_for_path("/account")
    await others.page.goto(f"{site.url}/customers/{customer}/audit")
    await expect(others.page.locator("#page-message")).to_contain_text("Only the customer's administrators")
    await expect(others.page.locator("#audit")).to_be_hidden()
    await others.shot("audit-not-admin")
    others.assert_never_leaked()
