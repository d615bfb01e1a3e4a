"""Only the carrier may drive a call: every webhook request must carry a valid
X-Twilio-Signature (when TWILIO_AUTH_TOKEN is set)."""

from __future__ import annotations

import functools
import hmac
import logging
from collections.abc import Callable
from urllib.parse import unquote, urlsplit

import click
from flask import Flask, Request, Response, current_app, request
from flask.sessions import SecureCookieSessionInterface
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import CombinedMultiDict, ImmutableMultiDict, MultiDict
from werkzeug.exceptions import BadRequest
from werkzeug.utils import cached_property

from limits import json_refused
from records.patients import mask
from settings import ConfigError, Environment

log = logging.getLogger(__name__)
# Twilio's requests are a few dozen short fields; the longest (SpeechResult, an SMS Body of
# at most 1,600 characters) keep a whole request within a few KiB.
WEBHOOK_MAX_BYTES = 64 * 1024


def public_url(request: Request, public_base_url: str | None) -> str:
    """The URL exactly as the carrier called it, which is what it signed.

    Behind a TLS-terminating proxy the app sees http://internal-host; ProxyFix
    corrects that from X-Forwarded-*, and PUBLIC_BASE_URL, when set, wins.
    The raw query string is used so no re-encoding changes what was signed."""
    base = (public_base_url or f"{request.scheme}://{request.host}{request.script_root}").rstrip("/")
    query = request.query_string.decode("latin-1")
    return f"{base}{request.path}" + (f"?{query}" if query else "")


def is_signed(request: Request, auth_token: str, public_base_url: str | None) -> bool:
    """Whether the carrier signed this request.  Without a signature header nothing of the
    body is read (nor logged): anyone can post 100 MiB, and reading it to refuse it is
    what the attacker wants."""
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature:
        log.warning(
            "rejected unsigned or forged webhook: %s %s from %s (no signature: body not read)",
            request.method,
            request.path,
            request.remote_addr,
        )
        return False
    url = public_url(request, public_base_url)
    params = _fields_as_sent(request) if request.method == "POST" else _Signed()
    if _signs(auth_token, url, params, signature):
        return True
    log.warning(
        "rejected unsigned or forged webhook: %s %s from %s (call %s, caller %s)",
        request.method,
        request.path,
        request.remote_addr,
        (request.values.get("CallSid") or "-")[:40],
        mask(request.values.get("From")),
    )
    return False


def _signs(auth_token: str, url: str, fields: _Signed, signature: str) -> bool:
    """Whether `signature` is the carrier's for this URL and form: one HMAC for what Twilio
    sends (the public URL as configured).  twilio's RequestValidator.validate always
    computes two (the URL with and without its default port, since Twilio has signed
    both ways); here the other form is tried only when the first does not match, so only
    a forged request (or one signed the other way) costs a second.  The HMAC itself is
    still twilio's (compute_signature), given the form as `_Signed` values."""
    validator = _validator(auth_token)
    if hmac.compare_digest(validator.compute_signature(url, fields).encode(), signature.encode()):
        return True
    other = _other_port_form(url)
    return other is not None and hmac.compare_digest(
        validator.compute_signature(other, fields).encode(), signature.encode()
    )


@functools.lru_cache(maxsize=4)
def _validator(auth_token: str) -> RequestValidator:
    return RequestValidator(auth_token)


class _Signed(dict):
    """The form as twilio's compute_signature reads it: each name's values, by `getall`.
    Given a werkzeug MultiDict, it asks `getall` first and falls back to `getlist` on the
    AttributeError, an exception raised for every field of every webhook."""

    @classmethod
    def of(cls, fields: MultiDict | list[tuple[str, str]]) -> _Signed:
        if isinstance(fields, MultiDict):
            return cls(fields.lists())
        signed = cls()
        for name, value in fields:
            signed.setdefault(name, []).append(value)
        return signed

    def getall(self, name: str) -> list[str]:
        return self[name]


def _other_port_form(url: str) -> str | None:
    """The URL with its default port written if it had none, or without it if it had it
    (what RequestValidator's add_port/remove_port give); None for another port."""
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    if parts.port is None and default is not None:
        return parts._replace(netloc=f"{parts.netloc}:{default}").geturl()
    if parts.port is not None and parts.port == default:
        return parts._replace(netloc=parts.netloc.rsplit(":", 1)[0]).geturl()
    return None


