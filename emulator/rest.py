"""The carrier over HTTP: Twilio's REST API (the parts the hotline uses) and a control API.

REST: /2010-04-01/Accounts/{AccountSid}/... with Basic auth (AccountSid, AuthToken),
form-encoded requests and Twilio-shaped JSON answers, so twilio-python works unchanged.

Control: /_emulator/... lets another process (the terminal phone, a demo script)
dial, press keys, speak, wait and hang up. It is unauthenticated: serve it on
127.0.0.1 only.
"""

from __future__ import annotations

import io
import json
import operator
import wave
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from .carrier import API_VERSION, rfc2822
from .conferencing import BEEP_VALUES, ENDED_BY_API, event_words, flag
from .flow import Fetch
from .model import Conference, EmulatorError, Message, Participant, Queue, Recording

if TYPE_CHECKING:
    from .call import Call
    from .carrier import Carrier

ACCOUNT = f"/{API_VERSION}/Accounts/<account>"
MAX_RECORDING_AUDIO_SECONDS = 300  # the fake WAV never grows past five minutes of silence


class ApiError(Exception):
    """A Twilio-style error answer."""

    def __init__(self, status: int, code: int, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def response(self) -> Response:
        body = {
            "code": self.code,
            "message": self.message,
            "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
            "status": self.status,
        }
        return _json(body, self.status)


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data, ensure_ascii=False), status=status, mimetype="application/json")


def _time(carrier: Carrier, t: float | None) -> str | None:
    return rfc2822(carrier, t) if t is not None else None


# ==== Twilio-shaped resources ==========================================================================
def call_resource(carrier: Carrier, call: Call) -> dict[str, Any]:
    uri = f"/{API_VERSION}/Accounts/{carrier.account_sid}/Calls/{call.sid}"
    number = carrier.numbers.get(call.to if call.direction == "inbound" else call.from_)
    updated = call.log[-1].at if call.log else call.created
    return {
        "sid": call.sid,
        "account_sid": call.account_sid,
        "parent_call_sid": call.parent_sid,
        "to": call.to,
        "to_formatted": call.to,
        "from": call.from_,
        "from_formatted": call.from_,
        "status": call.status,
        "direction": call.direction,
        "answered_by": call.answered_by,
        "start_time": _time(carrier, call.answered_at),
        "end_time": _time(carrier, call.ended_at),
        "duration": str(call.duration) if call.ended else None,
        "date_created": _time(carrier, call.created),
        "date_updated": _time(carrier, updated),
        "api_version": API_VERSION,
        "forwarded_from": None,
        "caller_name": None,
        "queue_time": "0",
        "price": None,
        "price_unit": "USD",
        "phone_number_sid": number.sid if number else None,
        "group_sid": None,
        "trunk_sid": None,
        "uri": uri + ".json",
        "subresource_uris": {
            name: f"{uri}/{name.title().replace('_', '')}.json" for name in ("notifications", "recordings", "events")
        },
    }


def queue_resource(carrier: Carrier, queue: Queue) -> dict[str, Any]:
    uri = f"/{API_VERSION}/Accounts/{carrier.account_sid}/Queues/{queue.sid}"
    return {
        "sid": queue.sid,
        "account_sid": carrier.account_sid,
        "friendly_name": queue.name,
        "current_size": len(queue),
        "max_size": queue.max_size,
        "average_wait_time": queue.average_wait(carrier.clock.time()),
        "date_created": _time(carrier, queue.created),
        "date_updated": _time(carrier, queue.created),
        "uri": uri + ".json",
        "subresource_uris": {"members": uri + "/Members.json"},
    }


def member_resource(carrier: Carrier, queue: Queue, call: Call, position: int | None = None) -> dict[str, Any]:
    now = carrier.clock.time()
    return {
        "call_sid": call.sid,
        "queue_sid": queue.sid,
        "date_enqueued": _time(carrier, queue.enqueued_at.get(call.sid, now)),
        "position": position if position is not None else queue.position(call),
        "wait_time": queue.wait_time(call, now),
        "uri": f"/{API_VERSION}/Accounts/{carrier.account_sid}/Queues/{queue.sid}/Members/{call.sid}.json",
    }


def conference_resource(carrier: Carrier, room: Conference) -> dict[str, Any]:
    uri = f"/{API_VERSION}/Accounts/{carrier.account_sid}/Conferences/{room.sid}"
    return {
        "sid": room.sid,
        "account_sid": room.account_sid,
        "friendly_name": room.friendly_name,
        "status": room.status,
        "region": "us1",
        "api_version": API_VERSION,
        "date_created": _time(carrier, room.created),
        "date_updated": _time(carrier, room.updated),
        "reason_conference_ended": room.reason_ended,
        "call_sid_ending_conference": room.call_sid_ending,
        "uri": uri + ".json",
        "subresource_uris": {"participants": uri + "/Participants.json", "recordings": uri + "/Recordings.json"},
    }


