"""R19: a customer admin's members page in the browser: the list (level, sign-in method, two-factor state,
the masked address of a pending invitation, last sign-in, added), its filters and pages; the actions (invite
a new address and an existing account, change a level, the last administrator kept, remove with a
confirmation); in English on a desktop and in Finnish on a phone. Screenshots go to var/screenshots/<test>/.
"""

from __future__ import annotations

import sqlite3
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.async_api import expect

from ..flows import PASSWORD
from ..graphql import GraphQLClient
from ..mailbox import body, link_token_in
from .pages import DESKTOP, LOOP, PHONE, Site, Visit
from .steps import convert_by_choice, open_tab, sign_in

pytestmark = [pytest.mark.slow, LOOP]


def many_members(site: Site, customer: str, like: str, count: int) -> list[str]:
    """`count` more company-level password members, copies of `like` (the CLI takes seconds a user: these
    are rows written straight into the site's database, added after everyone else)."""
    emails = [f"member{n:02d}@many.example" for n in range(count)]
    with sqlite3.connect(site.workdir / "web.sqlite3") as db:
        db.row_factory = sqlite3.Row
        user = dict(db.execute('SELECT * FROM "user" WHERE email = ?', (like,)).fetchone())
        membership = dict(db.execute("SELECT * FROM membership WHERE user_id = ?", (user["id"],)).fetchone())
        start = datetime.now(UTC) + timedelta(seconds=1)
        for n, email in enumerate(emails):
            user_id = str(uuid.uuid4())
            _insert(db, "user", {**user, "id": user_id, "email": email, "last_login_at": None})
            # The text form Tortoise writes to SQLite ("2026-01-01 10:00:00.000001+00:00"): keyset pages
            # compare these as text.
            added = (start + timedelta(milliseconds=n)).isoformat(sep=" ", timespec="microseconds")
            _insert(db, "membership", {**membership, "id": str(uuid.uuid4()), "user_id": user_id, "created_at": added})
    return emails


def _insert(db: sqlite3.Connection, table: str, row: dict[str, object]) -> None:
    # The names come from the table's own row; every value is bound.
    columns = ", ".join(f'"{name}"' for name in row)
    marks = ", ".join("?" for _ in row)
    db.execute(f'INSERT INTO "{table}" ({columns}) VALUES ({marks})', list(row.values()))  # noqa: S608


async def open_members(tab: Visit, site: Site, customer: str, admin: str, name: str) -> None:
    """Sign in as the admin and go to the members page from the settings page."""
    page = tab.page
    await sign_in(tab, site, admin)
    await tab.wait_for_path("/account")
    await page.goto(f"{site.url}/customers/{customer}/settings")
    await page.locator("#settings").wait_for()
    await page.click("a[data-customer-page=members]")
    await tab.wait_for_path(f"/customers/{customer}/members")
    await tab.step("members", name)


def member(tab: Visit, email: str):  # type: ignore[no-untyped-def]
    """The list item of the member with this address."""
    return tab.page.locator("#member-list li").filter(has=tab.page.get_by_text(email, exact=True))


