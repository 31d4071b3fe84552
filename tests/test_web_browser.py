"""The web client in a real browser (issue 7): Debian's chromium, driven by Playwright, against a real
`gql-server serve` on SQLite that mails through the test SMTP server.

Each test walks a flow as a person does and saves a screenshot of every step under
var/screenshots/<test>/. Without /usr/bin/chromium the tests are skipped, except under CI=true,
where that is a failure (as for PostgreSQL in conftest.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Route, async_playwright, expect

from .browser import CHROMIUM, DESKTOP, PHONE, SCREENSHOTS, Shots, Site, Visit, free_port, start_server
from .flows import PASSWORD, convert, totp_code
from .graphql import GraphQLClient
from .mailbox import Mailbox, body, code_in, invitation_token_in

pytestmark = pytest.mark.slow

SECRET = "browser-test-secret-key-long-enough-0123456789"


@pytest.fixture(scope="module")
def chromium() -> Path:
    """Debian's chromium; CI must have it (.ci/run installs it), elsewhere its absence skips."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} not found (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}: CI must run the browser tests")
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture(scope="module")
def site(chromium: Path, smtp_session: Mailbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """`gql-server serve` on a fresh SQLite file; its links point at itself; mail goes to the test SMTP."""
    workdir = tmp_path_factory.mktemp("web")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite://{workdir / 'web.sqlite3'}",
        "SMTP_URL": smtp_session.url,
        "SECRET_KEY": SECRET,
        "PUBLIC_URL": url,
        "GQL_SERVER_ENV": "development",
        # The third-party sms package may or may not be installed; the flows here do not depend on it.
        "GQL_SERVER_DISABLED_PLUGINS": "sms",
        "RATE_LIMIT_LOGIN": "10000/minute",
        "RATE_LIMIT_VERIFY_SECOND_FACTOR": "10000/minute",
        "RATE_LIMIT_SEND_LOGIN_CODE": "10000/minute",
        "RATE_LIMIT_REQUEST_CONVERSION": "10000/minute",
    }
    for name in ("REDIS_URL", "TRUSTED_PROXIES", "GQL_SERVER_PLUGINS", "GQL_SERVER_AUDIT_JSONL"):
        env.pop(name, None)
    process = start_server(env, workdir, port)
    try:
        yield Site(url=url, env=env, workdir=workdir, log=workdir / "serve.log")
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
async def browser(chromium: Path) -> AsyncIterator[Browser]:
    """A headless chromium for one test."""
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(chromium), headless=True, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Shots:
    """This test's screenshot folder (var/screenshots/<test>), emptied."""
    folder = SCREENSHOTS / request.node.name.removeprefix("test_")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return Shots(folder)


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


@pytest.fixture
def enforced(site: Site) -> dict[str, str]:
    """A customer whose password admin switched enforcement on; users are added by each test."""
    customer = site.customer("Enforced Oy")
    admin_email = f"admin-{customer[:8]}@example.com"
    site.user(customer, admin_email, PASSWORD, "customer")
    return {"customer": customer, "admin": admin_email}


async def test_admin_enforces_after_seeing_who_must_convert(site, browser, shots, mailbox):
    customer = site.customer("Aalto Oy")
    site.user(customer, "anna@aalto.example", PASSWORD, "customer")
    for email in ("bea@aalto.example", "cai@aalto.example"):
        site.user(customer, email, PASSWORD)
    tab = await open_tab(browser, shots, DESKTOP)
    page = tab.page

    await sign_in(tab, site, "anna@aalto.example")
    await tab.wait_for_path("/account")
    await account_shows(tab, "Email and password", None)
    await page.click("#customers a")
    await tab.wait_for_path(f"/customers/{customer}/settings")
    await tab.step("settings", "settings")
    await expect(tab.page.locator("#impact-summary")).to_contain_text("3 users will have to convert")
    listed = await tab.text("#impact-users")
    assert all(email in listed for email in ("anna@aalto.example", "bea@aalto.example", "cai@aalto.example"))

    # Switching on asks first, naming who is affected; the safe choice has the focus; Escape cancels.
    await page.check("#enforce")
    await page.click("#settings-form button[type=submit]")
    await tab.step("confirm", "settings-confirm")
    await expect(tab.page.locator("#confirm-text")).to_contain_text("3 users will have to convert")
    await expect(tab.page.locator("#confirm-users")).to_contain_text("bea@aalto.example")
    assert await page.evaluate("document.activeElement.id") == "confirm-cancel"
    await page.keyboard.press("Escape")
    await expect(page.locator("#settings-message")).to_contain_text("Nothing was changed")

    await page.click("#settings-form button[type=submit]")
    await page.click("#confirm-ok")
    # R2, R10: the password admin must convert too, and is taken to where that starts.
    await tab.wait_for_path("/account")
    await tab.step("conversion", "account-must-convert")
    await expect(tab.page.locator("#conversion-why")).to_contain_text("requires two-factor")
    async with httpx.AsyncClient(base_url=site.url) as http:
        assert (await GraphQLClient(http).login("bea@aalto.example", PASSWORD))["__typename"] == "ConversionRequired"
    tab.assert_never_leaked()


