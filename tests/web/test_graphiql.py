"""GraphiQL offline (issue 18): /graphql in a browser that can reach nothing but the service itself.

Every request that leaves the service's origin is refused and recorded, as a firewall would; the explorer
must still load, sign in with the README's login mutation (the HttpOnly cookie it sets is what the next
query runs as) and show the answers, under its Content-Security-Policy without a single violation.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from playwright.async_api import Browser, Response, Route, expect

from gql_server.api.context import SESSION_COOKIE

from ..flows import PASSWORD
from .pages import DESKTOP, LOOP, Shots, Site, Visit
from .steps import open_tab

pytestmark = [pytest.mark.slow, LOOP]

# The editors are CodeMirror 5: its instance hangs on its wrapper element.
EDITOR = ".graphiql-query-editor .CodeMirror"
RESPONSE = ".graphiql-response .CodeMirror"
# Records what the Content-Security-Policy refused, before any of the page's scripts run.
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) =>
  window.__violations.push(`${event.violatedDirective} ${event.blockedURI} ${event.sample}`));
"""
# GraphiQL's bundle is built in development mode: its dialogs say this with console.error on Strawberry's page
# (whose style hides the body's overflow), from the CDN as well; nothing is wrong.
SCROLL_LOCK_NOTE = "react-remove-scroll-bar: cannot calculate scrollbar size because it is removed"


async def offline_tab(browser: Browser, shots: Shots, site: Site) -> tuple[Visit, list[str]]:
    """A fresh tab that can reach only `site`; the list fills with every other URL the page tried."""
    tab = await open_tab(browser, shots, DESKTOP)
    elsewhere: list[str] = []

    async def firewall(route: Route) -> None:
        url = route.request.url
        if url == site.url or url.startswith(site.url + "/"):
            await route.continue_()
        else:
            elsewhere.append(url)
            await route.abort("blockedbyclient")

    await tab.page.context.route("**/*", firewall)
    await tab.page.add_init_script(RECORD_VIOLATIONS)
    return tab, elsewhere


async def open_graphiql(tab: Visit, site: Site) -> None:
    """Load /graphql and wait until the editor shows."""
    await tab.page.goto(f"{site.url}/graphql")
    await expect(tab.page.locator(EDITOR)).to_be_visible()
    await expect(tab.page.locator("#graphiql")).not_to_contain_text("Loading...")


def _sends(query: str) -> Callable[[Response], bool]:
    def sent(response: Response) -> bool:
        request = response.request
        return request.method == "POST" and json.loads(request.post_data or "{}").get("query") == query

    return sent


async def run(tab: Visit, query: str) -> dict[str, object]:
    """Put `query` into the editor, press the run button, and read the answer the response pane shows (once it
    shows what the service answered)."""
    page = tab.page
    await page.evaluate(
        "([editor, query]) => document.querySelector(editor).CodeMirror.setValue(query)", [EDITOR, query]
    )
    async with page.expect_response(_sends(query)) as answered:
        await page.get_by_label("Execute query (Ctrl-Enter)").click()
    sent = await (await answered.value).json()
    await page.wait_for_function(
        """([response, sent]) => {
          try { return JSON.stringify(JSON.parse(document.querySelector(response).CodeMirror.getValue())) === sent; }
          catch { return false; }
        }""",
        arg=[RESPONSE, json.dumps(sent, separators=(",", ":"), ensure_ascii=False)],
    )
    answer: dict[str, object] = json.loads(
        await page.evaluate("(response) => document.querySelector(response).CodeMirror.getValue()", RESPONSE)
    )
    return answer


async def test_graphiql_signs_in_and_queries_with_nothing_but_the_service_reachable(site, browser, shots):
    customer = site.customer("Explorer Oy")
    email = f"explorer-{customer[:8]}@example.com"
    site.user(customer, email, PASSWORD, "customer")
    tab, elsewhere = await offline_tab(browser, shots, site)

    await open_graphiql(tab, site)
    await tab.shot("loaded")
    assert await run(tab, "{ __typename }") == {"data": {"__typename": "Query"}}
    login = await run(
        tab,
        f'mutation {{ login(email: "{email}", password: "{PASSWORD}") {{ __typename ... on LoginSuccess {{ user {{ email }} }} }} }}',
    )
    # The session is the HttpOnly cookie the answer set: the next query is signed in without a token.
    viewer = await run(tab, "{ viewer { user { email } } }")
    await tab.shot("signed-in")

    assert login == {"data": {"login": {"__typename": "LoginSuccess", "user": {"email": email}}}}
    assert viewer == {"data": {"viewer": {"user": {"email": email}}}}
    assert [c["httpOnly"] for c in await tab.page.context.cookies() if c["name"] == SESSION_COOKIE] == [True]
    assert elsewhere == []
    assert await tab.page.evaluate("window.__violations") == []
    assert tab.errors == []
    # Nothing went into the address bar or stayed in localStorage (the URL sync and persistence are off).
    assert tab.page.url == f"{site.url}/graphql"
    assert PASSWORD not in json.dumps(await tab.page.evaluate("Object.entries(localStorage)"))


async def test_graphiqls_tools_work_offline_under_its_policy(site, browser, shots):
    tab, elsewhere = await offline_tab(browser, shots, site)
    page = tab.page
    await open_graphiql(tab, site)

    # The documentation (markdown descriptions) and the explorer plugin, built from the schema.
    await page.get_by_label("Show Documentation Explorer").click()
    await page.locator(".graphiql-doc-explorer").get_by_text("Viewer", exact=True).click()
    await expect(page.locator(".graphiql-doc-explorer")).to_contain_text("Recovery codes not used yet.")
    await tab.shot("docs")
    await page.get_by_label("Show GraphiQL Explorer").click()
    await expect(page.locator(".graphiql-explorer-root")).to_contain_text("viewer")
    await tab.shot("explorer")
    # The dialogs (they lock scrolling with a style of their own) and the editor's completion with its hint.
    for dialog in ("Open settings dialog", "Open short keys dialog"):
        await page.get_by_label(dialog).click()
        await expect(page.get_by_role("dialog")).to_be_visible()
        await tab.shot(dialog.replace(" ", "-"))
        await page.keyboard.press("Escape")
        await expect(page.get_by_role("dialog")).to_have_count(0)
    await page.evaluate("(editor) => document.querySelector(editor).CodeMirror.setValue('')", EDITOR)
    await page.locator(EDITOR).click()
    await page.keyboard.type("{ vie")
    await expect(page.locator(".CodeMirror-hints")).to_contain_text("viewer")
    await tab.shot("completion")

    assert elsewhere == []
    assert await page.evaluate("window.__violations") == []
    assert [error for error in tab.errors if not error.startswith(SCROLL_LOCK_NOTE)] == []
