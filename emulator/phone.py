"""A phone for people: call the app from a terminal through the emulator.

    run_phone("http://127.0.0.1:5055", to="+861065281234")   # a carrier served elsewhere
    run_phone(carrier, to="+861065281234")                   # an in-process Carrier

Prompts are printed as they are heard. Then type:
  digits, * and #        press keys            say <text> or "<text>   speak
  (empty line)           stay silent           wait N                  let N seconds pass
  hangup, q              hang up
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from .carrier import Carrier

KEYS = set("0123456789*#")
WAIT_WHEN_IDLE = 10.0  # an empty line while queued or bridged lets this much time pass
HELP = "keys: 0-9 * #   speech: say <text>   silence: <Enter>   wait N   hangup / q"


class _LocalLine:
    """The phone's view of an in-process carrier."""

    def __init__(self, carrier: Carrier):
        from .rest import describe_call

        self.carrier = carrier
        self._describe = describe_call
        self.call: Any = None

    def dial(self, to: str, from_: str) -> dict[str, Any]:
        self.call = self.carrier.dial(to, from_)
        return self.state()

    def act(self, action: str, **data: Any) -> dict[str, Any]:
        call = self.call
        if action == "press":
            call.press(data["digits"])
        elif action == "speak":
            call.speak(data["text"])
        elif action == "wait":
            call.wait(data["seconds"])
        else:
            getattr(call, action)()
        return self.state()

    def state(self) -> dict[str, Any]:
        return self._describe(self.carrier, self.call)


class _RemoteLine:
    """The phone's view of a carrier served over HTTP (its /_emulator control API)."""

    def __init__(self, base_url: str):
        self.base = base_url.rstrip("/") + "/_emulator"
        self.sid: str | None = None

    def _post(self, path: str, data: dict[str, Any]) -> dict[str, Any]:
        import requests  # imported here so that importing the phone never touches the network stack

        # A served carrier in real time answers `wait 60` after a minute: give it time.
        response = requests.post(self.base + path, json=data, timeout=3600)
        answer = response.json()
        if response.status_code >= 400:
            raise RuntimeError(answer.get("error", response.text))
        return answer

    def dial(self, to: str, from_: str) -> dict[str, Any]:
        state = self._post("/calls", {"to": to, "from": from_})
        self.sid = state["sid"]
        return state

    def act(self, action: str, **data: Any) -> dict[str, Any]:
        return self._post(f"/calls/{self.sid}/{action}", data)


def _expectation(state: dict[str, Any]) -> str:
    """One line telling the person what the call is waiting for."""
    waiting = state["waiting_for"]
    if waiting == "gather":
        gather = state.get("gather") or {}
        kinds = (gather.get("input") or "dtmf").split()
        parts = []
        if "dtmf" in kinds:
            detail = [f"{gather['numDigits']} digit(s)"] if gather.get("numDigits") else []
            if gather.get("finishOnKey"):
                detail.append(f"end with {gather['finishOnKey']}")
            parts.append("keys" + (f" ({', '.join(detail)})" if detail else ""))
        if "speech" in kinds:
            parts.append(f"speech [{gather.get('language', 'en-US')}]")
        return "waiting for " + " or ".join(parts) + f"; Enter = silence ({gather.get('timeout', 5):g} s)"
    if waiting == "record":
        return "recording: say <text>, a key to finish, Enter = silence"
    if waiting == "queue":
        return f"on hold in queue {state.get('queue')!r}; Enter = wait {WAIT_WHEN_IDLE:g} s"
    if waiting == "bridge":
        return f"connected to {state.get('bridged_with')}; Enter = wait {WAIT_WHEN_IDLE:g} s"
    if waiting == "conference":
        return f"in conference {state.get('conference')!r}: say <text> to talk; Enter = wait {WAIT_WHEN_IDLE:g} s"
    if waiting == "dial":
        return f"ringing the other party; Enter = wait {WAIT_WHEN_IDLE:g} s"
    return f"waiting ({waiting}); Enter = wait {WAIT_WHEN_IDLE:g} s"


def _show(state: dict[str, Any], shown: int, output: TextIO) -> int:
    """Print what was heard since `shown`; returns the new count."""
    heard = state["heard"]
    for utterance in heard[shown:]:
        if utterance["kind"] == "say":
            output.write(f"[{utterance['language'] or '-'}] {utterance['text']}\n")
        elif utterance["kind"] == "play":
            output.write(f"[play] {utterance['text']}\n")
        elif utterance["kind"] == "speech":
            output.write(f"[voice of {utterance.get('speaker') or '?'}] {utterance['text']}\n")
        else:
            output.write(f"[pause {utterance['seconds']:g} s]\n")
    return len(heard)


def _command(line: str, state: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """Turn a typed line into a call action, or None if it means nothing."""
    text = line.strip()
    if text.lower() in ("q", "quit", "hangup", "hang up", "exit"):
        return "hangup", {}
    if not text:
        if state["waiting_for"] in ("gather", "record"):
            return "silence", {}
        return "wait", {"seconds": WAIT_WHEN_IDLE}
    if text.lower().startswith("wait"):
        try:
            return "wait", {"seconds": float(text[4:].strip() or WAIT_WHEN_IDLE)}
        except ValueError:
            return None
    if text.lower().startswith("say "):
        return "speak", {"text": text[4:].strip()}
    if text[0] in "\"'“「":
        return "speak", {"text": text.strip("\"'“”「」 ")}
    keys = text.replace(" ", "")
    if keys and set(keys) <= KEYS:
        return "press", {"digits": keys}
    return None


def run_phone(
    target: Carrier | str,
    to: str,
    from_: str = "+8613800138000",
    input: TextIO | None = None,
    output: TextIO | None = None,
) -> str:
    """Call `to` and let a person (or a script on `input`) take the caller's part. Returns the final status."""
    input = input or sys.stdin
    output = output or sys.stdout
    line_ = _RemoteLine(target) if isinstance(target, str) else _LocalLine(target)
    output.write(f"Calling {to} from {from_} ...\n")
    state = line_.dial(to, from_)
    output.write(f"({state['sid']})\n")
    shown = _show(state, 0, output)
    while state["status"] not in ("completed", "busy", "no-answer", "failed", "canceled"):
        output.write(f"-- {_expectation(state)}\n> ")
        output.flush()
        typed = input.readline()
        if typed == "":  # end of input: the person put the phone down
            output.write("\n")
            typed = "hangup"
        command = _command(typed, state)
        if command is None:
            output.write(HELP + "\n")
            continue
        state = line_.act(command[0], **command[1])
        shown = _show(state, shown, output)
    errors = f" errors {state['errors']}" if state.get("errors") else ""
    output.write(f"Call ended: {state['status']} after {state['duration']} s{errors}\n")
    output.flush()
    return state["status"]
