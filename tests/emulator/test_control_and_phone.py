"""The /_emulator control API, the terminal phone, and the command line."""

import io
import subprocess
import sys
import time

import requests

from emulator import Carrier, run_phone
from emulator.__main__ import main

from .conftest import HOTLINE


def menu(app):
    app.twiml(
        "/voice",
        '<Say language="cmn-CN">欢迎致电</Say>'
        '<Gather input="dtmf speech" numDigits="1" action="/choice" language="cmn-CN">'
        '<Say language="cmn-CN">挂号请按1</Say></Gather><Redirect>/voice</Redirect>',
    )
    app.on(
        "/choice",
        lambda hit: "<Response><Say>你选择了 {}</Say><Hangup/></Response>".format(
            hit.form.get("Digits") or hit.form.get("SpeechResult")
        ),
    )


def test_the_control_api_drives_a_call(app, carrier):
    menu(app)
    base = carrier.serve() + "/_emulator"
    state = requests.post(base + "/calls", json={"to": HOTLINE, "from": "+8613900000001"}, timeout=10).json()
    assert state["waiting_for"] == "gather" and state["gather"]["numDigits"] == 1
    assert [u["text"] for u in state["heard"]] == ["欢迎致电", "挂号请按1"]
    sid = state["sid"]
    assert requests.get(f"{base}/calls/{sid}", timeout=10).json()["status"] == "in-progress"
    heard = requests.post(f"{base}/calls/{sid}/take_heard", timeout=10).json()["heard"]
    assert len(heard) == 2
    state = requests.post(f"{base}/calls/{sid}/silence", timeout=10).json()
    assert state["waiting_for"] == "gather" and len(state["heard"]) == 4  # the menu again
    state = requests.post(f"{base}/calls/{sid}/press", json={"digits": "1"}, timeout=10).json()
    assert state["status"] == "completed" and state["heard"][-1]["text"] == "你选择了 1"
    assert requests.post(f"{base}/calls/{sid}/dance", timeout=10).status_code == 404
    assert requests.post(f"{base}/calls/{sid}/press", json={"digits": "1"}, timeout=10).status_code == 409
    assert requests.get(f"{base}/calls/CAnope", timeout=10).status_code == 404
    assert len(requests.get(base + "/calls", timeout=10).json()) == 1


def test_the_control_api_configures_numbers_endpoints_and_time(app):
    carrier = Carrier()
    base = carrier.serve() + "/_emulator"
    try:
        app.twiml("/voice", "<Dial><Client>agent7</Client></Dial>")
        assert (
            requests.post(
                base + "/numbers", data={"number": "+861000000001", "voice_url": app.url("/voice")}, timeout=10
            ).status_code
            == 201
        )
        assert (
            requests.post(
                base + "/endpoints", json={"target": "+861000000002", "behaviour": "busy"}, timeout=10
            ).json()["behaviour"]
            == "busy"
        )
        caller = requests.post(base + "/calls", json={"to": "+861000000001"}, timeout=10).json()
        assert caller["waiting_for"] == "dial"
        ringing = requests.get(base + "/ringing", params={"target": "client:agent7"}, timeout=10).json()
        answered = requests.post(f"{base}/calls/{ringing['sid']}/answer", timeout=10).json()
        assert answered["waiting_for"] == "bridge" and answered["bridged_with"] == caller["sid"]
        assert requests.post(base + "/advance", json={"seconds": 30}, timeout=10).json()["time"] >= 30
        assert requests.get(base, timeout=10).json()["numbers"] == ["+861000000001"]
        assert requests.get(base + "/queues", timeout=10).json() == {}
        assert requests.get(base + "/messages", timeout=10).json() == []
        assert requests.get(base + "/ringing", timeout=10).status_code == 404
    finally:
        carrier.stop()


def test_the_phone_prints_prompts_and_reads_keys_speech_and_silence(app, carrier):
    menu(app)
    typed = io.StringIO('\nnonsense\n"挂号\n')
    out = io.StringIO()
    status = run_phone(carrier, to=HOTLINE, input=typed, output=out)
    text = out.getvalue()
    assert status == "completed"
    assert "[cmn-CN] 欢迎致电" in text and "[cmn-CN] 挂号请按1" in text
    assert "waiting for keys (1 digit(s), end with #) or speech [cmn-CN]" in text
    assert "keys: 0-9 * #" in text  # help for a line that means nothing
    assert "你选择了 挂号" in text and "Call ended: completed" in text


def test_the_phone_over_http_and_hanging_up_at_end_of_input(app, carrier):
    menu(app)
    base = carrier.serve()
    out = io.StringIO()
    status = run_phone(base, to=HOTLINE, input=io.StringIO("wait 2\n"), output=out)
    assert status == "completed" and "Call ended: completed" in out.getvalue()
    assert any(entry.text == "hung up" for entry in carrier.calls[0].log)


def test_the_phone_on_hold(app, carrier):
    app.twiml("/voice", '<Enqueue waitUrl="/hold">cardio</Enqueue>')
    app.twiml("/hold", '<Say>Please hold</Say><Pause length="20"/>')
    out = io.StringIO()
    run_phone(carrier, to=HOTLINE, input=io.StringIO("\nq\n"), output=out)
    text = out.getvalue()
    assert "on hold in queue 'cardio'; Enter = wait 10 s" in text and "[pause 20 s]" in text


def test_cli_call_with_an_in_process_carrier(app, monkeypatch, capsys):
    menu(app)
    monkeypatch.setattr(sys, "stdin", io.StringIO("1\n"))
    assert main(["call", "--to", HOTLINE, "--voice-url", app.url("/voice")]) == 0
    assert "你选择了 1" in capsys.readouterr().out


def test_cli_serve_runs_the_carrier_as_a_process(app, tmp_path):
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "emulator",
            "serve",
            "--port",
            "0",
            "--number",
            HOTLINE,
            "--voice-url",
            app.url("/voice"),
            "--endpoint",
            "client:agent7=busy",
            "--realtime",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        banner = process.stdout.readline()
        assert banner.startswith("carrier emulator at http://127.0.0.1:")
        base = banner.split()[3]
        menu(app)
        deadline = time.monotonic() + 10
        while True:
            try:
                state = requests.post(base + "/_emulator/calls", json={"to": HOTLINE}, timeout=10).json()
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert state["waiting_for"] == "gather"
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()