def participant_resource(carrier: Carrier, participant: Participant, created: bool = False) -> dict[str, Any]:
    room = participant.conference
    resource = {
        "account_sid": carrier.account_sid,
        "call_sid": participant.call.sid,
        "label": participant.label,
        "conference_sid": room.sid,
        "status": participant.status,
        "muted": participant.muted,
        "hold": participant.hold,
        "coaching": participant.coaching,
        "call_sid_to_coach": participant.call_sid_to_coach if participant.coaching else None,
        "start_conference_on_enter": participant.start_conference_on_enter,
        "end_conference_on_exit": participant.end_conference_on_exit,
        "date_created": _time(carrier, participant.created),
        "date_updated": _time(carrier, participant.updated),
        "uri": f"/{API_VERSION}/Accounts/{carrier.account_sid}/Conferences/{room.sid}/Participants/"
        f"{participant.call.sid}.json",
    }
    if created:
        resource["queue_time"] = "0"  # "only available in the response to a create participant request"
    return resource


def message_resource(carrier: Carrier, message: Message) -> dict[str, Any]:
    return {
        "sid": message.sid,
        "account_sid": message.account_sid,
        "to": message.to,
        "from": message.from_,
        "body": message.body,
        "status": message.status,
        "num_segments": str(message.num_segments),
        "num_media": "0",
        "direction": "outbound-api",
        "api_version": API_VERSION,
        "price": None,
        "price_unit": "USD",
        "error_code": message.error_code,
        "error_message": None,
        "messaging_service_sid": message.messaging_service_sid,
        "date_created": _time(carrier, message.created),
        "date_updated": _time(carrier, carrier.clock.time()),
        "date_sent": _time(carrier, message.sent),
        "uri": f"/{API_VERSION}/Accounts/{carrier.account_sid}/Messages/{message.sid}.json",
        "subresource_uris": {},
    }


def recording_resource(carrier: Carrier, recording: Recording) -> dict[str, Any]:
    return {
        "sid": recording.sid,
        "account_sid": recording.account_sid,
        "call_sid": recording.call_sid,
        "duration": str(recording.duration),
        "status": recording.status,
        "channels": recording.channels,
        "source": recording.source,
        "start_time": _time(carrier, recording.start),
        "date_created": _time(carrier, recording.start),
        "api_version": API_VERSION,
        "media_url": recording.url,
        "uri": recording.url.split(carrier.api_base, 1)[-1] + ".json",
    }


def describe_call(carrier: Carrier, call: Call) -> dict[str, Any]:
    """A call as the control API and the phone see it."""
    return {
        "sid": call.sid,
        "to": call.to,
        "from": call.from_,
        "direction": call.direction,
        "status": call.status,
        "waiting_for": call.waiting_for,
        "gather": _plain(call.gather),
        "queue": call.queue,
        "conference": call.conference,
        "bridged_with": call.bridged_with.sid if call.bridged_with else None,
        "duration": call.duration,
        "errors": list(call.errors),
        "time": carrier.clock.time(),
        "heard": [utterance_dict(u) for u in call.heard],
    }


def utterance_dict(u: Any) -> dict[str, Any]:
    return {
        "kind": u.kind,
        "text": u.text,
        "language": u.language,
        "voice": u.voice,
        "loop": u.loop,
        "seconds": u.seconds,
        "speaker": u.speaker,
    }