def _fields_as_sent(request: Request) -> _Signed:
    """The form exactly as the carrier signed it.  `request.form` has NULs taken out
    (HotlineRequest, below), so a signed field holding one would no longer match.
    Parsed once: HotlineRequest builds `request.form` from these same fields."""
    if request.mimetype != "application/x-www-form-urlencoded":
        return _Signed.of(request.form)
    sent = request.__dict__.get("fields_as_sent")
    if sent is None:
        body = request.get_data(cache=True).decode("utf-8", "replace")
        sent = request.__dict__["fields_as_sent"] = form_fields(body)
    return _Signed.of(sent)


def form_fields(body: str) -> list[tuple[str, str]]:
    """parse_qsl(body, keep_blank_values=True): the same fields, parsed in fewer steps (a
    webhook's three dozen fields each went through five functions, issue 17)."""
    fields = []
    for field in body.split("&"):
        if field:
            name, _, value = field.partition("=")
            fields.append((_unquote_plus(name), _unquote_plus(value)))
    return fields


def _unquote_plus(text: str) -> str:
    text = text.replace("+", " ")
    return unquote(text) if "%" in text else text


INSECURE = (
    "WEBHOOKS ARE NOT CHECKED: TWILIO_AUTH_TOKEN is unset and HOTLINE_INSECURE_WEBHOOKS=1, so anyone "
    "who can reach this server can drive calls, read out the menus' answers and book in patients' names. "
    "Set TWILIO_AUTH_TOKEN (the Twilio console, Account Info) and remove HOTLINE_INSECURE_WEBHOOKS."
)
REFUSED = (
    "TWILIO_AUTH_TOKEN is not set, so the webhooks could not tell Twilio from anyone else "
    "(X-Twilio-Signature).  Set TWILIO_AUTH_TOKEN (the Twilio console, Account Info).  Only for a test "
    "bench on a closed network, HOTLINE_INSECURE_WEBHOOKS=1 starts it anyway."
)


def serving_requests() -> bool:
    """Whether this app is built to serve requests: by gunicorn (or any WSGI server: no
    command line of Flask's) or by `flask run`; not for `flask seed`, `worker`, `cron`,
    `menus check`..., which serve no webhook and need no Twilio token."""
    context = click.get_current_context(silent=True)
    return context is None or context.find_root().invoked_subcommand == "run"


def unchecked_webhooks(env: Environment, serving: bool | None = None) -> str | None:
    """Start-up's verdict on the webhooks' protection: None when signatures are checked (or
    the carrier is the local emulator, TWILIO_API_BASE: the demo and the tests, or the app
    serves no request), the loud warning to log when HOTLINE_INSECURE_WEBHOOKS=1; otherwise
    ConfigError (no start)."""
    if env.twilio_auth_token or env.twilio_api_base:
        return None
    if not (serving_requests() if serving is None else serving):
        return None
    if env.hotline_insecure_webhooks:
        return INSECURE
    raise ConfigError(REFUSED)


def require_signature() -> Response | None:
    """A blueprint's before_request for every Twilio-facing URL (voice and SMS):
    403 unless signed, when TWILIO_AUTH_TOKEN is set.  Bodies are capped at
    WEBHOOK_MAX_BYTES first (RequestEntityTooLarge, 413, beyond), signed or not."""
    sent = request._get_current_object()  # type: ignore[attr-defined]  # read often below: not through the proxy
    sent.max_content_length = WEBHOOK_MAX_BYTES
    env = current_app.extensions["hotline"].settings.env
    if env.twilio_auth_token and not is_signed(sent, env.twilio_auth_token, env.public_base_url):
        return Response("Forbidden: invalid X-Twilio-Signature", status=403, mimetype="text/plain")
    return None


class WithoutNul(ImmutableMultiDict):
    """Form fields and query arguments with NUL characters taken out.  No carrier sends
    them, PostgreSQL text cannot hold them ('cannot contain NUL (0x00) bytes', a 500 at
    the first INSERT), and a NUL in a log line or a URL only ever hides something."""

    def __init__(self, mapping=None):
        if mapping is not None and not isinstance(mapping, dict | MultiDict):
            mapping = list(mapping)
            if _any_nul(mapping):
                mapping = [(_no_nul(key), _no_nul(value)) for key, value in mapping]
        super().__init__(mapping)

    def get(self, key, default=None, type=None):
        return _first((self,), key, default, type)


class Fields(CombinedMultiDict):
    """`request.values` (the query arguments, then the form), with WithoutNul's `get`."""

    def get(self, key, default=None, type=None):
        return _first(self.dicts, key, default, type)