async def test_user_converts_with_an_authenticator_app_and_signs_in_with_a_code(
    site, browser, shots, mailbox, enforced
):
    email = "tuuli@example.com"
    site.user(enforced["customer"], email, PASSWORD)
    await enforce(site, enforced["customer"], enforced["admin"])
    tab = await open_tab(browser, shots, PHONE)
    page = tab.page

    link = await request_invitation(tab, site, mailbox, email)
    token = link.split("#token=")[1]
    await open_invitation(tab, site, link)
    # The authenticator app is offered first.
    assert await page.is_checked("#method-totp")
    await page.click("#choose-form button[type=submit]")
    await tab.step("totp-area", "qr-code")
    assert await page.evaluate("document.getElementById('qr').naturalWidth") > 0
    assert (await page.get_attribute("#qr", "src") or "").startswith("data:image/svg+xml")
    assert (await page.get_attribute("#open-app", "href") or "").startswith("otpauth://totp/")
    secret = (await tab.text("#totp-secret")).replace(" ", "")
    await page.fill("#code", totp_code(secret))
    await page.click("#confirm-form button[type=submit]")
    await finish_with_recovery_codes(tab, "recovery-codes")
    await account_shows(tab, "Two-factor: password and a code", "Authenticator app")

    await sign_out(tab)
    await sign_in(tab, site, email)
    await tab.step("step-second-factor", "second-factor")
    await expect(tab.page.locator("#code-label")).to_have_text("Code from your authenticator app")
    assert await page.evaluate("document.activeElement.id") == "code"
    await page.keyboard.type("000000")
    await page.keyboard.press("Enter")
    await page.locator("#code-message.error").wait_for()
    await expect(tab.page.locator("#code-message")).to_contain_text("Attempts left: 4")
    # The enrollment's code was used once (S8); the app's next code is taken.
    await page.fill("#code", totp_code(secret, steps_ahead=1))
    await page.keyboard.press("Enter")
    await tab.wait_for_path("/account")
    await account_shows(tab, "Two-factor: password and a code", "Authenticator app")
    tab.assert_never_leaked(token, secret)
    assert token not in site.server_log()


async def test_user_converts_with_email_codes_and_signs_in_with_emailed_and_recovery_codes(
    site, browser, shots, mailbox, enforced
):
    email = "eero@example.com"
    site.user(enforced["customer"], email, PASSWORD)
    await enforce(site, enforced["customer"], enforced["admin"])
    tab = await open_tab(browser, shots, DESKTOP)
    page = tab.page

    link = await request_invitation(tab, site, mailbox, email)
    await open_invitation(tab, site, link)
    await page.check("#method-email_code")
    await page.click("#choose-form button[type=submit]")
    await tab.step("sent-area", "email-code-sent")
    await expect(tab.page.locator("#sent-to")).to_contain_text("e***@example.com")
    code = code_in(await mailbox.next_to(email, "enrollment_code"))
    await page.fill("#code", "000000" if code != "000000" else "111111")
    await page.click("#confirm-form button[type=submit]")
    await page.locator("#confirm-message.error").wait_for()
    await expect(tab.page.locator("#confirm-message")).to_contain_text("not right")
    await page.fill("#code", code)
    await page.click("#confirm-form button[type=submit]")
    recovery_codes = await finish_with_recovery_codes(tab, "recovery-codes")
    await account_shows(tab, "Two-factor: password and a code", "Code by email")

    # A code by email at sign-in: asked for with "Send code".
    await sign_out(tab)
    await sign_in(tab, site, email)
    await tab.step("step-second-factor", "second-factor")
    assert await page.evaluate("document.activeElement.id") == "send-code"
    await page.keyboard.press("Enter")
    await page.locator("#code-message.success").wait_for()
    await page.fill("#code", code_in(await mailbox.next_to(email, "login_code")))
    await tab.shot("login-code-entered")
    await page.click("#code-form button[type=submit]")
    await tab.wait_for_path("/account")

    # A recovery code, in Finnish this time; each works once.
    await sign_out(tab)
    await page.click("#language")
    await page.wait_for_function("document.documentElement.lang === 'fi'")
    await sign_in(tab, site, email)
    await tab.step("step-second-factor", "second-factor-fi")
    await expect(tab.page.locator("#second-factor-heading")).to_have_text("Vahvista kirjautuminen")
    await page.click("#use-recovery")
    await expect(tab.page.locator("#code-label")).to_have_text("Varakoodi")
    await page.fill("#code", recovery_codes[0])
    await tab.shot("recovery-code-entered-fi")
    await page.click("#code-form button[type=submit]")
    await tab.wait_for_path("/account")
    await tab.step("account", "account-fi")
    await expect(tab.page.locator("#account-heading")).to_have_text("Omat tiedot")
    await sign_out(tab)
    await sign_in(tab, site, email)
    await page.locator("#step-second-factor").wait_for()
    await page.click("#use-recovery")
    await page.fill("#code", recovery_codes[0])
    await page.click("#code-form button[type=submit]")
    await page.locator("#code-message.error").wait_for()
    await expect(tab.page.locator("#code-message")).to_contain_text("Koodi on väärä")
    await tab.shot("recovery-code-used-twice-fi")
    tab.assert_never_leaked(code, *recovery_codes)


