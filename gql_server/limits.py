"""Every number the service enforces or waits by, each under the rule it serves (R = product.md,
S = security.md, P = performance.md of the product contract).

This is the only place such a number is written. The services import their constants from here, and
the settings (gql_server/settings.py) take their defaults from here; a constant marked `setting:` is the
default of that setting and can be changed through its environment variable, the others are fixed by
their rule. tests/test_limits.py keeps it so: every constant names a rule, the settings' defaults are
these values, and no other module of the package writes a numeric limit of its own.

Not here: the parameters of a second-factor method (TOTP's S9 digits and step, S11's recovery codes) live
with the method's plugin, which sees only the plugin contract; and facts of a format rather than rules of
this service (RFC 5321's address lengths in emails.py, column widths in models.py, HTTP status codes).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final

# --- Password step (R12) ----------------------------------------------------------------------------

# S4: consecutive wrong passwords that lock the password step.
PASSWORD_ATTEMPTS: Final = 3
# S4, S6: the first lock of a step; each further lockout before a success doubles it.
FIRST_LOCK: Final = timedelta(minutes=1)
# S4, S6: the doubling stops here.
LONGEST_LOCK: Final = timedelta(hours=1)
# S2: the shortest password accepted when one is set (counted after NFKC, S31).
PASSWORD_MIN_LENGTH: Final = 8
# S2: the longest password looked at, on set and on login: long enough for passphrases, short enough that
# hashing cannot be used as a DoS lever.
PASSWORD_MAX_LENGTH: Final = 1024
# S1: argon2id memory in KiB (OWASP Password Storage Cheat Sheet's first argon2id row: m=19 MiB, t=2, p=1).
ARGON2_MEMORY_KIB: Final = 19456
# S1: argon2id passes.
ARGON2_TIME_COST: Final = 2
# S1: argon2id lanes.
ARGON2_PARALLELISM: Final = 1
# P4, setting: PASSWORD_HASH_QUEUE. Logins that may wait for a hashing thread beyond those hashing; past
# that, login answers TooManyAttempts at once. (PASSWORD_HASH_CONCURRENCY, P1, defaults to the CPUs this
# process may use: a count of the machine, not a number of ours, see settings.usable_cpus.)
PASSWORD_HASH_QUEUE: Final = 64
# P4, setting: PASSWORD_BUSY_PAUSE_SECONDS. A login refused because hashing is saturated is answered after
# this pause (or its retry-after, when shorter): a client that retries at once cannot turn refusals into a
# flood of their own that starves everyone else's requests; a pause costs a timer, not the event loop.
PASSWORD_BUSY_PAUSE_SECONDS: Final = 1.0
# P4: the first estimate of one hash's cost in seconds (for the queue's retry-after), until hashes are timed.
INITIAL_SECONDS_PER_HASH: Final = 0.025
# P4: the weight of the newest hash in the moving average of hash durations.
HASH_TIME_SMOOTHING: Final = 0.1
# P4: how much lower the hashing threads' priority is than the event loop's (Linux nice levels).
HASH_THREAD_NICENESS: Final = 19

# --- Second factor (R12) ----------------------------------------------------------------------------

# S5: wrong codes a login challenge allows; then it is dead and the user logs in again.
CHALLENGE_ATTEMPTS: Final = 5
# S5: how long a login challenge (the step between password and second factor) lives.
CHALLENGE_LIFETIME: Final = timedelta(minutes=10)
# S10: codes one challenge may have sent: enough for "I did not get it", too few to flood an inbox.
CODES_PER_CHALLENGE: Final = 5
# S6: consecutive wrong codes, across challenges, that lock the second-factor step (backoff as S4).
SECOND_FACTOR_ATTEMPTS: Final = 10
# S41 (63B 5.2.2): wrong codes in a row, across lockouts, after which only a recovery code (or a passkey) signs in.
STREAK_CAP: Final = 100
# S10: digits of an email (or other delivered) code.
CODE_DIGITS: Final = 6
# R6 (the code a user types), issue 16: the longest code field a method may describe to clients
# (MethodUI.code); a longer "code" is no code a person types (a browser prompt's JSON answer has no field).
MAX_CODE_LENGTH: Final = 64
# S10: how long a delivered code is valid.
CODE_LIFETIME: Final = timedelta(minutes=10)

# --- Attempts that never get a verdict (S35) -------------------------------------------------------

# S35: a reservation older than this belongs to a request that died. No request lives this long: a login
# waits at most a second or two for a hashing thread (P4's bounded queue), a plugin call is cut off at
# PLUGIN_TIMEOUT_SECONDS (10 s), and a stopping server cancels what still runs after
# GRACEFUL_SHUTDOWN_SECONDS (25 s); two minutes is four times the sum of the three.
RESERVATION_LIFETIME: Final = timedelta(minutes=2)
# S35: how long a request waits for a place while every place is held by other requests in flight.
PLACE_WAIT_SECONDS: Final = 2.0
# S35: its first pause between looks for a place (doubling).
FIRST_PAUSE_SECONDS: Final = 0.02
# S35: its longest pause between looks.
LONGEST_PAUSE_SECONDS: Final = 0.4
# S35: the retry-after of the TooManyAttempts answered when no place freed up.
FULL_RETRY_AFTER_SECONDS: Final = 2
# S38: how long a stopping process lets the verdicts and releases of cancelled requests finish.
SETTLE_SECONDS: Final = 5.0

# --- Conversion and enrollment (R4, R5) -------------------------------------------------------------

# S12, setting: TICKET_MINUTES. How long the ticket of ConversionRequired lets the user ask for an invitation.
TICKET_MINUTES: Final = 15
# S13: how long an invitation link works.
INVITATION_LIFETIME: Final = timedelta(hours=72)
# S13: invitations one user may have sent per hour: re-sending is help, not a mail cannon.
INVITATIONS_PER_HOUR: Final = 5
# S15: how long an enrollment (a factor begun, not yet confirmed) lives.
ENROLLMENT_LIFETIME: Final = timedelta(minutes=15)
# S15: wrong codes an enrollment allows before it is dead (the same budget as a login challenge, S5).
ENROLLMENT_ATTEMPTS: Final = 5
# S15: enrollments a user may begin per hour: each may send a code.
ENROLLMENTS_PER_HOUR: Final = 10
# S13, S15: the window INVITATIONS_PER_HOUR and ENROLLMENTS_PER_HOUR count in; a user over either limit
# is told to wait the whole window (its retry-after).
PER_HOUR_WINDOW: Final = timedelta(hours=1)

# --- Tokens and sessions ----------------------------------------------------------------------------

# S16, S13: random bytes of every token (256 bits, twice the 128 the contract asks for).
TOKEN_BYTES: Final = 32
# S17, setting: SESSION_IDLE_MINUTES. A two-factor session ends after this long unused (63B-3 AAL2).
SESSION_IDLE_MINUTES: Final = 30
# S17, setting: SESSION_ABSOLUTE_HOURS. A session ends this long after its login, however busy.
SESSION_ABSOLUTE_HOURS: Final = 12
# P2: a session's last_seen_at is written at most this often, so that reads do not turn into writes.
SESSION_TOUCH_INTERVAL: Final = timedelta(seconds=60)
# R17: the User-Agent kept with a session (to tell the user's sessions apart); longer ones are cut.
SESSION_USER_AGENT_MAX_LENGTH: Final = 512
# R17: a client address as text, IPv6 included ("ffff:...:255.255.255.255" is 45 characters).
IP_ADDRESS_MAX_LENGTH: Final = 45
# R13: how long a "this wasn't me" link works.
REPORT_LIFETIME: Final = timedelta(days=7)
# R16: how long a password-reset link works (once).
RESET_LIFETIME: Final = timedelta(hours=1)
# R14: how recently a session's second factor must have been verified for a sensitive operation.
STEP_UP_WINDOW: Final = timedelta(minutes=10)
# R14, S5: wrong step-up codes one session may enter; the last of them ends the session (sign in again).
STEP_UP_ATTEMPTS: Final = 5
# R15: the longest name a user may give a factor.
FACTOR_LABEL_MAX_LENGTH: Final = 64
# R13: how long the link mailed to a new address (to prove it) works.
EMAIL_CHANGE_LIFETIME: Final = timedelta(hours=24)
# R13: email changes one account may start in an hour (each mails two addresses).
EMAIL_CHANGES_PER_HOUR: Final = 5
# R18: the largest rememberDeviceDays a customer may set.
REMEMBER_DEVICE_MAX_DAYS: Final = 30
# S23: the shortest SECRET_KEY accepted (also the shortest old key a rotation accepts).
SECRET_KEY_MIN_LENGTH: Final = 32

# --- Requests ---------------------------------------------------------------------------------------

# S27: the longest Accept header /graphql reads (characters). Reading one costs the event loop time in
# proportion to its length, and no client needs more than a few media ranges: a longer one is refused with
# 431 before it is read (a security review stalled every request with a 4 MiB header).
ACCEPT_MAX_LENGTH: Final = 1024
# S27: the longest query string /auth/check reads (bytes): a route's requirements (assurance, customer, level)
# take under 100; a longer one is a 400 before it is parsed.
FORWARD_AUTH_QUERY_MAX_LENGTH: Final = 256
# S27, setting: MAX_REQUEST_BODY_BYTES. Larger bodies are refused with 413 before they are read whole
# (1 MiB: the largest document S7 lets through is a few kilobytes).
MAX_REQUEST_BODY_BYTES: Final = 1024 * 1024
# S7: aliases per document, so that aliases cannot multiply attempts.
MAX_ALIASES: Final = 5
# S7: query depth.
MAX_DEPTH: Final = 10
# S7: tokens per document.
MAX_TOKENS: Final = 2000
# P2: distinct query texts whose parse and validation are cached; a frontend sends a few dozen, and the
# bound stops unique texts from growing memory.
DOCUMENT_CACHE_SIZE: Final = 256
# S26: the most audit events one page of the audit log returns.
AUDIT_PAGE_MAX: Final = 500
# R19: the most members one page of `customer.members` returns.
MEMBERS_PAGE_MAX: Final = 100
# R19: the members page size when the caller names none (the contract's default).
MEMBERS_PAGE_DEFAULT: Final = 50
# S26: the audit log's page size when the caller names none.
AUDIT_PAGE_DEFAULT: Final = 50

# R5, R15: the longest message an InvalidInput about enrollment input carries (it may quote the schema).
ENROLLMENT_INPUT_MESSAGE_MAX_LENGTH: Final = 300
# R5, R15, S37: the largest enrollment `input` (as JSON) the core validates; beyond it InvalidInput at once, so
# that checking a user's input against a method's schema stays a bounded cost on the event loop.
ENROLLMENT_INPUT_MAX_BYTES: Final = 4096
# S37: the most validation errors of one `input` looked at to choose the one answered.
ENROLLMENT_INPUT_ERRORS_LOOKED_AT: Final = 20
# S22, S37: the largest options a challenge-response method may hand the client (JSON); more is its failure.
CLIENT_OPTIONS_MAX_BYTES: Final = 65536
# S5: challenges a challenge-response method may begin on one login challenge or step-up token.
CHALLENGES_PER_TOKEN: Final = 10

# --- Per client address (R12: the limits hold however requests are spread), "N/second|minute|hour" ---

# R12, setting: RATE_LIMIT_LOGIN.
RATE_LIMIT_LOGIN: Final = "30/minute"
# R12, setting: RATE_LIMIT_VERIFY_SECOND_FACTOR.
RATE_LIMIT_VERIFY_SECOND_FACTOR: Final = "30/minute"
# R12, setting: RATE_LIMIT_SEND_LOGIN_CODE.
RATE_LIMIT_SEND_LOGIN_CODE: Final = "10/minute"
# R12, setting: RATE_LIMIT_REQUEST_CONVERSION.
RATE_LIMIT_REQUEST_CONVERSION: Final = "10/minute"
# R13, setting: RATE_LIMIT_REPORT_UNRECOGNIZED_CHANGE.
RATE_LIMIT_REPORT_UNRECOGNIZED_CHANGE: Final = "10/minute"
# R16, setting: RATE_LIMIT_CHANGE_PASSWORD (a current password is checked: the S4 lockout counts too).
RATE_LIMIT_CHANGE_PASSWORD: Final = "10/minute"  # noqa: S105 (a rate, not a secret)
# R13, setting: RATE_LIMIT_CONFIRM_EMAIL_CHANGE (the link mailed to a new address).
RATE_LIMIT_CONFIRM_EMAIL_CHANGE: Final = "10/minute"
# R16: reset links one account may be sent in an hour (beyond it, requests are answered alike and send nothing).
PASSWORD_RESETS_PER_HOUR: Final = 5
# R16, setting: RATE_LIMIT_REQUEST_PASSWORD_RESET.
RATE_LIMIT_REQUEST_PASSWORD_RESET: Final = "10/minute"  # noqa: S105 (a rate, not a secret)
# R16, setting: RATE_LIMIT_RESET_PASSWORD.
RATE_LIMIT_RESET_PASSWORD: Final = "10/minute"  # noqa: S105 (a rate, not a secret)
# R14, setting: RATE_LIMIT_REAUTHENTICATE.
RATE_LIMIT_REAUTHENTICATE: Final = "30/minute"
# R14, setting: RATE_LIMIT_SEND_REAUTHENTICATION_CODE.
RATE_LIMIT_SEND_REAUTHENTICATION_CODE: Final = "10/minute"
# --- Per customer admin (R19: keyed by the admin's account, wherever their requests come from) -------

# R19, setting: RATE_LIMIT_INVITE_USER (each sends a mail to an address the admin chose).
RATE_LIMIT_INVITE_USER: Final = "100/hour"
# R19, setting: RATE_LIMIT_RESEND_INVITATION (each member's own INVITATIONS_PER_HOUR counts too).
RATE_LIMIT_RESEND_INVITATION: Final = "60/hour"
# R19, setting: RATE_LIMIT_SEND_PASSWORD_RESET (each member's own PASSWORD_RESETS_PER_HOUR counts too).
RATE_LIMIT_SEND_PASSWORD_RESET: Final = "60/hour"  # noqa: S105 (a rate, not a secret)
# R12: how long the limiter counts in-process before asking a failed Redis again.
REDIS_RETRY_SECONDS: Final = 5.0
# S37: connecting to Redis and each command, at most: an unreachable Redis costs a request this, not a hang.
REDIS_TIMEOUT_SECONDS: Final = 0.5

# --- Mail (S36, S37) --------------------------------------------------------------------------------

# S36, setting: MAIL_WAIT_SECONDS. How long a request waits for the mail it wrote before answering that
# it is queued; the outbox keeps trying after that.
MAIL_WAIT_SECONDS: Final = 5.0
# S37: the longest one delivery attempt may take, whatever the transport, set-up and teardown included.
MAIL_ATTEMPT_SECONDS: Final = 15.0
# S37: one SMTP session, connection to accepted message, at most.
SMTP_TIMEOUT_SECONDS: Final = 10.0
# S37: the polite QUIT after it, at most.
SMTP_QUIT_SECONDS: Final = 1.0
# S36: how long a process holds a message it is sending; longer than one bounded attempt.
OUTBOX_CLAIM: Final = timedelta(seconds=60)
# S36: delays between delivery attempts (then the last one, again and again).
OUTBOX_RETRY_DELAYS: Final = (
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(minutes=30),
    timedelta(hours=1),
)
# S36: a message not delivered this long after it was written is given up.
OUTBOX_GIVE_UP_AFTER: Final = timedelta(hours=24)
# S36: how often the outbox worker looks for due messages.
OUTBOX_POLL_SECONDS: Final = 2.0
# S36: messages the worker takes at once.
OUTBOX_BATCH: Final = 20
# S36: how long the row of a sent or given-up message is kept (its message is erased at once).
OUTBOX_KEEP_FINISHED: Final = timedelta(days=7)
# S36: how often finished rows older than OUTBOX_KEEP_FINISHED are deleted.
OUTBOX_FORGET_EVERY: Final = timedelta(hours=1)
# S38: how long a stopping process lets deliveries in flight finish; the rest stay due for another process.
# Short, because it comes after the requests' own graceful shutdown.
OUTBOX_STOP_SECONDS: Final = 3.0

# --- Plugins and operations -------------------------------------------------------------------------

# S37, setting: GQL_SERVER_PLUGIN_TIMEOUT_SECONDS. The longest wait for a plugin's begin_enrollment,
# send_code or verify before it counts as failed.
PLUGIN_TIMEOUT_SECONDS: Final = 10.0
# S37: threads for plugin calls per process: enough for many slow-but-async calls at once and for a few
# blocked ones; calls past that fail at once instead of queueing.
PLUGIN_THREADS: Final = 16
# S38, setting: GRACEFUL_SHUTDOWN_SECONDS. How long a stopping server lets in-flight requests finish;
# below the 30 s Kubernetes and Docker wait between SIGTERM and SIGKILL.
GRACEFUL_SHUTDOWN_SECONDS: Final = 25
# S38: with tracing on, how long a stopping process waits for the collector to take the spans it has not sent
# yet (a batch goes in milliseconds to a collector nearby). GRACEFUL_SHUTDOWN_SECONDS, OUTBOX_STOP_SECONDS and
# this add up to 29 s at most: below the 30 s Kubernetes and Docker wait before SIGKILL.
TRACES_FLUSH_SECONDS: Final = 1.0
# S39: a readiness probe that waits longer than this counts as failed (a load balancer's own timeout is short).
HEALTH_CHECK_TIMEOUT_SECONDS: Final = 2.0
