"""Built-in second factor: a one-time code sent by email.

A code-delivering method: the core makes the 6-digit code, stores its digest, counts attempts and
checks it (S10); this plugin only says where codes go and sends them.
"""

from __future__ import annotations

from collections.abc import Callable

from gql_server.plugin_api import (
    Account,
    AuthenticatorKind,
    Capabilities,
    CodeDeliveringMethod,
    CodeDelivery,
    EnrollmentDraft,
    Mailer,
    MethodStrings,
    MethodUI,
    SecondFactorMethod,
    hookimpl,
    mask_email,
)


class EmailCodeMethod(CodeDeliveringMethod):
    """Codes sent to the account's email address."""

    id: str = "email_code"
    display_name: str = "Code by email"
    channel: str = "email"
    phishing_resistant: bool = False
    enrollable: bool = True
    capabilities: Capabilities = Capabilities(kind=AuthenticatorKind.POSSESSION, delivers_codes=True)
    ui: MethodUI = MethodUI(
        strings={
            "en": MethodStrings(
                name="Code by email",
                about="We email you a six-digit code whenever you sign in. For when you cannot use an app.",
                label="Code from the email",
                hint='Six digits. Press "Send code" to get one; it works for 10 minutes.',
            ),
            "fi": MethodStrings(
                name="Koodi sähköpostiin",
                about=(
                    "Lähetämme kuusinumeroisen koodin sähköpostiisi aina kirjautuessasi. Kun sovelluksen käyttö "
                    "ei onnistu."
                ),
                label="Koodi sähköpostista",
                hint="Kuusi numeroa. Pyydä koodi Lähetä koodi -painikkeella; se on voimassa 10 minuuttia.",
            ),
        }
    )

    async def begin_enrollment(self, account: Account) -> EnrollmentDraft:
        """Codes will go to the account's address, shown masked; the core then sends the first one."""
        return EnrollmentDraft(state={"email": account.email}, sent_to=mask_email(account.email))

    async def send_code(self, delivery: CodeDelivery, mailer: Mailer) -> str:
        """Mail `delivery.code` to the account's address (the one being proven while enrolling); return it,
        masked. A login code follows a confirmed change of the account's address (R13): the mailbox the
        user left gets no more codes."""
        address = delivery.account_email or delivery.state["email"]
        template = "login_code" if delivery.purpose == "login" else "enrollment_code"
        await mailer.send(
            template, to=address, locale=delivery.locale, code=delivery.code, expires_at=delivery.expires_at
        )
        return mask_email(address)


@hookimpl(trylast=True)
def register_second_factors(register: Callable[[SecondFactorMethod], None]) -> None:
    """Offer email codes to the core, exactly as a third-party method would be offered."""
    register(EmailCodeMethod())