async def test_a_conversion_left_pending_re_sends_its_invitation(site, browser, shots, mailbox, enforced):
    email = "pirkko@example.com"
    site.user(enforced["customer"], email, PASSWORD)
    await enforce(site, enforced["customer"], enforced["admin"])
    tab = await open_tab(browser, shots, PHONE)
    page = tab.page
    await request_invitation(tab, site, mailbox, email)

    # R4: the next password login cannot sign in, but can send the invitation again.
    await sign_in(tab, site, email)
    await tab.step("step-check-email", "pending")
    await expect(tab.page.locator("#check-sent")).to_contain_text("p***@example.com")
    await page.fill("#resend-email", "someone.else@example.com")
    await page.click("#resend-form button[type=submit]")
    await page.locator("#resend-message.error").wait_for()
    await expect(tab.page.locator("#resend-message")).to_contain_text("where you started")
    await page.fill("#resend-email", email)
    await page.click("#resend-form button[type=submit]")
    await page.locator("#resend-form").wait_for(state="hidden")
    await tab.shot("re-sent")
    await expect(tab.page.locator("#check-sent")).to_contain_text("We sent the invitation to")
    assert invitation_token_in(await mailbox.next_to(email, "invitation"))
    tab.assert_never_leaked()


async def test_enforcement_off_keeps_converted_users_on_two_factors(site, browser, shots, mailbox):
    customer = site.customer("Lahti Oy")
    admin = "leena@lahti.example"
    converted, untouched = "kalle@lahti.example", "ville@lahti.example"
    site.user(customer, converted, PASSWORD)
    site.user(customer, untouched, PASSWORD)
    # A new account without a password is invited by email: it chooses its password in the invitation.
    site.user(customer, admin, None, "customer")
    tab = await open_tab(browser, shots, DESKTOP)
    page = tab.page

    link = f"{site.url}/invitation#token={invitation_token_in(await mailbox.next_to(admin, 'invitation'))}"
    await open_invitation(tab, site, link)
    await page.click("#choose-form button[type=submit]")
    await tab.step("password-area", "new-account-password")
    secret = (await tab.text("#totp-secret")).replace(" ", "")
    await page.fill("#new-password", "a long admin passphrase")
    await page.fill("#new-password-again", "a long admin passphrase!")
    await page.fill("#code", totp_code(secret))
    await page.click("#confirm-form button[type=submit]")
    await expect(tab.page.locator("#confirm-message")).to_contain_text("not the same")
    await page.fill("#new-password-again", "a long admin passphrase")
    await page.click("#confirm-form button[type=submit]")
    await finish_with_recovery_codes(tab, "admin-recovery-codes")

    # The two-factor admin switches enforcement on; one user converts (through the API, for speed).
    await page.goto(f"{site.url}/customers/{customer}/settings")
    await tab.step("settings", "settings-off")
    await page.check("#enforce")
    await page.click("#settings-form button[type=submit]")
    await page.click("#confirm-ok")
    await page.locator("#settings-message.success").wait_for()
    await expect(tab.page.locator("#settings-message")).to_contain_text("now required")
    await expect(tab.page.locator("#impact-summary")).to_contain_text("2 users will have to convert")
    async with httpx.AsyncClient(base_url=site.url, timeout=30) as http:
        await convert(GraphQLClient(http), mailbox, converted, "email_code")

    # R7, R9: switched off, the untouched user signs in with a password alone; the converted one still
    # needs a second factor.
    await page.reload()
    await tab.step("settings", "settings-on")
    await page.uncheck("#enforce")
    await page.click("#settings-form button[type=submit]")
    await tab.step("confirm", "settings-confirm-off")
    await expect(tab.page.locator("#confirm-text")).to_contain_text("keep signing in with two factors")
    await page.click("#confirm-ok")
    await page.locator("#settings-message.success").wait_for()
    await expect(tab.page.locator("#settings-message")).to_contain_text("not required")

    others = await open_tab(browser, shots, PHONE)
    await sign_in(others, site, untouched)
    await others.wait_for_path("/account")
    await account_shows(others, "Email and password", None)
    # R1: a company-level member sees why the settings are not theirs to change.
    await others.page.goto(f"{site.url}/customers/{customer}/settings")
    await expect(others.page.locator("#page-message")).to_contain_text("Only the customer's administrators")
    await expect(others.page.locator("#settings")).to_be_hidden()
    await others.shot("settings-not-admin")
    await others.page.goto(f"{site.url}/account")
    await sign_out(others)
    await sign_in(others, site, converted)
    await others.step("step-second-factor", "converted-still-two-factor")
    await expect(others.page.locator("#code-label")).to_have_text("Code from the email")
    tab.assert_never_leaked(secret)
    others.assert_never_leaked()


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