async def test_r19_the_members_list_filtered_and_paged(site, browser, shots, mailbox):
    customer = site.customer("Luettelo Oy")
    admin, deputy = "alma@luettelo.example", "dan@luettelo.example"
    pending, converted, plain = "pia@luettelo.example", "tom@luettelo.example", "paul@luettelo.example"
    site.user(customer, admin, PASSWORD, "customer")
    site.user(customer, deputy, PASSWORD, "customer")
    for email in (pending, converted, plain):
        site.user(customer, email, PASSWORD)
    await convert_by_choice(site, mailbox, pending, finish=False)
    await convert_by_choice(site, mailbox, converted, finish=True)
    more = many_members(site, customer, plain, 22)
    tab = await open_tab(browser, shots, DESKTOP)
    page = tab.page

    await open_members(tab, site, customer, admin, "members")

    await expect(page.locator("#members-heading")).to_have_text("Members of Luettelo Oy")
    await expect(page.locator("#member-count")).to_have_text("27 members; 25 shown.")
    you = member(tab, admin)
    await expect(you).to_contain_text("you")
    await expect(you).to_contain_text(
        "Administrator (customer level) · Email and password · two-factor login: Not started"
    )
    await expect(you).to_contain_text("Last signed in")
    await expect(member(tab, plain)).to_contain_text("Never signed in")
    await expect(member(tab, pending)).to_contain_text("Started, not finished")
    # R4, R19: where the pending invitation went, masked.
    await expect(member(tab, pending)).to_contain_text("Invitation sent to p")
    assert pending not in await member(tab, pending).locator(".detail").all_inner_texts()
    await expect(member(tab, pending).locator("button", has_text="Re-send invitation")).to_be_visible()
    await expect(member(tab, converted)).to_contain_text("Two-factor: password and a code · two-factor login: In use")
    await expect(member(tab, converted).locator("button", has_text="Send password reset link")).to_have_count(0)
    await expect(member(tab, plain).locator("button", has_text="Send password reset link")).to_be_visible()

    # The next page: the members added last.
    await page.click("#load-more")
    await expect(page.locator("#member-count")).to_have_text("27 members; 27 shown.")
    await expect(page.locator("#load-more")).to_be_hidden()
    await expect(page.locator("#member-list li").last).to_contain_text(more[-1])

    # Filters: the two-factor state, the method, the level, part of the address.
    await page.select_option("#filter-conversion", "PENDING")
    await page.click("#member-filter button[type=submit]")
    await expect(page.locator("#member-list li")).to_have_count(1)
    await expect(page.locator("#member-list")).to_contain_text(pending)
    await tab.step("members", "members-pending")
    await page.select_option("#filter-conversion", "")
    await page.select_option("#filter-method", "TWO_FACTOR")
    await page.click("#member-filter button[type=submit]")
    await expect(page.locator("#member-list li")).to_have_count(1)
    await expect(page.locator("#member-list")).to_contain_text(converted)
    await page.select_option("#filter-method", "")
    await page.select_option("#filter-level", "CUSTOMER")
    await page.click("#member-filter button[type=submit]")
    await expect(page.locator("#member-list li")).to_have_count(2)
    await expect(page.locator("#member-count")).to_have_text("2 members; 2 shown.")
    await page.select_option("#filter-level", "")
    await page.fill("#filter-email", "MEMBER1")
    await page.click("#member-filter button[type=submit]")
    await expect(page.locator("#member-list li")).to_have_count(10)
    await page.fill("#filter-email", "nobody")
    await page.click("#member-filter button[type=submit]")
    await expect(page.locator("#member-count")).to_have_text("No member matches these filters.")
    await page.click("#filter-clear")
    await expect(page.locator("#member-count")).to_have_text("27 members; 25 shown.")
    tab.assert_never_leaked(PASSWORD)


async def test_r19_the_members_list_in_finnish_on_a_phone(site, browser, shots, mailbox):
    customer = site.customer("Puhelinluettelo Oy")
    admin, pending = "aino@puhelinluettelo.example", "pekka@puhelinluettelo.example"
    site.user(customer, admin, PASSWORD, "customer")
    site.user(customer, pending, PASSWORD)
    await convert_by_choice(site, mailbox, pending, finish=False)
    tab = await open_tab(browser, shots, PHONE, locale="fi-FI")

    await open_members(tab, site, customer, admin, "members-fi")

    await expect(tab.page.locator("#members-heading")).to_have_text("Käyttäjät: Puhelinluettelo Oy")
    await expect(member(tab, pending)).to_contain_text("Aloitettu, ei valmis")
    await tab.page.click("#invite summary")
    await tab.step("invite-form", "members-fi-invite")
    assert await tab.page.input_value("#invite-locale") == "fi"
    tab.assert_never_leaked(PASSWORD)


