"""Follow the README's "The web client" walkthrough in chromium, as a newcomer after `make serve` does.

Not part of `make test` (the browser tests cover the same flows on their own server); run it by hand
against a fresh `gql-server serve --demo` whose output goes to a file, to check the README still holds
and to retake the screenshots it links:

    mkdir /tmp/walk && cd /tmp/walk && /path/to/.venv/bin/gql-server serve --demo > serve.log 2>&1 &
    .venv/bin/python -m tests.web.readme_walkthrough http://127.0.0.1:8000 /tmp/walk/serve.log docs/screenshots

Links and codes are read from the server's output, where the development mail transport prints every
email, exactly where the README sends the reader. For the step-up dialog's screenshot the walkthrough
does not wait ten minutes: it forgets when the user's sessions last verified a second factor in the
demo database (var/gql_server.sqlite3 beside the server's log, where `serve --demo` above writes it).
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import sys
import time
from pathlib import Path

import pyotp
from playwright.async_api import Page, async_playwright, expect

from .pages import CHROMIUM, PHONE

ADMIN = ("admin@demo.example", "demo-admin-pass")
USER = ("user@demo.example", "demo-user-pass")
WIDE = {"width": 1024, "height": 760}


class Terminal:
    """The server's output, as the newcomer reads it in the terminal of `make serve`."""

    def __init__(self, log: Path) -> None:
        self.log = log

    def _emails(self, to: str, template: str) -> list[str]:
        text = self.log.read_text(encoding="utf-8", errors="replace")
        # An email runs from its log line to the next log line (INFO:..., WARNING:..., or a timestamp).
        pattern = rf"email to {re.escape(to)} \(template {template}\):.*?(?=\n(?:[A-Z]+[: ]|\d{{4}}-)|\Z)"
        return re.findall(pattern, text, flags=re.S)

    async def latest(self, to: str, template: str, seen: int = 0) -> str:
        """The newest email of `template` to `to`, once there are more than `seen` of them."""
        for _ in range(100):
            emails = self._emails(to, template)
            if len(emails) > seen:
                return emails[-1]
            await asyncio.sleep(0.1)
        raise AssertionError(f"no {template} email to {to} in {self.log}")

    def count(self, to: str, template: str) -> int:
        """How many emails of `template` went to `to` so far."""
        return len(self._emails(to, template))


def link_in(email: str, page: str = "invitation") -> str:
    """The link to `page`, alone on its line."""
    found = re.search(rf"^(https?://\S+/{page}#token=\S+)$", email, flags=re.M)
    assert found, email
    return found.group(1)


def code_in(email: str) -> str:
    """The six-digit code, alone on its line."""
    found = re.search(r"^(\d{6})$", email, flags=re.M)
    assert found, email
    return found.group(1)


async def sign_in(page: Page, base: str, who: tuple[str, str]) -> None:
    """Step 1 of every login: /login, email, password."""
    await page.goto(f"{base}/login")
    await page.fill("#email", who[0])
    await page.fill("#password", who[1])
    await page.click("#password-form button[type=submit]")


async def sign_out(page: Page) -> None:
    """The account page's Sign out, and the sign-in page it leads to."""
    await page.click("#logout")
    await page.wait_for_url("**/login")


def step_up_is_due(database: Path, email: str) -> None:
    """What ten minutes of waiting does (R14): the user's sessions no longer count as recently verified."""
    with sqlite3.connect(database) as db:
        db.execute(
            'UPDATE session SET verified_at = NULL WHERE user_id = (SELECT id FROM "user" WHERE email = ?)', (email,)
        )


