"""Emails: the fi/en templates, and delivery through the `deliver_email` hook (firstresult).

The core only builds messages. Who carries them is a plugin: the defaults in `mail_transports`
(SMTP, or the development outbox) answer last, so any third-party transport answers first.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import Any

import aiosmtplib
import pluggy

from gql_server import metrics, spans
from gql_server.limits import MAIL_ATTEMPT_SECONDS

DEFAULT_LOCALE = "en"
# The languages of the emails and of the web client, as `User.locale` holds them.
LOCALES = ("en", "fi")
TEMPLATE_HEADER = "X-Gql-Template"
# What an operator reset removes; passed as `method_name` and translated like a method name.
ALL_SECOND_FACTORS = "all second factors"


class MailNotDelivered(Exception):
    """The message did not go out: no `deliver_email` implementation took it, or delivery failed.

    The API answers it as `MAIL_NOT_DELIVERED`; `retryable` says whether trying again later may help
    (a mail server that is down) or not (the server refused the recipient for good).
    """

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class Template:
    """One localised email: `str.format` fields in the subject and the body."""

    subject: str
    body: str


def _format_en(values: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(values)
    if (at := _utc(values.get("expires_at"))) is not None:
        out["expires"] = f"{at:%Y-%m-%d %H:%M} UTC"
    return out


def _format_fi(values: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(values)
    if (at := _utc(values.get("expires_at"))) is not None:
        out["expires"] = f"{at.day}.{at.month}.{at.year} klo {at:%H.%M} UTC"
    if values.get("method_name") == ALL_SECOND_FACTORS:
        out["method_name"] = "kaikki tunnistautumistavat"
    return out


def _utc(value: object) -> datetime | None:
    """Expiry times are stated in UTC: the recipient's zone is unknown, and a bare time misleads."""
    if not isinstance(value, datetime):
        return None
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC)


