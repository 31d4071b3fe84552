"""GraphiQL (development only): Strawberry's own page, except that the editor is never mirrored into the URL.

Strawberry's page copies the query and the variables into the address bar as they are typed
(`?q=…&variables=…`, by `history.replaceState`), and reads them back from it on load. The README's first
step is a login mutation, so the admin's password would land in the address bar, the browser history and
anything that syncs or logs URLs. The page here is Strawberry's with both directions taken out; everything
else, where its scripts and styles come from included, is left as Strawberry ships it.

For the same reason the editor is kept in the tab's sessionStorage instead of GraphiQL's default
localStorage, which outlives the browser (a shared computer keeps the login mutation and its password),
and the headers editor (where a bearer session token goes) is not kept at all.
"""

from __future__ import annotations

# (text of Strawberry's page, what replaces it): each must occur exactly once, or the page changed under us.
URL_SYNC_EDITS: tuple[tuple[str, str], ...] = (
    # Never write the editor into the address bar or the history ...
    ("history.replaceState(null, null, newSearch);", ""),
    # ... nor fill it from a link.
    ('window.location.search.slice(1).split("&")', "[]"),
    # Queries and variables last as long as the tab, not in localStorage for good; headers not at all.
    ("shouldPersistHeaders: true,", "shouldPersistHeaders: false,\n          storage: window.sessionStorage,"),
)


class GraphiQLPageChanged(Exception):
    """Strawberry's GraphiQL page no longer has the code this module takes out (after an upgrade)."""


def without_url_sync(page: str) -> str:
    """Strawberry's GraphiQL page with the URL sync taken out; raises GraphiQLPageChanged when it cannot be."""
    for old, new in URL_SYNC_EDITS:
        if page.count(old) != 1:
            # Serving the page unchanged would quietly put passwords in URLs again.
            raise GraphiQLPageChanged(f"Strawberry's GraphiQL page changed: {old!r} not found once")
        page = page.replace(old, new)
    return page