async def invite(tab: Visit, email: str, level: str = "COMPANY") -> None:
    """Fill "Invite someone" and send it; wait for the answer."""
    page = tab.page
    if await page.locator("#invite-form").is_hidden():
        await page.click("#invite summary")
    await page.fill("#invite-email", email)
    await page.select_option("#invite-level", level)
    await page.click("#invite-form button[type=submit]")
    await page.locator("#invite-message.success, #invite-message.error").wait_for()


async def change_level(tab: Visit, email: str, level: str) -> None:
    """ "Change level" of a member, in its dialog."""
    await member(tab, email).locator("button", has_text="Change level").click()
    await tab.page.locator("#level-dialog").wait_for()
    await tab.page.select_option("#new-level", level)
    await tab.page.click("#level-ok")


async def test_r19_admin_invites_changes_levels_and_keeps_an_administrator(site, browser, shots, mailbox):
    customer = site.customer("Toimisto Oy")
    admin, worker = "ada@toimisto.example", "bo@toimisto.example"
    site.user(customer, admin, PASSWORD, "customer")
    site.user(customer, worker, PASSWORD)
    elsewhere = site.customer("Muu Oy")
    existing = "eve@muu.example"
    site.user(elsewhere, existing, PASSWORD)
    tab = await open_tab(browser, shots, DESKTOP)
    page = tab.page
    await open_members(tab, site, customer, admin, "members")

    # A new address: an account of its own, two-factor by default, its invitation in the chosen language.
    await page.click("#invite summary")
    assert await page.is_checked("#invite-two-factor")
    await page.select_option("#invite-locale", "fi")
    await page.fill("#invite-email", "new@toimisto.example")
    await tab.step("invite-form", "invite-form")
    await page.click("#invite-form button[type=submit]")
    await expect(page.locator("#invite-message")).to_contain_text("The invitation is on its way to n")
    assert "Hei" in body(await mailbox.next_to("new@toimisto.example", "invitation"))
    await expect(member(tab, "new@toimisto.example")).to_be_visible()

    # An existing account: the same answer; listed as invited, no member until it accepts.
    await page.select_option("#invite-locale", "en")
    await invite(tab, existing)
    await expect(page.locator("#invite-message")).to_contain_text("The invitation is on its way to e")
    await mailbox.next_to(existing, "join_customer")
    await expect(member(tab, existing)).to_contain_text("Invited, not accepted yet")
    await tab.step("members", "members-invited")

    # The new account's invitation again (the earlier link stops working), and a reset link for a password
    # member, after a confirmation that says where it goes.
    await member(tab, "new@toimisto.example").locator("button", has_text="Re-send invitation").click()
    await expect(page.locator("#action-message")).to_contain_text("The invitation was sent again to n")
    await mailbox.next_to("new@toimisto.example", "invitation")
    await member(tab, worker).locator("button", has_text="Send password reset link").click()
    await tab.step("confirm", "members-reset-confirm")
    await expect(page.locator("#confirm-text")).to_contain_text("member's own address")
    await page.click("#confirm-ok")
    await expect(page.locator("#action-message")).to_contain_text("A password reset link was sent to b")
    await mailbox.next_to(worker, "password_reset_by_admin")

    # A level changed in its dialog, which names the last-administrator rule.
    await member(tab, worker).locator("button", has_text="Change level").click()
    await tab.step("level-dialog", "members-level-dialog")
    await expect(page.locator("#level-hint")).to_contain_text("always keeps at least one administrator")
    await page.select_option("#new-level", "CUSTOMER")
    await page.click("#level-ok")
    await expect(page.locator("#action-message")).to_have_text(f"{worker} is now: Administrator (customer level).")
    await expect(member(tab, worker)).to_contain_text("Administrator (customer level)")
    await change_level(tab, worker, "COMPANY")
    await expect(page.locator("#action-message")).to_have_text(f"{worker} is now: User (company level).")

    # The last administrator can be neither demoted nor removed (LastAdministrator).
    await change_level(tab, admin, "COMPANY")
    await expect(page.locator("#action-message")).to_contain_text("this is the customer's last administrator")
    await tab.shot("members-last-administrator")
    await member(tab, admin).locator("button", has_text="Remove").click()
    await page.click("#confirm-ok")
    await expect(page.locator("#action-message")).to_contain_text("this is the customer's last administrator")
    await expect(member(tab, admin)).to_contain_text("Administrator (customer level)")

    # Removing asks first, naming the consequence; the safe choice has the focus; Escape cancels.
    await member(tab, worker).locator("button", has_text="Remove").click()
    await tab.step("confirm", "members-remove-confirm")
    await expect(page.locator("#confirm-heading")).to_have_text(f"Remove {worker}?")
    await expect(page.locator("#confirm-text")).to_contain_text("will no longer be a member of Toimisto Oy")
    assert await page.evaluate("document.activeElement.id") == "confirm-cancel"
    await page.keyboard.press("Escape")
    await expect(page.locator("#action-message")).to_have_text("Nothing was changed.")
    await member(tab, worker).locator("button", has_text="Remove").click()
    await page.click("#confirm-ok")
    await expect(page.locator("#action-message")).to_have_text(f"{worker} was removed.")
    await expect(member(tab, worker)).to_have_count(0)
    async with httpx.AsyncClient(base_url=site.url, timeout=30) as http:
        # The account stays; it is simply no member of Toimisto Oy any more.
        removed = await GraphQLClient(http).login_token(worker, PASSWORD)
        assert removed
    tab.assert_never_leaked(PASSWORD)