async def walk(base: str, terminal: Terminal, shots: Path) -> None:
    """The README walkthrough, step by step, in one browser (phone-sized but for the settings page)."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = await (await browser.new_context(viewport=PHONE, locale="en-GB")).new_page()
        continue_button = page.get_by_role("button", name="Continue", exact=True)

        # 1. The admin signs in.
        await page.goto(f"{base}/login")
        await expect(page.locator("#password-heading")).to_have_text("Sign in")
        await page.screenshot(path=shots / "login.png")
        await sign_in(page, base, ADMIN)

        # 2. The customer's settings: who would have to convert; switch on, confirm.
        await page.set_viewport_size(WIDE)
        await page.click("text=Settings of Demo Oy")
        await expect(page.locator("#impact-summary")).to_contain_text("2 users will have to convert")
        await page.screenshot(path=shots / "settings.png", full_page=True)
        await page.check("#enforce")
        await page.fill("#remember-days", "30")
        await page.click("text=Save")
        await expect(page.locator("#confirm")).to_be_visible()
        await page.screenshot(path=shots / "settings-confirm.png")
        await page.click("#confirm-ok")

        # 3-6. Enforcement applies to the admin too: convert with an authenticator app.
        await page.set_viewport_size(PHONE)
        await expect(page.locator("#conversion-why")).to_contain_text("requires two-factor")
        await page.click("text=Send the invitation")
        await expect(page.locator("#conversion-message")).to_contain_text("We sent the invitation")
        await page.goto(link_in(await terminal.latest(ADMIN[0], "invitation")))
        await page.screenshot(path=shots / "choose-method.png", full_page=True)
        await continue_button.click()
        await expect(page.locator("#qr")).to_be_visible()
        await page.screenshot(path=shots / "qr-code.png", full_page=True)
        admin_key = (await page.locator("#secret-text").inner_text()).replace(" ", "")
        await page.fill("#code", pyotp.TOTP(admin_key).now())
        await page.click("text=Turn on two-factor login")
        await expect(page.locator("#recovery-codes li")).to_have_count(10)
        await page.screenshot(path=shots / "recovery-codes.png", full_page=True)
        await page.check("#saved-codes")
        await page.click("text=Continue to your account")
        await expect(page.locator("#account-method")).to_have_text("Two-factor: password and a code")

        # 7. The company user is led to convert, and takes codes by email.
        await sign_out(page)
        await sign_in(page, base, USER)
        await expect(page.locator("#conversion-email")).to_have_value(USER[0])
        await page.screenshot(path=shots / "conversion.png", full_page=True)
        await page.click("text=Send the invitation")
        await expect(page.locator("#check-sent")).to_contain_text("We sent the invitation")
        await page.screenshot(path=shots / "check-email.png", full_page=True)
        await page.goto(link_in(await terminal.latest(USER[0], "invitation")))
        await page.check("#method-email_code")
        await continue_button.click()
        await expect(page.locator("#sent-to")).to_contain_text("u***@demo.example")
        await page.fill("#code", code_in(await terminal.latest(USER[0], "enrollment_code")))
        await page.click("text=Turn on two-factor login")
        await page.check("#saved-codes")
        await page.click("text=Continue to your account")
        await expect(page.locator("#factors")).to_contain_text("Code by email")

        # 8. Every later sign-in asks for a second factor.
        await sign_out(page)
        sent = terminal.count(USER[0], "login_code")
        await sign_in(page, base, USER)
        await page.click("text=Send code")
        await page.fill("#code", code_in(await terminal.latest(USER[0], "login_code", seen=sent)))
        await expect(page.locator("#remember-label")).to_have_text("Remember this browser for 30 days")
        await page.screenshot(path=shots / "second-factor.png", full_page=True)
        await page.click("#code-form button[type=submit]")
        await expect(page.locator("#account-heading")).to_have_text("Your account")

        # 9. The admin signs in with the app's next code and switches enforcement off; the converted
        # user keeps two factors.
        await sign_out(page)
        await sign_in(page, base, ADMIN)
        await page.fill("#code", pyotp.TOTP(admin_key).at(time.time() + 30))
        await page.click("#code-form button[type=submit]")
        await page.click("text=Settings of Demo Oy")
        # The form shows once the settings are loaded; unticking earlier would be undone by the load.
        await expect(page.locator("#enforce")).to_be_checked()
        await page.uncheck("#enforce")
        await page.click("text=Save")
        await page.click("#confirm-ok")
        await expect(page.locator("#settings-message")).to_contain_text("not required")
        await page.goto(f"{base}/account")
        await sign_out(page)
        await sign_in(page, base, USER)
        await expect(page.locator("#second-factor-heading")).to_be_visible()

        # 10. The account page's Security section; new recovery codes after the step-up dialog.
        sent = terminal.count(USER[0], "login_code")
        await page.click("text=Send code")
        await page.fill("#code", code_in(await terminal.latest(USER[0], "login_code", seen=sent)))
        await page.click("#code-form button[type=submit]")
        await expect(page.locator("#codes-left")).to_have_text("10 unused recovery codes left.")
        await page.set_viewport_size(WIDE)
        await page.evaluate("document.getElementById('security-heading').scrollIntoView()")
        await page.screenshot(path=shots / "account-security.png")
        await page.set_viewport_size(PHONE)
        step_up_is_due(terminal.log.parent / "var" / "gql_server.sqlite3", USER[0])
        await page.click("text=Create new codes")
        await page.click("#confirm-ok")
        await expect(page.locator("#step-up")).to_be_visible()
        sent = terminal.count(USER[0], "login_code")
        await page.click("#step-up-send")
        await page.fill("#step-up-code", code_in(await terminal.latest(USER[0], "login_code", seen=sent)))
        await page.screenshot(path=shots / "step-up.png")
        await page.click("#step-up-submit")
        await expect(page.locator("#recovery-codes li")).to_have_count(10)
        await page.check("#saved-codes")
        await page.click("text=Continue to your account")
        await sign_out(page)

        # 11. Forgot your password: the link from the terminal, a new password, signed in.
        await page.click("text=Forgot your password?")
        await page.fill("#forgot-email", ADMIN[0])
        await page.click("text=Send the link")
        await expect(page.locator("#forgot-message")).to_contain_text("we sent a link")
        await page.screenshot(path=shots / "forgot-password.png", full_page=True)
        await page.goto(link_in(await terminal.latest(ADMIN[0], "password_reset"), "reset-password"))
        await page.fill("#reset-password", ADMIN[1])
        await page.fill("#reset-password-again", ADMIN[1])
        await page.click("text=Save the new password")
        await expect(page.locator("#second-factor-heading")).to_be_visible()
        await browser.close()


def main() -> None:
    """`python -m tests.web.readme_walkthrough BASE_URL SERVER_LOG SCREENSHOT_DIR`."""
    base, log, shots = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    shots.mkdir(parents=True, exist_ok=True)
    asyncio.run(walk(base.rstrip("/"), Terminal(log), shots))
    print("the README walkthrough holds; screenshots in", shots)


if __name__ == "__main__":
    main()
