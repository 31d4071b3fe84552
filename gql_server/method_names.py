"""A method's name in a user's language, for the emails that name it (a factor added, removed, renamed)."""

from __future__ import annotations

from gql_server.plugin_api import SecondFactorMethod, ui_of


def method_name(method: SecondFactorMethod | None, locale: str, method_id: str) -> str:
    """The method's `MethodStrings.name` in `locale`'s language ("fi" for "fi-FI" too), else its English
    one, else its `display_name`; the bare `method_id` for a method that is not installed."""
    if method is None:
        return method_id
    strings = ui_of(method).strings
    language = locale.replace("_", "-").split("-", 1)[0].lower()
    for key in (locale, language, "en"):
        text = strings.get(key)
        if text is not None and text.name:
            return text.name
    return method.display_name