# Codes and links stand alone on their own line, so that mail clients make them easy to copy or open.
TEMPLATES: dict[str, dict[str, Template]] = {
    "en": {
        "invitation": Template(
            "Set up two-factor login for your account",
            "Hello,\n\n"
            "You are invited to set up two-factor login for your account {email}.\n"
            "Open this link to continue:\n\n"
            "{link}\n\n"
            "The link works once and expires at {expires}.\n"
            "If you did not ask for this, you can ignore this message.\n",
        ),
        "enrollment_code": Template(
            "Your verification code",
            "Enter this verification code to confirm this email address as your second factor:\n\n"
            "{code}\n\n"
            "The code is valid until {expires}.\n"
            "If you did not ask for it, you can ignore this message.\n",
        ),
        "login_code": Template(
            "Your login code",
            "Enter this verification code to finish signing in:\n\n"
            "{code}\n\n"
            "The code is valid until {expires}.\n"
            "If you did not try to sign in, someone may know your password: change it under Security on your "
            "account page.\n",
        ),
        "factor_added": Template(
            "A second factor was added to your account",
            "A second factor was added to the two-factor login of your account: {method_name}.\n\n"
            "If this was not you, contact your administrator at once.\n",
        ),
        "factor_removed": Template(
            "A second factor was removed from your account",
            "Removed from the two-factor login of your account: {method_name}.\n\n"
            "If this was not you, contact your administrator at once.\n",
        ),
        "recovery_code_used": Template(
            "A recovery code was used",
            "A recovery code was just used to sign in to your account.\n"
            "Unused recovery codes left: {remaining}.\n"
            "You can create a new set under Security on your account page; the old codes then stop working.\n\n"
            "If this was not you, contact your administrator at once.\n",
        ),
        "recovery_codes_replaced": Template(
            "Your recovery codes were replaced",
            "New recovery codes were created for your account; the old ones no longer work.\n\n"
            "If this wasn't you, someone is signed in to your account. Open this link to sign out everywhere, "
            "lock the password until it is reset and tell your administrators:\n\n"
            "{link}\n\n"
            "The link works once and expires at {expires}.\n",
        ),
        "notice_factor_added": Template(
            "A second factor was added to your account",
            "Hello,\n\n"
            "A second factor was added to the two-factor login of your account: {factor}. It signs in "
            "to your account from now on.\n\n"
            "If this wasn't you, someone is signed in to your account. Open this link to sign out everywhere, "
            "lock the password until it is reset and tell your administrators:\n\n"
            "{link}\n\n"
            "The link works once and expires at {expires}.\n",
        ),
        "notice_factor_removed": Template(
            "A second factor was removed from your account",
            "Hello,\n\n"
            "Removed from the two-factor login of your account: {factor}. It no longer signs in, and "
            "your account was signed out everywhere else.\n\n"
            "If this wasn't you, someone is signed in to your account. Open this link to sign out everywhere, "
            "lock the password until it is reset and tell your administrators:\n\n"
            "{link}\n\n"
            "The link works once and expires at {expires}.\n",
        ),
        "notice_factor_renamed": Template(
            "A second factor of your account was renamed",
            "Hello,\n\n"
            'A second factor of your account, {factor}, is now called "{label}".\n\n'
            "If this wasn't you, someone is signed in to your account. Open this link to sign out everywhere, "
            "lock the password until it is reset and tell your administrators:\n\n"
            "{link}\n\n"
            "The link works once and expires at {expires}.\n",
        ),
        "password_reset_by_admin": Template(
            "Choose a new password",
            "Hello,\n\n"
            "{inviter}, an administrator of {customer}, sent you this link to choose a new password for your "
            "account, {email}:\n\n"
            "{link}\n\n"
            "The link works once and expires at {expires}. Your current password works until you choose a "
            "new one. If you did not expect this, ask your administrator.\n",
        ),
        "link_account": Template(
            "Link your accounts?",
            "Hello,\n\n"
            "Someone signed in to another account ({link_from}, of {customers}) asked for a two-factor login "
            "invitation to be sent to this address, {email}. It already belongs to your account, so no second "
            "account was set up for it.\n\n"
            "If that was you, you can have one account for both: open this link, sign in to this address's "
            "account (with its second factor, if it has one) and accept. The other account's customers then "
            "move to this account, and the other account can no longer sign in.\n\n"
            "{link}\n\n"
            "The link works once and expires at {expires}. If it wasn't you, ignore this message: nothing "
            "changes unless you accept.\n",
        ),
        "join_customer": Template(
            "Invitation to join {customer}",
            "Hello,\n\n"
            "{inviter} invited your account, {email}, to join {customer}. You become a member only when you "
            "accept: open this link, sign in to your account and accept.\n\n"
            "{link}\n\n"
            "The link works once and expires at {expires}. If you do not want to join, ignore this message.\n",
        ),
        "account_invitation_password": Template(
            "Your account at {customer}",
            "Hello,\n\n"
            "{inviter} created an account for you, {email}, at {customer}. Choose your password with this "
            "link, then sign in with your address and that password:\n\n"
            "{link}\n\n"
            "The link works once and expires at {expires}.\n",
        ),
        "notice_invitation_elsewhere": Template(
            "An invitation for your account went to another address",
            "Hello,\n\n"
            "An invitation to set up two-factor login for your account was sent to {new_address}. "
            "If it is used, that address becomes your account's email address.\n\n"
            "If this wasn't you, someone knows your password. Open this link to stop the change, sign out "
            "everywhere and choose a new password:\n\n"
            "{link}\n\n"
            "The link works once and expires at {expires}. If it was you, you can ignore this message.\n",
        ),
        "notice_address_changed": Template(
            "Your account's email address was changed",
            "Hello,\n\n"
            "Your account's email address was changed to {new_address}. Messages about the account go there "
            "from now on.\n\n"
            "If this wasn't you, open this link to sign out everywhere, lock the password until it is reset "
            "and tell your administrators:\n\n"
            "{link}\n\n"
            "The link works once and expires at {expires}.\n",
        ),
        "notice_password_changed": Template(
            "Your password was changed",
            "Hello,\n\n"
            "The password of your account was changed, and every other session of the account was signed out.\n\n"
            "If this wasn't you, someone is signed in to your account. Open this link to sign out everywhere, "
            "lock the password until it is reset and tell your administrators:\n\n"
            "{link}\n\n"
            "The link works once and expires at {expires}.\n",
        ),
        "notice_password_reset": Template(
            "Your password was reset",
            "Hello,\n\n"
            "The password of your account was reset with a link sent to this address, and every session of "
            "the account was signed out.\n\n"
            "If this wasn't you, someone can read this mailbox or used a link from it. Change the mailbox's own "
            "password, then open this link to sign out everywhere, lock the password until it is reset again "
            "and tell your administrators:\n\n"
            "{link}\n\n"
            "The link works once and expires at {expires}.\n",
        ),
        "email_change": Template(
            "Confirm your new email address",
            "Hello,\n\n"
            "You asked to make {email} your account's email address. Open this link to confirm it:\n\n"
            "{link}\n\n"
            "The link works once and expires at {expires}.\n"
            "If you did not ask for this, you can ignore this message: nothing changes.\n",
        ),
        "notice_email_change_requested": Template(
            "A new email address was requested for your account",
            "Hello,\n\n"
            "Someone signed in to your account asked to change its email address to {new_address}. A link "
            "to confirm it went there; the change is made only when that link is opened.\n\n"
            "If this wasn't you, someone is signed in to your account. Open this link to stop the change, "
            "sign out everywhere and choose a new password:\n\n"
            "{link}\n\n"
            "The link works once and expires at {expires}. If it was you, you can ignore this message.\n",
        ),
        "email_change_address_in_use": Template(
            "Your address was typed in for another account",
            "Hello,\n\n"
            "Someone signed in to another account asked to make this address, {email}, that account's "
            "email address. It already belongs to your account, so nothing was sent to confirm it and "
            "your account is unchanged.\n\n"
            "If that was you with a second account, it keeps its own address. Otherwise you can ignore "
            "this message.\n",
        ),
        "password_reset": Template(
            "Choose a new password",
            "Hello,\n\n"
            "Open this link to choose a new password for your account:\n\n"
            "{link}\n\n"
            "The link works once and expires at {expires}. Signing in still needs your second factor, if "
            "you have one.\n"
            "If you did not ask for this, you can ignore this message.\n",
        ),
    },
    "fi": {
        "invitation": Template(
            "Kutsu: ota kaksivaiheinen kirjautuminen käyttöön",
            "Hei,\n\n"
            "Sinut on kutsuttu ottamaan kaksivaiheinen kirjautuminen käyttöön tilillesi {email}.\n"
            "Jatka avaamalla tämä linkki:\n\n"
            "{link}\n\n"
            "Linkki toimii kerran ja vanhenee {expires}.\n"
            "Jos et pyytänyt kutsua, voit jättää tämän viestin huomiotta.\n",
        ),
        "enrollment_code": Template(
            "Varmistuskoodisi",
            "Ota tämä sähköpostiosoite käyttöön kaksivaiheisessa kirjautumisessa syöttämällä varmistuskoodi:\n\n"
            "{code}\n\n"
            "Koodi on voimassa {expires} asti.\n"
            "Jos et pyytänyt koodia, voit jättää tämän viestin huomiotta.\n",
        ),
        "login_code": Template(
            "Kirjautumisen varmistuskoodi",
            "Viimeistele kirjautuminen syöttämällä tämä varmistuskoodi:\n\n"
            "{code}\n\n"
            "Koodi on voimassa {expires} asti.\n"
            "Jos et yrittänyt kirjautua, joku saattaa tietää salasanasi: vaihda se tilisi sivulla kohdassa "
            "Tietoturva.\n",
        ),
        "factor_added": Template(
            "Tiliisi lisättiin tunnistautumistapa",
            "Tilisi kaksivaiheiseen kirjautumiseen lisättiin uusi tapa: {method_name}.\n\n"
            "Jos et tehnyt tätä itse, ota heti yhteyttä ylläpitäjään.\n",
        ),
        "factor_removed": Template(
            "Tililtäsi poistettiin tunnistautumistapa",
            "Tilisi kaksivaiheisesta kirjautumisesta poistettiin: {method_name}.\n\n"
            "Jos et tehnyt tätä itse, ota heti yhteyttä ylläpitäjään.\n",
        ),
        "recovery_code_used": Template(
            "Varakoodia käytettiin",
            "Tilillesi kirjauduttiin juuri varakoodilla.\n"
            "Käyttämättömiä varakoodeja on jäljellä: {remaining}.\n"
            "Voit luoda uudet koodit tilisi sivulla kohdassa Tietoturva; vanhat koodit lakkaavat silloin "
            "toimimasta.\n\n"
            "Jos et tehnyt tätä itse, ota heti yhteyttä ylläpitäjään.\n",
        ),
        "recovery_codes_replaced": Template(
            "Varakoodisi uusittiin",
            "Tilillesi luotiin uudet varakoodit; vanhat eivät enää toimi.\n\n"
            "Jos et tehnyt tätä itse, joku on kirjautuneena tilillesi. Avaa tämä linkki: se kirjaa sinut "
            "ulos kaikkialta, lukitsee salasanan, kunnes se vaihdetaan, ja kertoo asiasta ylläpitäjillesi:\n\n"
            "{link}\n\n"
            "Linkki toimii kerran ja vanhenee {expires}.\n",
        ),
        "notice_factor_added": Template(
            "Tiliisi lisättiin tunnistautumistapa",
            "Hei,\n\n"
            "Tilisi kaksivaiheiseen kirjautumiseen lisättiin uusi tapa: {factor}. Sillä voi tästä lähtien "
            "kirjautua tilillesi.\n\n"
            "Jos et tehnyt tätä itse, joku on kirjautuneena tilillesi. Avaa tämä linkki: se kirjaa sinut "
            "ulos kaikkialta, lukitsee salasanan, kunnes se vaihdetaan, ja kertoo asiasta ylläpitäjillesi:\n\n"
            "{link}\n\n"
            "Linkki toimii kerran ja vanhenee {expires}.\n",
        ),
        "notice_factor_removed": Template(
            "Tililtäsi poistettiin tunnistautumistapa",
            "Hei,\n\n"
            "Tilisi kaksivaiheisesta kirjautumisesta poistettiin: {factor}. Sillä ei voi enää kirjautua, "
            "ja tilisi kirjattiin ulos kaikkialta muualta.\n\n"
            "Jos et tehnyt tätä itse, joku on kirjautuneena tilillesi. Avaa tämä linkki: se kirjaa sinut "
            "ulos kaikkialta, lukitsee salasanan, kunnes se vaihdetaan, ja kertoo asiasta ylläpitäjillesi:\n\n"
            "{link}\n\n"
            "Linkki toimii kerran ja vanhenee {expires}.\n",
        ),
        "notice_factor_renamed": Template(
            "Tilisi tunnistautumistapa nimettiin uudelleen",
            "Hei,\n\n"
            'Tilisi tunnistautumistavan {factor} nimi on nyt "{label}".\n\n'
            "Jos et tehnyt tätä itse, joku on kirjautuneena tilillesi. Avaa tämä linkki: se kirjaa sinut "
            "ulos kaikkialta, lukitsee salasanan, kunnes se vaihdetaan, ja kertoo asiasta ylläpitäjillesi:\n\n"
            "{link}\n\n"
            "Linkki toimii kerran ja vanhenee {expires}.\n",
        ),
        "password_reset_by_admin": Template(
            "Valitse uusi salasana",
            "Hei,\n\n"
            "{inviter}, asiakkaan {customer} ylläpitäjä, lähetti sinulle tämän linkin uuden salasanan "
            "valitsemiseksi tilillesi {email}:\n\n"
            "{link}\n\n"
            "Linkki toimii kerran ja vanhenee {expires}. Nykyinen salasanasi toimii, kunnes valitset uuden. "
            "Jos et odottanut tätä, kysy ylläpitäjältäsi.\n",
        ),
        "link_account": Template(
            "Yhdistetäänkö tilisi?",
            "Hei,\n\n"
            "Toiselle tilille ({link_from}, {customers}) kirjautunut pyysi lähettämään kaksivaiheisen "
            "kirjautumisen kutsun tähän osoitteeseen, {email}. Osoite kuuluu jo sinun tilillesi, joten "
            "sille ei luotu toista tiliä.\n\n"
            "Jos se olit sinä, voit käyttää yhtä tiliä molempiin: avaa tämä linkki, kirjaudu tämän osoitteen "
            "tilille (myös sen toisella tunnistautumistavalla, jos sellainen on) ja hyväksy. Toisen tilin "
            "asiakkaat siirtyvät silloin tälle tilille, eikä toisella tilillä voi enää kirjautua.\n\n"
            "{link}\n\n"
            "Linkki toimii kerran ja vanhenee {expires}. Jos se et ollut sinä, jätä viesti huomiotta: mikään "
            "ei muutu, ellet hyväksy.\n",
        ),
        "join_customer": Template(
            "Kutsu: {customer}",
            "Hei,\n\n"
            "{inviter} kutsui tilisi, {email}, asiakkaan {customer} jäseneksi. Sinusta tulee jäsen vasta, kun "
            "hyväksyt kutsun: avaa tämä linkki, kirjaudu tilillesi ja hyväksy.\n\n"
            "{link}\n\n"
            "Linkki toimii kerran ja vanhenee {expires}. Jos et halua liittyä, voit jättää tämän viestin "
            "huomiotta.\n",
        ),
        "account_invitation_password": Template(
            "Tilisi: {customer}",
            "Hei,\n\n"
            "{inviter} loi sinulle tilin, {email}, asiakkaalle {customer}. Valitse salasanasi tällä "
            "linkillä ja kirjaudu sitten osoitteellasi ja sillä salasanalla:\n\n"
            "{link}\n\n"
            "Linkki toimii kerran ja vanhenee {expires}.\n",
        ),
        "notice_invitation_elsewhere": Template(
            "Tilisi kutsu lähetettiin toiseen osoitteeseen",
            "Hei,\n\n"
            "Kutsu ottaa kaksivaiheinen kirjautuminen käyttöön tilillesi lähetettiin osoitteeseen "
            "{new_address}. Jos kutsua käytetään, siitä tulee tilisi sähköpostiosoite.\n\n"
            "Jos et tehnyt tätä itse, joku tietää salasanasi. Pysäytä muutos, kirjaudu ulos kaikkialta ja "
            "valitse uusi salasana avaamalla tämä linkki:\n\n"
            "{link}\n\n"
            "Linkki toimii kerran ja vanhenee {expires}. Jos se olit sinä, voit jättää tämän viestin "
            "huomiotta.\n",
        ),
        "notice_address_changed": Template(
            "Tilisi sähköpostiosoite vaihdettiin",
            "Hei,\n\n"
            "Tilisi sähköpostiosoitteeksi vaihdettiin {new_address}. Tiliä koskevat viestit menevät "
            "jatkossa sinne.\n\n"
            "Jos et tehnyt tätä itse, avaa tämä linkki: se kirjaa sinut ulos kaikkialta, lukitsee "
            "salasanan, kunnes se vaihdetaan, ja kertoo asiasta ylläpitäjillesi:\n\n"
            "{link}\n\n"
            "Linkki toimii kerran ja vanhenee {expires}.\n",
        ),
        "notice_password_reset": Template(
            "Salasanasi vaihdettiin palautuslinkillä",
            "Hei,\n\n"
            "Tilisi salasana vaihdettiin tähän osoitteeseen lähetetyllä linkillä, ja tilin kaikki istunnot "
            "kirjattiin ulos.\n\n"
            "Jos et tehnyt tätä itse, joku pystyy lukemaan tätä postilaatikkoa tai käytti siitä linkkiä. Vaihda "
            "postilaatikon oma salasana ja avaa sitten tämä linkki: se kirjaa sinut ulos kaikkialta, lukitsee "
            "salasanan, kunnes se vaihdetaan uudelleen, ja kertoo asiasta ylläpitäjillesi:\n\n"
            "{link}\n\n"
            "Linkki toimii kerran ja vanhenee {expires}.\n",
        ),
        "notice_password_changed": Template(
            "Salasanasi vaihdettiin",
            "Hei,\n\n"
            "Tilisi salasana vaihdettiin, ja tilin kaikki muut istunnot kirjattiin ulos.\n\n"
            "Jos et tehnyt tätä itse, joku on kirjautuneena tilillesi. Avaa tämä linkki: se kirjaa sinut "
            "ulos kaikkialta, lukitsee salasanan, kunnes se vaihdetaan, ja kertoo asiasta ylläpitäjillesi:\n\n"
            "{link}\n\n"
            "Linkki toimii kerran ja vanhenee {expires}.\n",
        ),
        "email_change": Template(
            "Vahvista uusi sähköpostiosoitteesi",
            "Hei,\n\n"
            "Pyysit, että tilisi sähköpostiosoitteeksi vaihdetaan {email}. Vahvista se avaamalla tämä "
            "linkki:\n\n"
            "{link}\n\n"
            "Linkki toimii kerran ja vanhenee {expires}.\n"
            "Jos et pyytänyt tätä, voit jättää tämän viestin huomiotta: mikään ei muutu.\n",
        ),
        "notice_email_change_requested": Template(
            "Tilillesi pyydettiin uutta sähköpostiosoitetta",
            "Hei,\n\n"
            "Tilillesi kirjautunut pyysi vaihtamaan tilin sähköpostiosoitteeksi {new_address}. Sinne "
            "lähetettiin vahvistuslinkki; osoite vaihtuu vasta, kun linkki avataan.\n\n"
            "Jos et tehnyt tätä itse, joku on kirjautuneena tilillesi. Pysäytä muutos, kirjaudu ulos "
            "kaikkialta ja valitse uusi salasana avaamalla tämä linkki:\n\n"
            "{link}\n\n"
            "Linkki toimii kerran ja vanhenee {expires}. Jos se olit sinä, voit jättää tämän viestin "
            "huomiotta.\n",
        ),
        "email_change_address_in_use": Template(
            "Osoitettasi yritettiin käyttää toiselle tilille",
            "Hei,\n\n"
            "Toiselle tilille kirjautunut pyysi vaihtamaan sen tilin sähköpostiosoitteeksi tämän osoitteen, "
            "{email}. Osoite kuuluu jo sinun tilillesi, joten vahvistuslinkkiä ei lähetetty eikä tilisi "
            "muuttunut.\n\n"
            "Jos se olit sinä toisella tililläsi, sen osoite pysyy ennallaan. Muuten voit jättää tämän "
            "viestin huomiotta.\n",
        ),
        "password_reset": Template(
            "Valitse uusi salasana",
            "Hei,\n\n"
            "Valitse tilillesi uusi salasana avaamalla tämä linkki:\n\n"
            "{link}\n\n"
            "Linkki toimii kerran ja vanhenee {expires}. Kirjautuminen vaatii edelleen toisen "
            "tunnistautumistapasi, jos sinulla on sellainen.\n"
            "Jos et pyytänyt tätä, voit jättää tämän viestin huomiotta.\n",
        ),
    },
}