async def test_r19_an_invited_account_joins_by_accepting_signed_in(site, browser, shots, mailbox):
    customer = site.customer("Kutsuja Oy")
    admin, existing = "kari@kutsuja.example", "sini@toinen.example"
    site.user(customer, admin, PASSWORD, "customer")
    other = site.customer("Toinen Oy")
    site.cli(
        "user",
        "create",
        "--customer",
        other,
        "--email",
        existing,
        "--password",
        PASSWORD,
        "--level",
        "company",
        "--locale",
        "fi",
    )
    tab = await open_tab(browser, shots, PHONE, locale="fi-FI")
    await open_members(tab, site, customer, admin, "members-fi")
    await invite(tab, existing)
    await expect(tab.page.locator("#invite-message")).to_contain_text("Kutsu on matkalla")
    await expect(member(tab, existing)).to_contain_text("Kutsuttu, ei vielä hyväksynyt")
    link = (
        f"{site.url}/invitation#token={link_token_in(await mailbox.next_to(existing, 'join_customer'), 'invitation')}"
    )

    # The invited person, in another browser: what joining means, sign in, back to the invitation, accept.
    guest = await open_tab(browser, shots, PHONE, locale="fi-FI")
    await guest.page.goto(link)
    await guest.step("step-accept", "join-sign-in-first")
    await expect(guest.page.locator("#accept-heading")).to_have_text("Liity asiakkaaseen Kutsuja Oy")
    await expect(guest.page.locator("#accept-sign-in-why")).to_contain_text(existing)
    await guest.page.click("#accept-sign-in-button")
    await guest.wait_for_path("/login")
    # The page's script fills the address after the navigation: wait for it (under load it comes later).
    await expect(guest.page.locator("#email")).to_have_value(existing)
    await guest.page.fill("#password", PASSWORD)
    await guest.page.keyboard.press("Enter")
    await guest.wait_for_path("/invitation")
    await guest.step("step-accept", "join-accept")
    await expect(guest.page.locator("#accept-as")).to_contain_text(existing)
    await guest.page.click("#accept-submit")
    await guest.step("step-accepted", "join-accepted")
    await expect(guest.page.locator("#accepted-customers")).to_contain_text("Kutsuja Oy")
    await expect(guest.page.locator("#accepted-customers")).to_contain_text("Toinen Oy")

    await tab.page.reload()
    await expect(member(tab, existing)).not_to_contain_text("Kutsuttu, ei vielä hyväksynyt")
    await expect(member(tab, existing)).to_contain_text("hyväksyi")
    await tab.shot("members-fi-accepted")
    tab.assert_never_leaked(PASSWORD)
    guest.assert_never_leaked(PASSWORD, link.split("token=")[1])
