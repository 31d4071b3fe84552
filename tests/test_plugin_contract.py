"""The plugin contract (issue 16): plugins import nothing of the core but `gql_server.plugin_api`, hooks
receive frozen views (never rows), and hooks run in pluggy's own call order with the built-ins last."""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path

import pytest

from gql_server import plugin_api
from gql_server.plugin_api import (
    AuthenticatorKind,
    Capabilities,
    CodeField,
    CustomerView,
    MembershipView,
    MethodStrings,
    MethodUI,
    PolicyRequirement,
    Prompt,
    UserView,
    capabilities_of,
    hookimpl,
    ui_of,
)
from gql_server.plugins import call_each, call_order, collect_methods, create_plugin_manager, registered_methods

from .flows import PASSWORD

ROOT = Path(__file__).resolve().parent.parent
# The built-in modules and every third-party package kept in plugins/ (gql-server-sms, gql-server-webauthn, ...).
PLUGIN_SOURCES = sorted((ROOT / "plugins").glob("*.py")) + sorted((ROOT / "plugins").glob("gql-server-*/src/*/*.py"))


def _core_imports(path: Path) -> set[str]:
    """The modules of the core (`gql_server` and below) that a source file imports."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found |= {n for n in names if n == "gql_server" or n.startswith("gql_server.")}
    return found


@pytest.mark.parametrize("path", PLUGIN_SOURCES, ids=lambda p: p.name)
def test_builtins_and_the_packages_import_only_the_plugin_api(path):
    assert _core_imports(path) <= {"gql_server.plugin_api"}


def test_the_scan_sees_what_it_should():
    # The check above must be able to fail: a core module that imports models is found.
    assert "gql_server.models" in _core_imports(ROOT / "gql_server" / "policy.py")
    assert len(PLUGIN_SOURCES) >= 6
    packages = {p.parent.name for p in PLUGIN_SOURCES}
    assert {"gql_server_sms", "gql_server_webauthn"} <= packages


def test_the_views_are_frozen():
    for view in (UserView, CustomerView, MembershipView, plugin_api.AuthEvent):
        assert dataclasses.is_dataclass(view) and view.__dataclass_params__.frozen  # type: ignore[attr-defined]


class Pinned:
    """A third-party method package registered after the built-ins."""

    @hookimpl
    def register_second_factors(self, register):
        from .test_plugins import CarrierPigeon

        register(CarrierPigeon())


def test_hooks_run_in_pluggys_order_with_the_builtins_last():
    pm = create_plugin_manager()
    pm.register(Pinned(), name="pigeon")
    try:
        plugins = [impl.plugin_name for impl in call_order(pm.hook.register_second_factors)]
        methods = [plugin for plugin, _ in registered_methods(pm)]

        assert plugins[0] == "pigeon"
        assert set(plugins[-3:]) == {"totp", "email_code", "recovery_code"}
        assert methods == plugins
        assert "pigeon" in collect_methods(pm)
    finally:
        pm.unregister(name="pigeon")


class Recorder:
    """Keeps what `policy_requirements` and `auth_event` were handed."""

    def __init__(self) -> None:
        self.seen: list[tuple[object, ...]] = []
        self.events: list[object] = []

    @hookimpl
    def policy_requirements(self, user, customers, memberships, methods):
        self.seen.append((user, tuple(customers), tuple(memberships)))
        return PolicyRequirement(reason="recorded")

    @hookimpl
    def auth_event(self, event):
        self.events.append(event)


@pytest.fixture
def recorder(services):
    plugin = Recorder()
    services.plugins.register(plugin, name="recorder")
    try:
        yield plugin
    finally:
        services.plugins.unregister(name="recorder")


async def test_hooks_receive_frozen_views_never_rows(client, recorder, make_customer, make_user):
    # A customer that does not enforce: the policy asks the plugins whether two factors are needed.
    open_customer = await make_customer("Open Oy")
    olli = await make_user(open_customer, "olli@example.com", PASSWORD)

    await client.login("olli@example.com", PASSWORD)

    assert recorder.seen
    user, customers, memberships = recorder.seen[0]
    assert isinstance(user, UserView) and (user.id, user.email) == (str(olli.id), "olli@example.com")
    assert [(type(c), c.name, c.enforce_two_factor) for c in customers] == [(CustomerView, "Open Oy", False)]
    assert [(type(m), m.customer_id) for m in memberships] == [(MembershipView, str(open_customer.id))]
    with pytest.raises(dataclasses.FrozenInstanceError):
        user.email = "someone@else.example"  # type: ignore[misc]
    assert recorder.events and all(isinstance(e, plugin_api.AuthEvent) for e in recorder.events)
    login = next(e for e in recorder.events if e.kind == "login_succeeded")
    assert (login.subject_email, login.subject_id) == ("olli@example.com", str(olli.id))


def test_call_each_contains_a_failing_implementation():
    class Broken:
        @hookimpl
        def policy_requirements(self, user, customers, memberships, methods):
            raise RuntimeError("boom")

    pm = create_plugin_manager()
    pm.register(Broken(), name="broken")
    pm.register(Recorder(), name="recorder")
    view = UserView(
        id="1",
        email="a@b.example",
        locale="en",
        login_method=plugin_api.LoginMethod.PASSWORD,
        conversion=plugin_api.ConversionState.NOT_STARTED,
    )

    answers = call_each(pm.hook.policy_requirements, user=view, customers=[], memberships=[], methods={})

    assert [a.reason for a in answers] == ["recorded"]


async def test_methods_describe_their_capabilities(client):
    methods = {m["id"]: m for m in (await client.run("SecondFactorMethods"))["secondFactorMethods"]}

    assert methods["totp"]["capabilities"] == {
        "kind": "POSSESSION",
        "phishingResistant": False,
        "hardwareBound": False,
        "deliversCodes": False,
        "browserApi": None,
    }
    assert methods["email_code"]["capabilities"]["deliversCodes"] is True
    assert methods["recovery_code"]["capabilities"]["kind"] == "KNOWLEDGE"


def test_a_method_without_capabilities_is_described_from_its_attributes():
    from .test_plugins import CarrierPigeon

    described = capabilities_of(CarrierPigeon())
    sms_like = capabilities_of(dataclasses.replace(CarrierPigeon(), channel="sms", phishing_resistant=True))

    assert (described.kind, described.delivers_codes, described.phishing_resistant) == (
        AuthenticatorKind.POSSESSION,
        False,
        False,
    )
    assert (sms_like.delivers_codes, sms_like.phishing_resistant) == (True, True)


def test_the_phishing_resistant_attribute_and_the_descriptor_never_disagree():
    @dataclasses.dataclass(frozen=True)
    class Boastful:
        id: str = "boast"
        display_name: str = "Boastful"
        channel: str = "authenticator_app"
        phishing_resistant: bool = False
        enrollable: bool = True
        capabilities: Capabilities = dataclasses.field(default_factory=lambda: Capabilities(phishing_resistant=True))

    assert capabilities_of(Boastful()).phishing_resistant is False


async def test_methods_describe_how_clients_present_them_in_their_own_words(client):
    methods = {m["id"]: m for m in (await client.run("SecondFactorMethods"))["secondFactorMethods"]}
    totp, email, recovery = methods["totp"]["ui"], methods["email_code"]["ui"], methods["recovery_code"]["ui"]

    assert (totp["prompt"], totp["inputMode"], totp["minLength"], totp["maxLength"], totp["pattern"]) == (
        "CODE",
        "numeric",
        6,
        6,
        "[0-9]{6}",
    )
    assert (totp["sendsCodes"], email["sendsCodes"], recovery["sendsCodes"]) == (False, True, False)
    assert (recovery["inputMode"], recovery["pattern"], recovery["autocomplete"]) == ("text", None, "off")
    # The built-ins ship their strings in both of the web client's languages; the web client has none of them.
    for ui in (totp, email, recovery):
        assert {s["language"] for s in ui["strings"]} == {"en", "fi"}
    finnish = next(s for s in totp["strings"] if s["language"] == "fi")
    assert finnish["name"] == "Todentajasovellus"


def test_a_method_without_a_ui_is_presented_by_its_display_name_and_capabilities():
    from .test_plugins import CarrierPigeon

    plain = ui_of(CarrierPigeon())

    @dataclasses.dataclass(frozen=True)
    class NeedsABrowserApi(CarrierPigeon):
        capabilities: Capabilities = dataclasses.field(default_factory=lambda: Capabilities(browser_api="webauthn"))

    browser = ui_of(NeedsABrowserApi())

    assert (plain.prompt, plain.code, dict(plain.strings)) == (
        Prompt.CODE,
        CodeField(),
        {"en": MethodStrings(name="Carrier pigeon")},
    )
    assert browser.prompt is Prompt.BROWSER_API


@pytest.mark.parametrize(
    ("ui", "problem"),
    [
        ("a code field", "not a MethodUI"),
        (MethodUI(code=CodeField(min_length=8, max_length=6)), "code lengths"),
        (MethodUI(code=CodeField(max_length=10_000)), "code lengths"),
        (MethodUI(code=CodeField(pattern="[0-9")), "no regular expression"),
        (MethodUI(strings={"fi": MethodStrings(name="Kyyhky")}), 'strings need "en"'),
        (MethodUI(strings={"en": {"name": "Pigeon"}}), "must be MethodStrings of text"),  # type: ignore[dict-item]
        (MethodUI(strings={"en": MethodStrings(name=3)}), "must be MethodStrings of text"),  # type: ignore[arg-type]
        (
            MethodUI(strings={"en": MethodStrings(name="Pigeon"), "__proto__": MethodStrings(name="x")}),
            "language tags",
        ),
    ],
)
def test_a_method_with_an_unusable_ui_is_left_out_with_the_reason(ui, problem, caplog):
    from .test_plugins import CarrierPigeon

    declared = ui

    @dataclasses.dataclass(frozen=True)
    class WithUI(CarrierPigeon):
        id: str = "pigeon_ui"
        ui: object = declared

    class Unusable:
        @hookimpl
        def register_second_factors(self, register):
            register(dataclasses.replace(CarrierPigeon()))
            register(WithUI())

    pm = create_plugin_manager()
    pm.register(Unusable(), name="unusable")

    methods = collect_methods(pm)

    assert "pigeon" in methods
    assert "pigeon_ui" not in methods
    assert "method 'pigeon_ui' left out, it cannot be offered" in caplog.text
    assert problem in caplog.text


@pytest.mark.parametrize("name", plugin_api.__all__)
def test_every_name_of_the_plugin_api_is_documented(name):
    documented = (ROOT / "docs" / "plugins.md").read_text("utf-8")

    assert re.search(rf"\b{name}\b", documented), f"docs/plugins.md never names {name}"


def test_the_code_helpers_ignore_spaces_compare_whole_codes_and_key_their_digests():
    assert plugin_api.typed_code(" 123 456\n") == "123456"
    assert plugin_api.same_code("123 456", "123456")
    assert not plugin_api.same_code("123457", "123456")
    assert not plugin_api.same_code("12345", "123456")
    digest = plugin_api.code_digest("factor-key", "123 456")
    assert digest == plugin_api.code_digest("factor-key", "123456")
    assert digest != plugin_api.code_digest("other-key", "123456")
    assert len(digest) == 64 and "123456" not in digest


def test_the_web_client_names_no_method_and_no_channel():
    """Issue 16: the web client renders every method from its descriptor (capabilities, ui), so a method
    shipped as a pip package works there as the built-ins do. Audit event kinds ("recovery_code_used") are
    the core's own words, and a browser API's name ("webauthn") is what a capability says, not an id."""
    methods = collect_methods(create_plugin_manager())
    browser_apis = {capabilities_of(m).browser_api for m in methods.values()}
    # "email" is every page's word for an address (type="email"), not only a channel.
    words = ({m.id for m in methods.values()} | {m.channel for m in methods.values()}) - browser_apis - {"email"}
    assert {"totp", "email_code", "recovery_code", "authenticator_app", "lookup_secret"} <= words
    pattern = re.compile(rf"(?<![\w.-])({'|'.join(sorted(words))})(?![\w-])")
    found = []
    for path in sorted((ROOT / "gql_server" / "web").rglob("*")):
        if path.suffix not in {".js", ".html", ".json", ".css", ".graphql"}:
            continue
        for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
            if "auditkind." in line:
                continue
            found += [f"{path.relative_to(ROOT)}:{number}: {m.group(1)}" for m in pattern.finditer(line)]

    assert not found, "\n".join(found)


@pytest.mark.parametrize("method_id", ["totp.hint", "Pigeon", "pigeon bird", "", "9lives", "x" * 65])
def test_a_method_whose_id_is_no_word_is_left_out(method_id, caplog):
    """An id like "totp.hint" would write another method's strings key in clients (method.totp.hint)."""
    from .test_plugins import CarrierPigeon

    @dataclasses.dataclass(frozen=True)
    class Odd(CarrierPigeon):
        id: str = method_id

    class Registers:
        @hookimpl
        def register_second_factors(self, register):
            register(Odd())

    pm = create_plugin_manager()
    pm.register(Registers(), name="odd")

    assert method_id not in collect_methods(pm)
    assert "its id must be lowercase letters" in caplog.text