_FORMATTERS: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {"en": _format_en, "fi": _format_fi}


def _language(locale: str) -> str:
    """Finnish for "fi", "fi-FI" and "fi_FI"; anything unknown means English."""
    language = locale.replace("_", "-").split("-", 1)[0].lower()
    return language if language in TEMPLATES else DEFAULT_LOCALE


def render(template: str, locale: str, **values: Any) -> tuple[str, str]:
    """(subject, body) of `template` in `locale`; an unknown template name is a KeyError (a bug)."""
    language = _language(locale)
    chosen = TEMPLATES[language][template]
    fields = _FORMATTERS[language](values)
    return chosen.subject.format_map(fields), chosen.body.format_map(fields)


class MailService:
    """The core's mailer (the `Mailer` protocol): renders a template and hands it to `deliver_email`.

    Every delivery is bounded by `attempt_seconds`, connection teardown included (S37): whatever the
    transport does, the caller has its answer by then. Mail the core decides on inside a transaction goes
    through the outbox (gql_server/outbox.py) instead, which calls `deliver` after the commit (S36).
    """

    def __init__(self, pm: pluggy.PluginManager, mail_from: str, attempt_seconds: float = MAIL_ATTEMPT_SECONDS) -> None:
        self._pm = pm
        self._mail_from = mail_from
        self._attempt_seconds = attempt_seconds
        # Message-IDs name the sender's domain rather than this host's name, which is nobody's business.
        self._msgid_domain = parseaddr(mail_from)[1].rpartition("@")[2] or None

    @property
    def attempt_seconds(self) -> float:
        """The bound on one delivery attempt (S37)."""
        return self._attempt_seconds

    def build(self, template: str, *, to: str, locale: str, **values: object) -> EmailMessage:
        """The message `send` would deliver (plain text, UTF-8)."""
        subject, body = render(template, locale, **values)
        message = EmailMessage()
        message["From"] = self._mail_from
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = formatdate(localtime=False, usegmt=True)
        message["Message-ID"] = make_msgid(domain=self._msgid_domain)
        message[TEMPLATE_HEADER] = template
        message.set_content(body, subtype="plain", charset="utf-8")
        return message

    async def send(self, template: str, *, to: str, locale: str, **values: object) -> None:
        """Render and deliver now; raise MailNotDelivered when no transport takes the message in time.

        For mail that needs no transaction (a login code a method sends); never call it inside one (S36).
        """
        await self.deliver(self.build(template, to=to, locale=locale, **values))

    async def deliver(self, message: EmailMessage) -> None:
        """Hand a built message to `deliver_email`, within `attempt_seconds`; MailNotDelivered otherwise."""
        template = str(message.get(TEMPLATE_HEADER, ""))
        # With tracing on: the transport's time, failed (with the reason) when the message did not go out.
        with spans.span("mail.deliver", {"gql.mail.template": template}):
            try:
                async with asyncio.timeout(self._attempt_seconds):
                    result = self._pm.hook.deliver_email(message=message)
                    if result is None:
                        raise MailNotDelivered(f"no deliver_email plugin took the {template!r} message")
                    if inspect.isawaitable(result):
                        await result
            except BaseException as exc:
                # Cancellation too: a message whose delivery was cut off did not go out.
                metrics.MAIL_DELIVERIES.labels(template=template, result="failed").inc()
                if isinstance(exc, MailNotDelivered) or not isinstance(exc, Exception):
                    raise
                raise _not_delivered(template, exc) from exc
        metrics.MAIL_DELIVERIES.labels(template=template, result="sent").inc()


def _not_delivered(template: str, exc: Exception) -> MailNotDelivered:
    """What a transport's failure means for the caller: retry later, or not (a permanent refusal)."""
    if isinstance(exc, TimeoutError):
        return MailNotDelivered(f"the {template!r} message was not accepted within the time allowed")
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        permanent = all(500 <= refusal.code < 600 for refusal in exc.recipients)
        return MailNotDelivered(f"the {template!r} message was refused by the mail server", retryable=not permanent)
    if isinstance(exc, aiosmtplib.SMTPResponseException) and 500 <= exc.code < 600:
        return MailNotDelivered(
            f"the {template!r} message was refused by the mail server ({exc.code})", retryable=False
        )
    # Whatever the transport (SMTP, a plugin): the caller learns that the mail did not go out, and the
    # operator finds the cause in the log.
    return MailNotDelivered(f"the {template!r} message could not be delivered: {exc!r}")