def _plain(value: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if value is None else {k: v for k, v in value.items() if isinstance(v, str | int | float | bool | None)}


DEFAULT_PAGE_SIZE = 50  # Twilio's, when PageSize is not given
MAX_PAGE_SIZE = 1000  # error 20007 above it ("Page size too large")


def _page(key: str, items: list[dict[str, Any]], request: Request) -> dict[str, Any]:
    """One page of a list, as Twilio's 2010 API pages them: `PageSize` (50 by default, at
    most 1000), `Page` (from 0), and the `PageToken` of the page before (or after) it, which
    next_page_uri and previous_page_uri carry: "PA" and the last item's sid on that page
    (the next page starts after it), "PB" and the first (the previous page ends before it),
    so items added meanwhile do not shift the pages being walked.  The URIs keep the
    request's filters."""
    size = _page_size(request.args.get("PageSize"))
    number = int(_number(request.args.get("Page"), 0, "Page"))
    begin, end = _page_bounds(items, request.args.get("PageToken"), number, size)
    shown = items[begin:end]
    filters = [(name, value) for name, value in request.args.items(multi=True)
               if name not in ("Page", "PageSize", "PageToken")]  # fmt: skip

    def uri(page: int, token: str | None = None) -> str:
        query = [*filters, ("PageSize", str(size)), ("Page", str(page))]
        return f"{request.path}?{urlencode(query + ([('PageToken', token)] if token else []))}"

    more = bool(shown) and end < len(items)
    return {
        key: shown,
        "start": number * size,
        "end": number * size + max(len(shown) - 1, 0),
        "page": number,
        "page_size": size,
        "uri": uri(number, request.args.get("PageToken")),
        "first_page_uri": uri(0),
        "next_page_uri": uri(number + 1, "PA" + _item_id(shown[-1])) if more else None,
        "previous_page_uri": uri(number - 1, "PB" + _item_id(shown[0])) if shown and begin > 0 else None,
    }


def _page_size(raw: str | None) -> int:
    size = int(_number(raw, DEFAULT_PAGE_SIZE, "PageSize"))
    if size < 1:
        raise ApiError(400, 20001, f"Invalid PageSize: {raw}")
    if size > MAX_PAGE_SIZE:
        raise ApiError(400, 20007, f"Page size too large. The maximum page size is {MAX_PAGE_SIZE}.")
    return size


def _page_bounds(items: list[dict[str, Any]], token: str | None, number: int, size: int) -> tuple[int, int]:
    """The page's slice: after (PA) or before (PB) the token's item; without a token (or
    with one whose item is gone), the Page-th page of `size`."""
    ids = [_item_id(item) for item in items]
    if token and token[:2] == "PA" and token[2:] in ids:
        begin = ids.index(token[2:]) + 1
        return begin, begin + size
    if token and token[:2] == "PB" and token[2:] in ids:
        end = ids.index(token[2:])
        return max(0, end - size), end
    return number * size, number * size + size


def _item_id(item: dict[str, Any]) -> str:
    return str(item.get("sid") or item.get("call_sid") or "")


def silent_wav(seconds: int) -> bytes:
    """The fake recording's audio: silence, 8 kHz, 8-bit mono."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(1)
        out.setframerate(8000)
        out.writeframes(b"\x80" * 8000 * max(0, min(seconds, MAX_RECORDING_AUDIO_SECONDS)))
    return buffer.getvalue()


# ==== the WSGI app ===================================================================================
class RestApp:
    def __init__(self, carrier: Carrier):
        self.carrier = carrier
        self.routes = Map(
            [
                Rule(f"{ACCOUNT}/Calls.json", endpoint="calls", methods=["GET", "POST"]),
                Rule(f"{ACCOUNT}/Calls/<sid>.json", endpoint="call", methods=["GET", "POST"]),
                Rule(f"{ACCOUNT}/Queues.json", endpoint="queues", methods=["GET", "POST"]),
                Rule(f"{ACCOUNT}/Queues/<sid>.json", endpoint="queue", methods=["GET", "POST"]),
                Rule(f"{ACCOUNT}/Queues/<sid>/Members.json", endpoint="members", methods=["GET"]),
                Rule(f"{ACCOUNT}/Queues/<sid>/Members/<member>.json", endpoint="member", methods=["GET", "POST"]),
                Rule(f"{ACCOUNT}/Conferences.json", endpoint="conferences", methods=["GET"]),
                Rule(f"{ACCOUNT}/Conferences/<sid>.json", endpoint="conference", methods=["GET", "POST"]),
                Rule(
                    f"{ACCOUNT}/Conferences/<sid>/Participants.json", endpoint="participants", methods=["GET", "POST"]
                ),
                Rule(
                    f"{ACCOUNT}/Conferences/<sid>/Participants/<member>.json",
                    endpoint="participant",
                    methods=["GET", "POST", "DELETE"],
                ),
                Rule(f"{ACCOUNT}/Messages.json", endpoint="messages", methods=["GET", "POST"]),
                Rule(f"{ACCOUNT}/Messages/<sid>.json", endpoint="message", methods=["GET"]),
                Rule(f"{ACCOUNT}/Recordings/<sid>.json", endpoint="recording", methods=["GET", "DELETE"]),
                Rule(f"{ACCOUNT}/Recordings/<sid>", endpoint="recording_audio", methods=["GET"]),
                Rule("/_emulator", endpoint="ctl_index", methods=["GET"]),
                Rule("/_emulator/numbers", endpoint="ctl_numbers", methods=["POST"]),
                Rule("/_emulator/endpoints", endpoint="ctl_endpoints", methods=["POST"]),
                Rule("/_emulator/calls", endpoint="ctl_calls", methods=["GET", "POST"]),
                Rule("/_emulator/calls/<sid>", endpoint="ctl_call", methods=["GET"]),
                Rule("/_emulator/calls/<sid>/<action>", endpoint="ctl_call_action", methods=["POST"]),
                Rule("/_emulator/ringing", endpoint="ctl_ringing", methods=["GET"]),
                Rule("/_emulator/queues", endpoint="ctl_queues", methods=["GET"]),
                Rule("/_emulator/messages", endpoint="ctl_messages", methods=["GET"]),
                Rule("/_emulator/advance", endpoint="ctl_advance", methods=["POST"]),
            ],
            strict_slashes=False,
        )

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        try:
            endpoint, args = self.routes.bind_to_environ(environ).match()
            if endpoint.startswith("ctl_"):
                response = self._control(getattr(self, endpoint), request, args)
            else:
                response = self._api(getattr(self, endpoint), request, args, public=endpoint == "recording_audio")
        except NotFound:
            response = ApiError(404, 20404, f"The requested resource {request.path} was not found").response()
        except MethodNotAllowed:
            response = ApiError(405, 20004, "Method not allowed").response()
        except HTTPException as exc:
            response = exc.get_response(environ)  # type: ignore[assignment]
        return response(environ, start_response)

    # ---- plumbing ----
    def _api(self, handler: Callable[..., Response], request: Request, args: dict[str, str], public: bool) -> Response:
        account = args.pop("account")
        try:
            if not public:
                auth = request.authorization
                if (
                    auth is None
                    or auth.username != self.carrier.account_sid
                    or auth.password != self.carrier.auth_token
                ):
                    raise ApiError(401, 20003, "Authenticate")
            if account != self.carrier.account_sid:
                raise ApiError(404, 20404, f"The requested resource {request.path} was not found")
            return handler(request, **args)
        except ApiError as exc:
            return exc.response()

    def _control(self, handler: Callable[..., Response], request: Request, args: dict[str, str]) -> Response:
        try:
            return handler(request, **args)
        except LookupError as exc:
            return _json({"error": str(exc)}, 404)
        except (ValueError, KeyError, TypeError) as exc:
            return _json({"error": f"bad request: {exc}"}, 400)
        except EmulatorError as exc:
            return _json({"error": str(exc)}, 409)

    def _call(self, sid: str) -> Call:
        try:
            return self.carrier.get_call(sid)
        except LookupError:
            raise ApiError(404, 20404, f"The requested resource /Calls/{sid}.json was not found") from None

    def _queue(self, sid: str) -> Queue:
        try:
            return self.carrier.queue_by_sid(sid)
        except LookupError:
            raise ApiError(404, 20404, f"The requested resource /Queues/{sid}.json was not found") from None

    # ---- Calls ----
    def calls(self, request: Request) -> Response:
        carrier = self.carrier
        if request.method == "GET":
            wanted = {key: request.args.get(key) for key in ("To", "From", "Status", "ParentCallSid")}
            calls = [
                c
                for c in list(carrier.calls)
                if (not wanted["To"] or c.to == wanted["To"])
                and (not wanted["From"] or c.from_ == wanted["From"])
                and (not wanted["Status"] or c.status == wanted["Status"])
                and (not wanted["ParentCallSid"] or c.parent_sid == wanted["ParentCallSid"])
                and _when(carrier, c.answered_at if c.answered_at is not None else c.created, request.args, "StartTime")
                and _when(carrier, c.ended_at, request.args, "EndTime")
            ]
            return _json(_page("calls", [call_resource(carrier, c) for c in reversed(calls)], request))
        form = request.form
        to, from_, url, twiml = form.get("To"), form.get("From"), form.get("Url"), form.get("Twiml")
        if not to:
            raise ApiError(400, 21201, "No 'To' number is specified")
        if not from_:
            raise ApiError(400, 21213, "No 'From' number is specified")
        if not url and not twiml:
            raise ApiError(400, 21205, "Url or Twiml parameter is required (ApplicationSid is not emulated)")
        if url and not url.startswith(("http://", "https://")):
            raise ApiError(400, 21205, f"Url is not a valid URL: {url}")
        timeout = _number(form.get("Timeout"), 60, "Timeout")
        call = carrier.new_outbound(
            to,
            from_,
            form.get("StatusCallback"),
            form.getlist("StatusCallbackEvent") or ["completed"],
            form.get("StatusCallbackMethod", "POST"),
            form.get("FallbackUrl"),
            form.get("FallbackMethod", "POST"),
        )
        first = Fetch(url, form.get("Method", "POST").upper()) if url else Fetch(None, twiml=twiml)
        resource = call_resource(carrier, call)  # as created: queued; the call runs after the answer
        carrier.submit(
            lambda: carrier.start_outbound(
                call, first, min(timeout, 600), form.get("MachineDetection"), form.get("SendDigits")
            )
        )
        return _json(resource, 201)

    def call(self, request: Request, sid: str) -> Response:
        call = self._call(sid)
        if request.method == "POST":
            form = request.form
            status = form.get("Status")
            if status and status not in ("canceled", "completed"):
                raise ApiError(400, 21218, f"Invalid Status: {status}")
            url, twiml = form.get("Url"), form.get("Twiml")
            if (url or twiml) and call.status != "in-progress":
                raise ApiError(400, 21220, "Call is not in-progress. Cannot redirect.")
            method = form.get("Method", "POST")
            self.carrier.submit(lambda: self.carrier.update(call, url, twiml, method, status))
        return _json(call_resource(self.carrier, call))

    # ---- Queues ----
    def queues(self, request: Request) -> Response:
        carrier = self.carrier
        if request.method == "GET":
            return _json(_page("queues", [queue_resource(carrier, q) for q in list(carrier.queues.values())], request))
        name = request.form.get("FriendlyName")
        if not name:
            raise ApiError(400, 20001, "Missing required parameter FriendlyName in the post body")
        max_size = int(_number(request.form.get("MaxSize"), 1000, "MaxSize"))
        if name in carrier.queues:  # Twilio's answer to a duplicate name is undocumented; we return the queue
            return _json(queue_resource(carrier, carrier.queues[name]), 201)
        # A new queue is one dict entry: safe to make from this thread, no driving needed.
        return _json(queue_resource(carrier, carrier.queue_named(name, max_size)), 201)

    def queue(self, request: Request, sid: str) -> Response:
        queue = self._queue(sid)
        if request.method == "POST":
            if request.form.get("MaxSize"):
                queue.max_size = int(_number(request.form["MaxSize"], queue.max_size, "MaxSize"))
            if request.form.get("FriendlyName"):
                new = request.form["FriendlyName"]
                self.carrier.queues.pop(queue.name, None)
                queue.name = new
                self.carrier.queues[new] = queue
        return _json(queue_resource(self.carrier, queue))

    def members(self, request: Request, sid: str) -> Response:
        queue = self._queue(sid)
        items = [member_resource(self.carrier, queue, c, i + 1) for i, c in enumerate(list(queue.members))]
        return _json(_page("queue_members", items, request))

    def member(self, request: Request, sid: str, member: str) -> Response:
        queue = self._queue(sid)
        try:
            queue, call = self.carrier.pick_member(queue, member)
        except LookupError:
            raise ApiError(
                404, 20404, f"The requested resource /Queues/{sid}/Members/{member}.json was not found"
            ) from None
        resource = member_resource(self.carrier, queue, call)
        if request.method == "POST":
            url = request.form.get("Url")
            if not url:
                raise ApiError(400, 20001, "Missing required parameter Url in the post body")
            fetch = Fetch(url, request.form.get("Method", "POST").upper())
            self.carrier.submit(lambda: self.carrier.redirect_member(queue, call, fetch))
        return _json(resource)

    # ---- Conferences and their Participants ----
    def _conference(self, sid: str, by_name: bool = False) -> Conference:
        try:
            room = self.carrier.conference(sid)
        except LookupError:
            room = None
        if room is None or (not by_name and room.sid != sid):
            raise ApiError(404, 20404, f"The requested resource /Conferences/{sid}.json was not found")
        return room

    def _existing(self, name: str) -> Conference | None:
        try:
            return self.carrier.conference(name)
        except LookupError:
            return None

    def _member(self, sid: str, member: str) -> Participant:
        found = self._conference(sid).participant(member)
        if found is None:
            raise ApiError(
                404, 20404, f"The requested resource /Conferences/{sid}/Participants/{member}.json was not found"
            )
        return found

    def conferences(self, request: Request) -> Response:
        carrier = self.carrier
        args = request.args
        rooms = [
            room
            for room in list(carrier.conferences.values())
            if args.get("FriendlyName") in (None, room.friendly_name)
            and args.get("Status") in (None, room.status)
            and _on_date(carrier, room.created, args, "DateCreated")
            and _on_date(carrier, room.updated, args, "DateUpdated")
        ]
        rooms.sort(key=lambda room: room.created, reverse=True)
        return _json(_page("conferences", [conference_resource(carrier, room) for room in rooms], request))

    def conference(self, request: Request, sid: str) -> Response:
        carrier = self.carrier
        room = self._conference(sid)
        resource = conference_resource(carrier, room)
        if request.method == "POST":
            form = request.form
            status = form.get("Status")
            if status and status != "completed":
                raise ApiError(400, 20001, f"Invalid Status: {status}")
            if status and room.status != "completed":
                carrier.submit(lambda: carrier.conferencing.end(room, ENDED_BY_API))
                resource.update(status="completed", reason_conference_ended=ENDED_BY_API)
            announce = form.get("AnnounceUrl")
            if announce:
                method = _method(form.get("AnnounceMethod"), "POST", "AnnounceMethod")
                carrier.submit(
                    lambda: carrier.conferencing.announce(
                        room, [p for p in room.connected if not p.hold], announce, method
                    )
                )
        return _json(resource)

    def participants(self, request: Request, sid: str) -> Response:
        carrier = self.carrier
        if request.method == "GET":
            room = self._conference(sid)
            wanted = {
                name: request.args.get(key)
                for name, key in (("muted", "Muted"), ("hold", "Hold"), ("coaching", "Coaching"))
            }
            members = [
                p
                for p in list(room.participants)
                if all(value is None or getattr(p, name) == flag(value, False) for name, value in wanted.items())
            ]
            items = [participant_resource(carrier, p) for p in members]
            return _json(_page("participants", items, request))
        form = request.form
        if not form.get("To"):
            raise ApiError(400, 21201, "No 'To' number is specified")
        if not form.get("From"):
            raise ApiError(400, 21213, "No 'From' number is specified")
        coaching, coached = _coaching(form)
        # `sid` may be a FriendlyName: that conference is found, or created, by name.
        existing = self._conference(sid, by_name=True) if sid.startswith("CF") else self._existing(sid)
        if existing is not None and existing.status == "completed":
            raise ApiError(400, 20001, f"Conference {sid} has ended")
        if coached and (existing is None or existing.participant(coached) is None):
            raise ApiError(400, 20001, f"CallSidToCoach {coached} is not a participant of this conference")
        label = form.get("Label") or None
        if label and existing is not None and existing.participant(label) is not None:
            raise ApiError(400, 20001, f"Label {label!r} is already used in this conference")
        beep = form.get("Beep", "true")
        if beep not in BEEP_VALUES:
            raise ApiError(400, 20001, f"Invalid Beep: {beep}")
        timeout = min(max(_number(form.get("Timeout"), 60, "Timeout"), 5), 600)
        options = {
            "label": label,
            "muted": flag(form.get("Muted"), False),
            "beep": beep,
            "start_conference_on_enter": flag(form.get("StartConferenceOnEnter"), True),
            "end_conference_on_exit": flag(form.get("EndConferenceOnExit"), False),
            "wait_url": form.get("WaitUrl"),
            "wait_method": _method(form.get("WaitMethod"), "POST", "WaitMethod"),
            "early_media": flag(form.get("EarlyMedia"), True),
            "coaching": coaching,
            "call_sid_to_coach": coached,
        }
        record = form.get("ConferenceRecord", "false")
        room_settings = {
            "status_callback": form.get("ConferenceStatusCallback"),
            "status_callback_method": _method(
                form.get("ConferenceStatusCallbackMethod"), "POST", "ConferenceStatusCallbackMethod"
            ),
            "status_callback_events": event_words(
                form.getlist("ConferenceStatusCallbackEvent") or None, ("start", "end")
            ),
            "max_participants": int(_number(form.get("MaxParticipants"), 0, "MaxParticipants")) or None,
            "record": record in ("true", "record-from-start"),
            "recording_callback": form.get("ConferenceRecordingStatusCallback"),
            "recording_callback_method": _method(
                form.get("ConferenceRecordingStatusCallbackMethod"), "POST", "ConferenceRecordingStatusCallbackMethod"
            ),
            "recording_callback_events": event_words(
                form.getlist("ConferenceRecordingStatusCallbackEvent") or None, ("completed",)
            ),
        }
        try:
            participant = carrier.new_participant(
                sid,
                form["To"],
                form["From"],
                form.get("StatusCallback"),
                event_words(form.getlist("StatusCallbackEvent") or None, ("completed",)),
                _method(form.get("StatusCallbackMethod"), "POST", "StatusCallbackMethod"),
                options,
                room_settings,
            )
        except LookupError:
            raise ApiError(404, 20404, f"The requested resource /Conferences/{sid}.json was not found") from None
        except EmulatorError as exc:
            raise ApiError(400, 20001, str(exc)) from None
        resource = participant_resource(carrier, participant, created=True)
        carrier.submit(lambda: carrier.start_participant(participant, timeout))
        return _json(resource, 201)

    def participant(self, request: Request, sid: str, member: str) -> Response:
        carrier = self.carrier
        participant = self._member(sid, member)
        resource = participant_resource(carrier, participant)
        if request.method == "DELETE":
            carrier.submit(lambda: carrier.conferencing.kick(participant))
            return Response(status=204)
        if request.method == "POST":
            changes = _participant_changes(request.form, participant)
            if (
                changes.get("call_sid_to_coach")
                and participant.conference.participant(changes["call_sid_to_coach"]) is None
            ):
                raise ApiError(
                    400, 20001, f"CallSidToCoach {changes['call_sid_to_coach']} is not a participant of this conference"
                )
            for name in ("muted", "hold", "coaching", "end_conference_on_exit"):
                if name in changes:
                    resource[name] = changes[name]
            if "coaching" in changes:
                resource["call_sid_to_coach"] = changes.get("call_sid_to_coach") if changes["coaching"] else None
            carrier.submit(lambda: carrier.conferencing.update(participant, changes))
        return _json(resource)

    # ---- Messages ----
    def messages(self, request: Request) -> Response:
        carrier = self.carrier
        if request.method == "GET":
            found = [m for m in list(carrier.messages) if request.args.get("To") in (None, m.to)]
            return _json(_page("messages", [message_resource(carrier, m) for m in reversed(found)], request))
        if carrier.message_failures:
            status = carrier.message_failures.popleft()
            code = 20429 if status == 429 else 20500 if status >= 500 else 20001
            raise ApiError(
                status, code, "Too Many Requests" if status == 429 else "Service unavailable (emulated failure)"
            )
        form = request.form
        to, from_, service, body = form.get("To"), form.get("From"), form.get("MessagingServiceSid"), form.get("Body")
        if not to:
            raise ApiError(400, 21604, "A 'To' phone number is required.")
        if not from_ and not service:
            raise ApiError(400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required to send a message")
        if not body and not form.get("MediaUrl"):
            raise ApiError(400, 21602, "Message body is required.")
        message = carrier.new_message(to, body or "", from_, service, form.get("StatusCallback"))
        resource = message_resource(carrier, message)
        carrier.submit(lambda: carrier.progress_message(message))
        return _json(resource, 201)

    def message(self, request: Request, sid: str) -> Response:
        for message in list(self.carrier.messages):
            if message.sid == sid:
                return _json(message_resource(self.carrier, message))
        raise ApiError(404, 20404, f"The requested resource /Messages/{sid}.json was not found")

    # ---- Recordings ----
    def recording(self, request: Request, sid: str) -> Response:
        recording = self.carrier.recordings.get(sid)
        if recording is None:
            raise ApiError(404, 20404, f"The requested resource /Recordings/{sid}.json was not found")
        if request.method == "DELETE":  # Twilio answers 204 with no body; the media goes too
            del self.carrier.recordings[sid]
            return Response(status=204)
        return _json(recording_resource(self.carrier, recording))

    def recording_audio(self, request: Request, sid: str) -> Response:
        # Like Twilio's default, recording media needs no authentication.
        base = sid.rsplit(".", 1)[0] if sid.endswith((".wav", ".mp3")) else sid
        recording = self.carrier.recordings.get(base)
        if recording is None:
            raise ApiError(404, 20404, f"The requested resource /Recordings/{sid} was not found")
        return Response(silent_wav(recording.duration), mimetype="audio/x-wav")

    # ---- control API ----
    def ctl_index(self, request: Request) -> Response:
        carrier = self.carrier
        return _json(
            {
                "account_sid": carrier.account_sid,
                "time": carrier.clock.time(),
                "now": carrier.clock.now().isoformat(),
                "numbers": sorted(carrier.numbers),
                "calls": len(carrier.calls),
            }
        )

    def ctl_numbers(self, request: Request) -> Response:
        data = _body(request)
        events = data.get("status_events") or ["completed"]
        config = self.carrier.add_number(
            data["number"],
            data["voice_url"],
            data.get("status_callback"),
            events.split() if isinstance(events, str) else events,
            data.get("fallback_url"),
        )
        return _json({"number": config.number, "sid": config.sid}, 201)

    def ctl_endpoints(self, request: Request) -> Response:
        data = _body(request)
        endpoint = self.carrier.set_endpoint(
            data["target"], data.get("behaviour", "answer"), float(data.get("after", 0))
        )
        return _json({"target": endpoint.target, "behaviour": endpoint.behaviour, "after": endpoint.after}, 201)

    def ctl_calls(self, request: Request) -> Response:
        if request.method == "GET":
            return _json([describe_call(self.carrier, c) for c in list(self.carrier.calls)])
        data = _body(request)
        call = self.carrier.dial(data["to"], data.get("from") or data.get("from_") or "+8613800138000")
        return _json(describe_call(self.carrier, call), 201)

    def ctl_call(self, request: Request, sid: str) -> Response:
        return _json(describe_call(self.carrier, self.carrier.get_call(sid)))

    def ctl_call_action(self, request: Request, sid: str, action: str) -> Response:
        call = self.carrier.get_call(sid)
        data = _body(request)
        actions: dict[str, Callable[[], Any]] = {
            "press": lambda: call.press(str(data["digits"]), bool(data.get("barge_in", False))),
            "speak": lambda: call.speak(
                data["text"], float(data.get("confidence", 0.9)), bool(data.get("barge_in", False))
            ),
            "silence": call.silence,
            "wait": lambda: call.wait(float(data["seconds"])),
            "hangup": call.hangup,
            "answer": call.answer,
            "reject": call.reject,
        }
        if action == "take_heard":
            return _json({"heard": [utterance_dict(u) for u in call.take_heard()]})
        if action not in actions:
            raise LookupError(f"no action {action!r}")
        actions[action]()
        return _json(describe_call(self.carrier, call))

    def ctl_ringing(self, request: Request) -> Response:
        return _json(describe_call(self.carrier, self.carrier.ringing(request.args.get("target"))))

    def ctl_queues(self, request: Request) -> Response:
        return _json({name: [c.sid for c in queue] for name, queue in list(self.carrier.queues.items())})

    def ctl_messages(self, request: Request) -> Response:
        return _json([message_resource(self.carrier, m) for m in list(self.carrier.messages)])

    def ctl_advance(self, request: Request) -> Response:
        self.carrier.advance(float(_body(request).get("seconds", 0)))
        return _json({"time": self.carrier.clock.time()})


def _body(request: Request) -> dict[str, Any]:
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else request.form.to_dict()


def _method(raw: str | None, default: str, name: str) -> str:
    if raw in (None, ""):
        return default
    if raw.upper() not in ("GET", "POST"):
        raise ApiError(400, 20001, f"Invalid {name}: {raw}")
    return raw.upper()


def _coaching(form: Any, current: Participant | None = None) -> tuple[bool, str | None]:
    """Coaching and CallSidToCoach: coaching defaults to false unless CallSidToCoach is given,
    and coaching=true needs a CallSidToCoach (Twilio's Participant docs)."""
    coached = form.get("CallSidToCoach") or (current.call_sid_to_coach if current else None)
    raw = form.get("Coaching")
    coaching = (
        flag(raw, bool(form.get("CallSidToCoach")))
        if raw is not None or form.get("CallSidToCoach")
        else (current.coaching if current else False)
    )
    if coaching and not coached:
        raise ApiError(400, 20001, "CallSidToCoach is required when Coaching is true")
    return coaching, coached if coaching else None


def _participant_changes(form: Any, participant: Participant) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for key, name in (("Muted", "muted"), ("Hold", "hold"), ("EndConferenceOnExit", "end_conference_on_exit")):
        if key in form:
            changes[name] = flag(form[key], False)  # "anything other than true or false is false"
    if "BeepOnExit" in form:
        changes["beep_on_exit"] = flag(form["BeepOnExit"], False)
    for key, name in (("HoldUrl", "hold_url"), ("WaitUrl", "wait_url"), ("AnnounceUrl", "announce_url")):
        if key in form:
            changes[name] = form[key]
    for key, name, default in (
        ("HoldMethod", "hold_method", "GET"),
        ("WaitMethod", "wait_method", "POST"),
        ("AnnounceMethod", "announce_method", "POST"),
    ):
        if key in form:
            changes[name] = _method(form[key], default, key)
    if "Coaching" in form or "CallSidToCoach" in form:
        changes["coaching"], changes["call_sid_to_coach"] = _coaching(form, participant)
    return changes


def _on_date(carrier: Carrier, t: float, args: Any, name: str) -> bool:
    """DateCreated / DateCreated< / DateCreated> (YYYY-MM-DD, UTC; '<' and '>' include the day)."""
    day = carrier.clock.at(t).date().isoformat()
    exact, before, after = args.get(name), args.get(name + "<"), args.get(name + ">")
    return (exact is None or day == exact) and (before is None or day <= before) and (after is None or day >= after)


def _when(carrier: Carrier, t: float | None, args: Any, name: str) -> bool:
    """StartTime / StartTime< / StartTime> (and EndTime's) as Twilio's Calls list takes
    them: a day (YYYY-MM-DD, UTC, '<' and '>' include it) or, as twilio-python sends
    start_time_before and start_time_after (end_time_...), a moment (ISO 8601).  A call
    with no such time (no end yet) is left out by any of them."""
    given = {key: args.get(key) for key in (name, name + "<", name + ">") if args.get(key) is not None}
    if not given:
        return True
    if t is None:
        return False
    at = carrier.clock.at(t).astimezone(UTC)

    def moment(raw: str) -> datetime:
        return datetime.fromisoformat(raw.replace("Z", "+00:00")).astimezone(UTC)

    exact = given.get(name)
    if exact is not None and at.date().isoformat() != exact[:10]:  # a day, however it is written
        return False
    for key, keeps in ((name + "<", operator.le), (name + ">", operator.ge)):
        raw = given.get(key)
        if raw is None:
            continue
        if len(raw) == 10 and not keeps(at.date().isoformat(), raw):
            return False
        if len(raw) != 10 and not keeps(at, moment(raw)):
            return False
    return True


def _number(raw: str | None, default: float, name: str) -> float:
    if raw in (None, ""):
        return default
    try:
        return float(raw)
    except ValueError:
        raise ApiError(400, 20001, f"Invalid {name}: {raw}") from None