def _first(dicts, key, default, type):
    """werkzeug's MultiDict.get, without its exception: it looks a field up by raising and
    catching a BadRequestKeyError when the field is missing, and most webhooks lack most
    of the fields asked for (Digits, SpeechResult, Confidence, silence, back...): some 1.6
    exceptions a request (issue 17's CPU).  A MultiDict keeps each name's values in a list."""
    for fields in dicts:
        values = dict.get(fields, key)
        if values:
            if type is None:
                return values[0]
            try:
                return type(values[0])
            except (ValueError, TypeError):
                return default
    return default


def _any_nul(pairs: list) -> bool:
    """Whether a NUL is in any field: in one search of them joined (every field of every
    webhook is looked at: cleaning each in turn cost some 3 % of a webhook's CPU, issue 17)."""
    try:
        return "\x00" in "".join([key + value for key, value in pairs])
    except TypeError:  # a value that is not text (none is, from werkzeug's parsers)
        return True


def _no_nul(value):
    return value.replace("\x00", "") if isinstance(value, str) else value


class HotlineRequest(Request):
    parameter_storage_class = WithoutNul

    @cached_property
    def values(self) -> Fields:
        """werkzeug's `values` (the query arguments, and the form unless a GET), as Fields."""
        return Fields([self.args] if self.method == "GET" else [self.args, self.form])

    def _load_form_data(self) -> None:
        """The form from the fields the signature check has already parsed (once per
        request), NULs taken out; any other request's form is werkzeug's."""
        sent = self.__dict__.get("fields_as_sent")
        if sent is None:
            return super()._load_form_data()
        self.__dict__["form"] = WithoutNul(sent)
        self.__dict__["files"] = ImmutableMultiDict()
        return None

    def on_json_loading_failed(self, e: ValueError | None):
        """A JSON body that cannot be read is a 400 that says why, in both languages
        (too deeply nested, or not JSON at all: limits.py)."""
        if e is None:  # not sent as JSON: werkzeug's 415
            return super().on_json_loading_failed(e)
        raise BadRequest(json_refused(e))


# ---- Twilio's requests skip the staff pages' machinery ------------------------------------


def is_webhook(path: str) -> bool:
    """Twilio's URLs (voice, SMS, follow-up call status): all under /ivr/."""
    return path.startswith("/ivr/")


class StaffSessions(SecureCookieSessionInterface):
    """Staff sessions (the login cookie); the carrier has none, so its requests get
    Flask's null session: no cookie read, signed or sent."""

    def open_session(self, app: Flask, request: Request):
        if is_webhook(request.path):
            return self.make_null_session(app)
        return super().open_session(app, request)


def staff_pages_only(app: Flask, webhooks_need: tuple[Callable, ...]) -> None:
    """Run the app-wide hooks registered so far (Talisman's CSP nonce and headers, CSRF,
    Flask-Login's cookie, the staff session's age limit...) for staff pages only, except
    `webhooks_need` (metrics, Cache-Control: no-store).  The carrier authenticates with
    X-Twilio-Signature (require_signature, on the webhooks' blueprints), reads TwiML, not
    HTML, and keeps no cookie: the rest cost every webhook some 5 % of its CPU (issue 17).
    Consecutive staff hooks become one hook that runs them in the same order (Flask calls
    after_request hooks last first), so a webhook asks once, not once per hook, whether it
    is one.  Called at the end of create_app, so a hook added later is wrapped too."""
    for functions in (app.before_request_funcs, app.after_request_funcs):
        after = functions is app.after_request_funcs
        hooks = functions.get(None, [])
        grouped: list[Callable] = []
        for hook in hooks:
            if hook in webhooks_need:
                grouped.append(hook)
            elif grouped and isinstance(grouped[-1], _StaffHooks):
                grouped[-1].hooks.append(hook)
            else:
                grouped.append(_StaffHooks(hook, after))
        hooks[:] = grouped
    app.session_interface = StaffSessions()


class _StaffHooks:
    """App-wide hooks (in their order of registration) that only staff pages run."""

    def __init__(self, first: Callable, after: bool):
        self.hooks = [first]
        self.after = after

    def __call__(self, *args):
        if is_webhook(request.path):
            return args[0] if self.after else None
        if self.after:  # Flask runs after_request hooks last registered first
            response = args[0]
            for hook in reversed(self.hooks):
                response = current_app.ensure_sync(hook)(response)
            return response
        for hook in self.hooks:
            if (answer := current_app.ensure_sync(hook)()) is not None:
                return answer
        return None
