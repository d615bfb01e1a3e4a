"""Conferences: who is in which room, who hears whom, and the status callbacks.

The rules of sound are pure functions (`audience`, `beep_audience`, `should_start`);
`Conferences` keeps the rooms for the carrier and is only called on its driver (see
carrier.py), except `find_or_create`, which a REST request may call from its own thread.

What a participant *does* (wait music, hold music, talking until removed) is its call's
flow: flow.CallFlow.in_conference. This module tells that flow something changed by
throwing `ConferenceChanged` into it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from . import twiml
from .call import CallOver, ConferenceChanged
from .model import Conference, Delivery, Participant, Utterance, new_sid
from .webhooks import resolve

if TYPE_CHECKING:
    from .call import Call
    from .carrier import Carrier

# statusCallbackEvent words -> the StatusCallbackEvent values posted (Twilio's <Conference> docs).
EVENTS = ("start", "end", "join", "leave", "mute", "hold", "modify", "speaker", "announcement")
EVENT_OF = {
    "conference-start": "start",
    "conference-end": "end",
    "participant-join": "join",
    "participant-leave": "leave",
    "participant-mute": "mute",
    "participant-unmute": "mute",
    "participant-hold": "hold",
    "participant-unhold": "hold",
    "participant-modify": "modify",
    "participant-speech-start": "speaker",
    "participant-speech-stop": "speaker",
    "announcement-end": "announcement",
    "announcement-fail": "announcement",
}
BEEP_VALUES = ("true", "false", "onEnter", "onExit")
ANNOUNCE = frozenset({"Play", "Say", "Pause", "Redirect"})  # verbs Twilio allows in an announceUrl document
MAX_ANNOUNCE_REDIRECTS = 10
# Why the conference ended (Twilio's ReasonConferenceEnded values).
ENDED_BY_API = "conference-ended-via-api"
ENDED_BY_MODERATOR_LEFT = "participant-with-end-conference-on-exit-left"
ENDED_BY_MODERATOR_KICKED = "participant-with-end-conference-on-exit-kicked"
ENDED_LAST_KICKED = "last-participant-kicked"
ENDED_LAST_LEFT = "last-participant-left"
# Why a participant left (ReasonParticipantLeft): the emulator's words, see emulator/README.md.
HUNG_UP = "participant_hung_up"
REDIRECTED = "participant_updated_via_api"
KICKED = "participant_kicked"
NOT_ANSWERED = "participant_not_answered"
LEFT_BY_KEY = "participant_pressed_star"


def should_start(conference: Conference) -> bool:
    """A conference starts once two participants are in it and one of them may start it
    (startConferenceOnEnter): until then everyone hears the wait music."""
    present = conference.connected
    return len(present) >= 2 and any(p.start_conference_on_enter for p in present)


def audience(conference: Conference, speaker: Participant) -> list[Participant]:
    """Who hears `speaker`: nobody before the conference starts, when muted or on hold; only
    the coached participant when coaching; else everyone present who is not on hold."""
    if conference.status != "in-progress" or not speaker.connected or speaker.muted or speaker.hold:
        return []
    if speaker.coaching:
        coached = conference.participant(speaker.call_sid_to_coach or "")
        return [coached] if coached is not None and coached.connected and not coached.hold else []
    return [p for p in conference.connected if p is not speaker and not p.hold]


def beep_audience(conference: Conference, subject: Participant, entering: bool) -> list[Participant]:
    """Who hears the beep of `subject` entering or leaving (never the subject itself)."""
    wanted = ("true", "onEnter") if entering else ("true", "onExit")
    if subject.beep not in wanted:
        return []
    return [p for p in conference.connected if p is not subject and not p.hold]


def flag(value: Any, default: bool) -> bool:
    """A Twilio boolean: 'true'/'false' (any case); anything else is the default."""
    if isinstance(value, bool):
        return value
    text = str(value or "").strip().lower()
    return True if text == "true" else False if text == "false" else default


def event_words(raw: str | Iterable[str] | None, default: tuple[str, ...]) -> tuple[str, ...]:
    """statusCallbackEvent: space- or comma-separated, or repeated (REST)."""
    if raw is None:
        return default
    parts = raw if not isinstance(raw, str) else [raw]
    words = tuple(word for part in parts for word in str(part).replace(",", " ").split())
    return words or default


class Conferences:
    """The carrier's conference rooms."""

    def __init__(self, carrier: Carrier):
        self.carrier = carrier
        self.rooms: dict[str, Conference] = {}  # sid -> conference (all, ended ones too)
        self._active: dict[str, Conference] = {}  # friendly name -> the conference not completed
        self._lock = threading.Lock()

    @property
    def now(self) -> float:
        return self.carrier.clock.time()

    # ---- rooms ------------------------------------------------------------------------------------
    def find_or_create(self, name: str) -> Conference:
        """The conference of that name that has not ended, or a new one (status init)."""
        with self._lock:
            room = self._active.get(name)
            if room is None or room.status == "completed":
                now = self.now
                room = Conference(new_sid("CF"), self.carrier.account_sid, name, created=now, updated=now)
                self.rooms[room.sid] = room
                self._active[name] = room
            return room

    def get(self, sid_or_name: str) -> Conference:
        """By SID, or (as the Participants API allows) by the name of a conference not ended."""
        room = self.rooms.get(sid_or_name) or self._active.get(sid_or_name)
        if room is None:
            raise LookupError(f"no conference {sid_or_name}")
        return room

    def configure(self, room: Conference, settings: dict[str, Any]) -> None:
        """Conference-wide settings (status callback, recording, size): each comes from the first
        participant that gives it (a value left out, None or false, gives nothing); later ones
        are ignored, as Twilio documents for the status callback."""
        if settings.get("status_callback") and not room.status_callback:
            room.status_callback = settings["status_callback"]
            room.status_callback_method = settings.get("status_callback_method") or "POST"
            room.status_callback_events = settings.get("status_callback_events") or ("start", "end")
        if settings.get("record") and not room.record:
            room.record = True
        if settings.get("recording_callback") and not room.recording_callback:
            room.recording_callback = settings["recording_callback"]
            room.recording_callback_method = settings.get("recording_callback_method") or "POST"
            room.recording_callback_events = settings.get("recording_callback_events") or ("completed",)
        if settings.get("max_participants") and not room.configured:
            room.configured = True
            room.max_participants = int(settings["max_participants"])

    # ---- participants coming and going ------------------------------------------------------------
    def add(self, room: Conference, call: Call, via: str, options: dict[str, Any]) -> Participant:
        """A participant for the call in the room (present or being dialled), not yet joined."""
        now = self.now
        participant = Participant(call, room, via=via, created=now, updated=now, **options)
        room.participants.append(participant)
        room.history.append(participant)
        call.participant = participant
        return participant

    def join(self, participant: Participant) -> None:
        """The participant's call is connected to the room."""
        room = participant.conference
        now = self.now
        participant.status, participant.joined_at, participant.updated = "connected", now, now
        room.updated = now
        participant.call.conference = room.friendly_name
        participant.call.note("event", text=f"joined conference {room.friendly_name!r}")
        self.post(room, "participant-join", participant)
        self._beep(room, participant, entering=True)
        if room.status == "init" and should_start(room):
            room.status, room.started_at = "in-progress", now
            self.post(room, "conference-start")
            for other in room.connected:
                self._tell(other)

    def leave(
        self, participant: Participant, reason: str, call_status: str | None = None, kicked: bool = False
    ) -> None:
        """The participant is out (hung up, redirected, removed, or the conference ended)."""
        room = participant.conference
        if participant not in room.participants:
            return
        was_connected = participant.connected
        now = self.now
        room.participants.remove(participant)
        participant.status = "complete" if was_connected else "failed"
        participant.left_at, participant.left_reason, participant.updated = now, reason, now
        participant.call.conference = None
        room.updated = now
        status = call_status or ("completed" if was_connected else participant.call.status)
        self.post(room, "participant-leave", participant, ParticipantCallStatus=status, ReasonParticipantLeft=reason)
        if was_connected:
            participant.call.note("event", text=f"left conference {room.friendly_name!r}: {reason}")
            self._beep(room, participant, entering=False)
        if room.status == "completed":
            return
        if was_connected and participant.end_conference_on_exit:
            self.end(room, ENDED_BY_MODERATOR_KICKED if kicked else ENDED_BY_MODERATOR_LEFT, participant)
        elif not room.participants:
            self.end(room, ENDED_LAST_KICKED if kicked else ENDED_LAST_LEFT, participant)

    def kick(self, participant: Participant) -> None:
        """DELETE .../Participants/{CallSid}: a participant dialled by TwiML goes on with the
        TwiML after its <Dial>; one dialled by the API is hung up (its flow decides)."""
        if participant.dialling:
            self.carrier.throw(participant.call, CallOver("canceled"))
            return
        self.leave(participant, KICKED, kicked=True)
        self._tell(participant)

    def end(self, room: Conference, reason: str, by: Participant | None = None) -> None:
        """End the conference (once) for `reason`: calls being dialled are canceled, the others leave, conference-end is posted."""
        if room.status == "completed":
            return
        now = self.now
        room.status, room.ended_at, room.updated, room.reason_ended = "completed", now, now, reason
        if by is not None:
            room.call_sid_ending, room.label_ending = by.call.sid, by.label
        with self._lock:
            if self._active.get(room.friendly_name) is room:
                del self._active[room.friendly_name]
        for participant in list(room.participants):
            if participant.dialling:
                room.participants.remove(participant)
                participant.status, participant.left_at, participant.left_reason = "failed", now, reason
                self.carrier.throw(participant.call, CallOver("canceled"))
                continue
            self.leave(participant, reason.replace("-", "_"))
            self._tell(participant)
        extra = {"ReasonConferenceEnded": reason, "Reason": _REASON_TEXT.get(reason, reason)}
        if room.call_sid_ending:
            extra["CallSidEndingConference"] = room.call_sid_ending
        if room.label_ending:
            extra["ParticipantLabelEndingConference"] = room.label_ending
        self.post(room, "conference-end", **extra)
        if room.record and room.started_at is not None:
            self.store_recording(room)

    def not_answered(self, participant: Participant, status: str) -> None:
        """A participant dialled by the API did not answer (busy, no-answer, failed, canceled)."""
        self.leave(participant, NOT_ANSWERED, call_status=status)

    def call_status(self, call: Call, status: str) -> None:
        """Follow a dialled participant's call: queued -> connecting -> ringing."""
        participant = call.participant
        if participant is not None and participant.dialling:
            participant.status = {"initiated": "connecting", "ringing": "ringing"}.get(status, participant.status)
            participant.updated = self.now

    # ---- changes by the REST API --------------------------------------------------------------------
    def update(self, participant: Participant, changes: dict[str, Any]) -> None:
        """Apply a POST .../Participants/{CallSid}.json: hold, mute, coaching, announce..."""
        room = participant.conference
        participant.updated = self.now
        for name in ("hold_url", "hold_method", "wait_url", "wait_method"):
            if name in changes:
                setattr(participant, name, changes[name])
        if "end_conference_on_exit" in changes:
            participant.end_conference_on_exit = changes["end_conference_on_exit"]
        if changes.get("beep_on_exit") is not None:
            participant.beep = (
                ("true" if participant.beep in ("true", "onEnter") else "onExit")
                if changes["beep_on_exit"]
                else ("onEnter" if participant.beep in ("true", "onEnter") else "false")
            )
        if "muted" in changes and changes["muted"] != participant.muted:
            participant.muted = changes["muted"]
            if participant.connected:
                self.post(room, "participant-mute" if participant.muted else "participant-unmute", participant)
        if "coaching" in changes or "call_sid_to_coach" in changes:
            coaching = changes.get("coaching", participant.coaching)
            coached = changes.get("call_sid_to_coach", participant.call_sid_to_coach)
            if (coaching, coached) != (participant.coaching, participant.call_sid_to_coach):
                participant.coaching, participant.call_sid_to_coach = coaching, coached if coaching else None
                if participant.connected:
                    self.post(room, "participant-modify", participant)
        if "hold" in changes and changes["hold"] != participant.hold:
            participant.hold = changes["hold"]
            if participant.connected:
                self.post(room, "participant-hold" if participant.hold else "participant-unhold", participant)
                self._tell(participant)
        if changes.get("announce_url"):
            self.announce(room, [participant], changes["announce_url"], changes.get("announce_method", "POST"))

    def announce(self, room: Conference, listeners: list[Participant], url: str, method: str = "POST") -> None:
        """Play an announceUrl document to `listeners` (the whole room for a conference update):
        it is heard at once, mixed in; announcement-end follows when it has played."""
        carrier = self.carrier
        from .flow import CallFlow, interpret

        params = {"AccountSid": carrier.account_sid, "ConferenceSid": room.sid, "FriendlyName": room.friendly_name}
        heard: list[Utterance] = []
        nxt: tuple[str, str] | None = (url, method.upper())
        failed = ""
        flow = CallFlow(carrier, listeners[0].call) if listeners else None
        for _ in range(MAX_ANNOUNCE_REDIRECTS):
            if nxt is None or flow is None:
                break
            result = carrier.webhooks.request(carrier.callback_session, nxt[1], nxt[0], params)
            doc, code, reason = interpret(result)
            if doc is None:
                failed = f"{nxt[0]}: {reason}"
                room.errors.append(code)
                break
            nxt = None
            for node in doc.verbs:
                if node.verb not in ANNOUNCE:
                    room.errors.append(twiml.SCHEMA_WARNING)
                    continue
                if node.verb == "Redirect":
                    target = resolve(doc.url, node.text)
                    nxt = (target, flow.method(node, "method")) if target else None
                    break
                heard.append(flow.utterance_for(node, doc))
        if failed:
            self.post(room, "announcement-fail", ReasonAnnouncementFailed=failed)
            return
        for listener in listeners:
            if listener.connected:
                listener.call.heard.extend(heard)
        seconds = sum(u.seconds for u in heard)
        carrier.clock.call_later(seconds, lambda: self.post(room, "announcement-end"))

    # ---- sound ----------------------------------------------------------------------------------
    def speech(self, speaker: Participant, text: str) -> list[Participant]:
        """`speaker` says `text`: whoever can hear them hears it (see `audience`)."""
        room = speaker.conference
        listeners = audience(room, speaker)
        seconds = twiml.speaking_seconds(text)
        for listener in listeners:
            listener.call.heard.append(Utterance("speech", text, seconds=seconds, speaker=speaker.call.sid))
        speaker.call.note(
            "event", text=f"spoke in conference {room.friendly_name!r}; heard by {[p.call.sid for p in listeners]}"
        )
        if speaker.connected and not speaker.muted and not speaker.hold and room.status == "in-progress":
            # A muted or held participant's voice never reaches the conference: no speaker events.
            self.post(room, "participant-speech-start", speaker)
            self.carrier.clock.call_later(seconds, lambda: self._speech_stop(speaker))
        return listeners

    def _speech_stop(self, speaker: Participant) -> None:
        if speaker.connected:
            self.post(speaker.conference, "participant-speech-stop", speaker)

    def _beep(self, room: Conference, subject: Participant, entering: bool) -> None:
        for listener in beep_audience(room, subject, entering):
            listener.call.heard.append(Utterance("play", "beep", seconds=twiml.BEEP_SECONDS))

    def _tell(self, participant: Participant) -> None:
        """Wake the participant's flow: what it should hear (or whether it is still in) changed."""
        if participant.call.listening:
            self.carrier.throw(participant.call, ConferenceChanged())

    # ---- callbacks and recordings ----------------------------------------------------------------
    def post(self, room: Conference, event: str, participant: Participant | None = None, **extra: str) -> None:
        if not room.status_callback or EVENT_OF[event] not in room.status_callback_events:
            return
        carrier = self.carrier
        from .carrier import rfc2822

        params = {
            "AccountSid": carrier.account_sid,
            "ConferenceSid": room.sid,
            "FriendlyName": room.friendly_name,
            "StatusCallbackEvent": event,
            "SequenceNumber": str(room.sequence),
            "Timestamp": rfc2822(carrier, self.now),
        }
        room.sequence += 1
        if participant is not None:
            params.update(
                CallSid=participant.call.sid,
                Muted=_bool(participant.muted),
                Hold=_bool(participant.hold),
                Coaching=_bool(participant.coaching),
                EndConferenceOnExit=_bool(participant.end_conference_on_exit),
                StartConferenceOnEnter=_bool(participant.start_conference_on_enter),
            )
            if participant.label:
                params["ParticipantLabel"] = participant.label
            if participant.coaching and participant.call_sid_to_coach:
                params["CallSidToCoach"] = participant.call_sid_to_coach
        params.update(extra)
        carrier.post(room, Delivery(room.sid, room.status_callback, room.status_callback_method, params))

    def store_recording(self, room: Conference) -> None:
        carrier = self.carrier
        started = room.started_at or room.created
        duration = int((room.ended_at or self.now) - started + 0.5)
        first = room.history[0].call if room.history else None
        recording = carrier.store_recording(first, duration, started, source="Conference") if first else None
        if recording is None:
            return
        recording.conference_sid = room.sid
        room.recordings.append(recording)
        if room.recording_callback and "completed" in room.recording_callback_events:
            from .carrier import rfc2822

            params = {
                "AccountSid": carrier.account_sid,
                "ConferenceSid": room.sid,
                "RecordingSid": recording.sid,
                "RecordingUrl": recording.url,
                "RecordingStatus": "completed",
                "RecordingDuration": str(recording.duration),
                "RecordingChannels": "1",
                "RecordingStartTime": rfc2822(carrier, recording.start),
                "RecordingSource": "Conference",
            }
            carrier.post(room, Delivery(room.sid, room.recording_callback, room.recording_callback_method, params))


_REASON_TEXT = {
    ENDED_BY_API: "Conference ended via API",
    ENDED_BY_MODERATOR_LEFT: "Participant with endConferenceOnExit left the conference",
    ENDED_BY_MODERATOR_KICKED: "Participant with endConferenceOnExit was removed from the conference",
    ENDED_LAST_KICKED: "Last participant was removed from the conference",
    ENDED_LAST_LEFT: "Last participant left the conference",
}


def _bool(value: bool) -> str:
    return "true" if value else "false"


__all__ = ["Conferences", "audience", "beep_audience", "should_start"]
