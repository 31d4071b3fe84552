"""Passkeys in the browser (issue 16): the webauthn package's method run by the web client's ceremonies
(static/js/webauthn.js) in chromium, with the DevTools protocol's virtual authenticator standing in for the
device (a platform authenticator: user verification and a resident key, presence answered at once).

Enrolled during conversion and from the account page (after the step-up dialog), used to sign in and to
step up; refused: a cloned authenticator (its signature count went back: the core's replay guard on the
counter the plugin keeps in the factor's state), and a page on another origin (a phishing proxy in front of
the real service: the browser signs for the proxy's origin, which the server does not accept).

These run on `passkey_site` (conftest.py), at http://localhost:PORT: WebAuthn needs a secure context and an
RP ID that is a domain.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
from playwright.async_api import CDPSession, Page, expect

from ..flows import PASSWORD
from ..local_services import free_port
from .conftest import serving
from .pages import DESKTOP, LOOP, PHONE, Site, Visit
from .steps import account_shows, finish_with_recovery_codes, open_invitation, open_tab, request_invitation, sign_in
from .steps import sign_out as sign_out_of_account
from .test_account_changes import signed_in_with_recovery_code, step_up_is_due, step_up_with_the_app, two_factor_user

pytestmark = [pytest.mark.slow, LOOP]

# A platform authenticator as a laptop's: it verifies the user (fingerprint) and keeps passkeys (resident keys).
AUTHENTICATOR = {
    "protocol": "ctap2",
    "transport": "internal",
    "hasResidentKey": True,
    "hasUserVerification": True,
    "isUserVerified": True,
    "automaticPresenceSimulation": True,
}
SESSION_COOKIE = "gql_session"


class Authenticator:
    """A virtual authenticator attached to a tab through the DevTools protocol."""

    def __init__(self, cdp: CDPSession, authenticator_id: str) -> None:
        self.cdp = cdp
        self.id = authenticator_id

    @classmethod
    async def attach(cls, page: Page) -> Authenticator:
        """A new, empty authenticator for `page`."""
        cdp = await page.context.new_cdp_session(page)
        await cdp.send("WebAuthn.enable", {"enableUI": False})
        added = await cdp.send("WebAuthn.addVirtualAuthenticator", {"options": AUTHENTICATOR})
        return cls(cdp, added["authenticatorId"])

    async def credentials(self) -> list[dict[str, Any]]:
        """The credentials it holds (id, rpId, userHandle, privateKey, signCount, ...)."""
        answer = await self.cdp.send("WebAuthn.getCredentials", {"authenticatorId": self.id})
        credentials: list[dict[str, Any]] = answer["credentials"]
        return credentials

    async def replaced(self) -> Authenticator:
        """Remove this authenticator and attach a fresh, empty one in its place."""
        await self.cdp.send("WebAuthn.removeVirtualAuthenticator", {"authenticatorId": self.id})
        added = await self.cdp.send("WebAuthn.addVirtualAuthenticator", {"options": AUTHENTICATOR})
        return Authenticator(self.cdp, added["authenticatorId"])

    async def remove(self, credential: dict[str, Any]) -> None:
        """Delete a credential from this authenticator (the user deleted the passkey on the device)."""
        await self.cdp.send(
            "WebAuthn.removeCredential", {"authenticatorId": self.id, "credentialId": credential["credentialId"]}
        )

    async def add(self, credential: dict[str, Any]) -> None:
        """Put a credential (as `credentials()` gave it, perhaps changed) into this authenticator."""
        await self.cdp.send("WebAuthn.addCredential", {"authenticatorId": self.id, "credential": credential})


async def convert_with_a_passkey(tab: Visit, site: Site, mailbox: Any, email: str) -> str:
    """A password member under enforcement converts in the browser with a passkey; the invitation's token."""
    page = tab.page
    link = await request_invitation(tab, site, mailbox, email)
    await open_invitation(tab, site, link)
    # Phishing-resistant: offered first, with words of its own.
    assert await page.is_checked("#method-webauthn")
    await expect(page.locator("label[for=method-webauthn]")).to_have_text("Passkey or security key")
    await expect(page.locator("#method-webauthn-hint")).to_contain_text("fingerprint")
    await page.click("#choose-form button[type=submit]")
    await tab.step("step-enroll", "create-passkey")
    await expect(page.locator("#enroll-heading")).to_have_text("Create a passkey")
    await expect(page.locator("#code")).to_be_hidden()
    await expect(page.locator("#sent-area")).to_be_hidden()
    await expect(page.locator("#ceremony-hint")).to_contain_text("security key")
    await expect(page.locator("#confirm-submit")).to_have_text("Create a passkey")
    assert await page.evaluate("document.activeElement.id") == "confirm-submit"
    await page.click("#confirm-submit")
    await finish_with_recovery_codes(tab, "recovery-codes")
    await account_shows(tab, "Two-factor: password and a code", "Passkey or security key")
    return link.split("#token=")[1]


async def sign_in_with_the_passkey(tab: Visit, site: Site, email: str, name: str) -> None:
    """Password, then the passkey step: no code field, one button."""
    page = tab.page
    await sign_in(tab, site, email)
    await tab.step("step-second-factor", name)
    if await page.locator("#method-choice").is_visible():
        await page.check("#method-webauthn")
    else:
        # The only method: its button has the focus (Enter runs the ceremony).
        assert await page.evaluate("document.activeElement.id") == "code-submit"
    await expect(page.locator("#code")).to_be_hidden()
    # The package's own hint (its MethodUI strings), not one of the web client's.
    await expect(page.locator("#code-hint")).to_have_text(
        "Your browser asks for your passkey, security key or screen lock."
    )
    await expect(page.locator("#code-submit")).to_have_text("Use your passkey")
    await page.click("#code-submit")


def audit_kinds(site: Site, email: str) -> list[str]:
    """The kinds of the audit events about the account `email`, oldest first."""
    with sqlite3.connect(site.workdir / "web.sqlite3") as db:
        rows = db.execute("SELECT kind FROM audit_event WHERE subject_email = ? ORDER BY id", (email,)).fetchall()
    return [kind for (kind,) in rows]


async def has_session(page: Page) -> bool:
    """Whether the browser holds a session cookie."""
    return any(cookie["name"] == SESSION_COOKIE for cookie in await page.context.cookies())


async def sign_out(tab: Visit) -> None:
    """Sign out from the account page; the session cookie is gone."""
    await sign_out_of_account(tab)
    assert not await has_session(tab.page)


async def test_a_passkey_is_created_during_conversion_and_signs_in(
    passkey_site, browser, shots, mailbox, passkey_customer
):
    site, email = passkey_site, "paula@example.com"
    site.user(passkey_customer, email, PASSWORD)
    tab = await open_tab(browser, shots, PHONE)
    key = await Authenticator.attach(tab.page)

    token = await convert_with_a_passkey(tab, site, mailbox, email)
    [credential] = await key.credentials()
    assert credential["rpId"] == "localhost"
    assert credential["isResidentCredential"] is True
    registered_count = credential["signCount"]

    await sign_out(tab)
    await sign_in_with_the_passkey(tab, site, email, "use-passkey")
    await tab.wait_for_path("/account")
    await account_shows(tab, "Two-factor: password and a code", "Passkey or security key")
    [used] = await key.credentials()
    assert used["signCount"] > registered_count
    tab.assert_never_leaked(token)


async def test_a_passkey_is_added_on_the_account_page_signs_in_and_steps_up(
    passkey_site, browser, shots, mailbox, passkey_customer
):
    site, email = passkey_site, "pekka@example.com"
    user = await two_factor_user(site, mailbox, passkey_customer, email)
    tab = await open_tab(browser, shots, DESKTOP)
    page = tab.page
    key = await Authenticator.attach(page)
    await signed_in_with_recovery_code(tab, site, email, user)

    # R15 behind R14: adding a factor asks for the app's code first, then the passkey is made and named.
    step_up_is_due(site, email)
    await page.click("#add-factor")
    await tab.step("add-factor-panel", "add-choose")
    assert await page.is_checked("#add-method-webauthn")  # phishing-resistant, offered first
    await page.click("#add-choose-form button[type=submit]")
    await step_up_with_the_app(tab, user, "step-up-app")
    await tab.step("add-enroll", "add-passkey")
    await expect(page.locator("#add-code")).to_be_hidden()
    await expect(page.locator("#add-ceremony-hint")).to_contain_text("security key")
    await page.fill("#add-label", "Laptop")
    await page.click("#add-confirm-submit")
    await expect(page.locator("#factors-message")).to_contain_text("The new factor is added")
    await expect(page.locator("#factors")).to_contain_text("Laptop")
    assert len(await key.credentials()) == 1

    await sign_out(tab)
    await sign_in_with_the_passkey(tab, site, email, "choose-passkey")
    await tab.wait_for_path("/account")

    # R14 with the passkey: renaming the app asks for a second factor again, and the passkey answers.
    step_up_is_due(site, email)
    app = page.locator("#factors > li", has_text="Authenticator app")
    await app.get_by_role("button", name="Rename").click()
    await page.fill("#factors form.rename input", "Phone app")
    await page.click("#factors form.rename button[type=submit]")
    await page.locator("#step-up").wait_for(state="visible")
    await page.check("#step-up-method-webauthn")
    await expect(page.locator("#step-up-code")).to_be_hidden()
    await expect(page.locator("#step-up-submit")).to_have_text("Use your passkey")
    await tab.shot("step-up-passkey")
    await page.click("#step-up-submit")
    await expect(page.locator("#step-up")).to_be_hidden()
    await expect(page.locator("#factors-message")).to_contain_text("Phone app")
    tab.assert_never_leaked(user.secret)


async def test_a_cloned_authenticator_is_refused(passkey_site, browser, shots, mailbox, passkey_customer):
    site, email = passkey_site, "kloonattu@example.com"
    site.user(passkey_customer, email, PASSWORD)
    tab = await open_tab(browser, shots, DESKTOP)
    page = tab.page
    key = await Authenticator.attach(page)
    await convert_with_a_passkey(tab, site, mailbox, email)
    [before] = await key.credentials()
    await sign_out(tab)
    await sign_in_with_the_passkey(tab, site, email, "use-passkey")
    await tab.wait_for_path("/account")
    await sign_out(tab)
    [after] = await key.credentials()
    assert after["signCount"] > before["signCount"]

    # A copy of the key taken before that login: same credential, its count behind the real key's.
    clone = await key.replaced()
    await clone.add({**after, "signCount": before["signCount"]})
    await sign_in_with_the_passkey(tab, site, email, "clone")
    await expect(page.locator("#code-message.error")).to_have_text("The passkey was not accepted. Attempts left: 4.")
    await tab.shot("clone-refused")
    # The signature verified; its count did not grow: the core's replay guard refused it, and audited it.
    assert audit_kinds(site, email)[-2:] == ["replay_refused", "second_factor_failed"]
    assert page.url == f"{site.url}/login"
    assert not await has_session(page)

    # A device without the passkey: the browser refuses, and the page says so (no exception, nothing sent).
    audited = audit_kinds(site, email)
    await clone.remove(after)
    await page.click("#code-submit")
    await expect(page.locator("#code-message.error")).to_contain_text("The passkey was not used")
    await tab.shot("no-passkey-here")
    assert audit_kinds(site, email) == audited
    assert not await has_session(page)
    assert tab.errors == [], tab.errors


async def test_a_passkey_answer_for_another_origin_is_refused(passkey_site, browser, shots, mailbox, passkey_customer):
    site, email = passkey_site, "huijattu@example.com"
    site.user(passkey_customer, email, PASSWORD)
    tab = await open_tab(browser, shots, DESKTOP)
    page = tab.page
    await Authenticator.attach(page)
    await convert_with_a_passkey(tab, site, mailbox, email)
    await sign_out(tab)

    # A phishing proxy on another origin, in front of the same service (its database, secret key, public URL
    # and relying party): what it relays is real, but the browser binds the passkey's answer to the page's
    # origin, and the service accepts only its own.
    workdir = site.workdir / "proxy"
    workdir.mkdir()
    port = free_port()
    proxy_url = f"http://localhost:{port}"
    proxy = serving(site.env, workdir, port, proxy_url)
    phishing = next(proxy)
    try:
        await sign_in_with_the_passkey(tab, phishing, email, "other-origin")
        await expect(page.locator("#code-message.error")).to_have_text(
            "The passkey was not accepted. Attempts left: 4."
        )
        await tab.shot("other-origin-refused")
        # Not a replay: the plugin refused the answer for its origin.
        assert audit_kinds(site, email)[-1] == "second_factor_failed"
        assert "replay_refused" not in audit_kinds(site, email)
        assert f'Unexpected client data origin "{proxy_url}"' in phishing.server_log()
        assert page.url == f"{proxy_url}/login"
        assert not await has_session(page)
    finally:
        proxy.close()

    # On the service's own origin the same passkey signs in.
    await sign_in_with_the_passkey(tab, site, email, "own-origin")
    await tab.wait_for_path("/account")
    assert tab.errors == [], tab.errors
