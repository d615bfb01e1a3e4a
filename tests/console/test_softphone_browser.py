"""The agent's phone in headless Chromium, both implementations (config.yaml's
console.phone.kind), at a desk's 1366x768 and a phone's 390 px.

With the Twilio softphone the page runs a test double of the Voice SDK
(twilio_voice_double.js, only the SDK's documented API) served in place of the vendored
bundle; the test plays Twilio's part: it rings the double's Device when the carrier emulator
rings <Client>agent-N, and answers or hangs up that leg when the page accepts or disconnects
the SDK's call.  With the demo phone the server answers the emulated leg itself.  The rest
is real: the hotline over HTTP, the routing engine, the emulator's calls."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import jwt
import pytest
from playwright.sync_api import expect

import settings as settings_module
from app import ROOT
from records.seats import set_skills
from tests.acd import conftest as whole_calls
from tests.faults import eventually
from tests.talking import in_talk, soon, talking
from tests.web import log_in_page, make_staff

# The seats' whole-call fixtures: the carrier emulator serves the REST API, the clock is its own.
carrier, clock, environ, hotline, network = (
    whole_calls.carrier,
    whole_calls.clock,
    whole_calls.environ,
    whole_calls.hotline,
    whole_calls.network,
)

VENDORED = ROOT / "static" / "vendor" / "twilio-voice-sdk"
DOUBLE = Path(__file__).with_name("twilio_voice_double.js")
KEYS = {
    "TWILIO_API_KEY_SID": "SK" + "2" * 32,
    "TWILIO_API_KEY_SECRET": "a-32-character-api-key-secret-xx",
    "TWILIO_TWIML_APP_SID": "AP" + "3" * 32,
}
MS_WANGS_PHONE = "+8613800138000"
VIEWPORTS = {"desk": {"width": 1366, "height": 768}, "phone": {"width": 390, "height": 844}}


@pytest.fixture(params=["twilio", "emulator"])
def phone_kind(request):
    return request.param


@pytest.fixture
def api_keys():
    return KEYS


@pytest.fixture
def settings(environ, phone_kind, api_keys):
    loaded = settings_module.load(ROOT / "config.yaml", environ={**environ, **api_keys})
    phone = loaded.console.phone.model_copy(update={"kind": phone_kind})
    return loaded.model_copy(
        update={
            "routing": loaded.routing.model_copy(update={"record_calls": False}),
            "console": loaded.console.model_copy(update={"phone": phone}),
        }
    )


@pytest.fixture(params=list(VIEWPORTS))
def viewport(request):
    return VIEWPORTS[request.param]


@pytest.fixture
def page(browser, viewport, phone_kind):
    """The agent's browser; with the Twilio softphone, the SDK's double instead of the SDK."""
    context = browser.new_context(locale="zh-CN", viewport=viewport)
    context.set_default_timeout(10_000)
    if phone_kind == "twilio":
        context.route("**/static/vendor/twilio-voice-sdk/twilio.min.js", lambda route: route.fulfill(path=DOUBLE))
    page = context.new_page()
    yield page
    context.close()


class TwilioSide:
    """What Twilio does around the browser's SDK, here with the carrier emulator's agent leg."""

    def __init__(self, page, network, agent_id):
        self.page, self.network, self.target = page, network, f"client:agent-{agent_id}"
        self.leg = None

    def rings(self):
        self.leg = ringing_leg(self.network, self.target)
        self.page.evaluate("p => voiceDouble.ring(p)", {"CallSid": self.leg.sid, "To": self.target})

    def picks_up(self):
        self.page.wait_for_function("() => voiceDouble.call().status() === 'open'")
        self.leg.answer()  # Twilio answers the <Client> leg once the SDK has accepted

    def hangs_up(self):
        self.page.wait_for_function("() => voiceDouble.call().status() === 'closed'")
        self.leg.hangup()  # the SDK's disconnect ends the leg, and with it the <Dial>


class EmulatorSide:
    """The demo phone: the hotline answers and hangs up through the emulator itself."""

    def __init__(self, page, network, agent_id):
        self.network, self.target = network, f"client:agent-{agent_id}"
        self.leg = None

    def rings(self):
        self.leg = ringing_leg(self.network, self.target)

    def picks_up(self):
        pass

    def hangs_up(self):
        pass


def ringing_leg(network, target):
    """The carrier's leg to the agent, once the engine's redirect has made it ring."""
    for _ in range(200):
        try:
            return network.ringing(target)
        except LookupError:
            network.advance(0.05)
    raise AssertionError(f"{target} never rang")


def open_console(page, server, agent):
    log_in_page(page, server, agent.username, agent.password)
    page.goto(f"{server}/agent")


def fits(page, width):
    """Nothing on the page is wider than the screen (no sideways scrolling)."""
    return page.evaluate("() => document.documentElement.scrollWidth") <= width


def test_an_agent_answers_mutes_and_hangs_up_through_the_phone(app, server, page, dial, network, phone_kind, viewport):
    agent = make_staff(app, "agent", display_name="吴坐席")
    with app.extensions["hotline"].sessions.begin() as session:
        set_skills(session, agent.id, {"general": 3})
    twilio = phone_kind == "twilio"
    carrier_side = (TwilioSide if twilio else EmulatorSide)(page, network, agent.id)

    open_console(page, server, agent)
    ready = (
        "就绪：来电在此振铃 Ready: calls ring here"
        if twilio
        else "演示电话（运营商模拟器）Demo phone (carrier emulator)"
    )
    expect(page.locator("#phone-status")).to_have_text(ready)
    page.get_by_role("button", name="空闲 Available").click()
    expect(page.locator("#state")).to_have_text("空闲 Available")

    caller = dial(MS_WANGS_PHONE)
    caller.press("0")
    expect(page.locator("#offer")).to_be_visible()
    carrier_side.rings()
    if twilio:
        expect(page.locator("#phone-status")).to_have_text("来电振铃 Ringing")

    page.get_by_role("button", name="接听 Answer").click()
    carrier_side.picks_up()
    expect(page.locator("#call")).to_be_visible()
    expect(page.locator("#state")).to_have_text("通话中 On call")
    # The agent hears the caller: the caller and the agent's leg are in the talk's conference.
    assert soon(lambda: talking(caller, carrier_side.leg))
    assert fits(page, viewport["width"])
    hang_up = page.get_by_role("button", name="挂断 Hang up")
    box = hang_up.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"]

    mute = page.get_by_role("button", name="静音 Mute")
    if twilio:
        expect(page.locator("#phone-status")).to_have_text("通话中 On a call")
        mute.click()
        expect(page.locator("#muted")).to_have_text("已静音：来电者听不到您 Muted: the caller cannot hear you")
        unmute = page.get_by_role("button", name="取消静音 Unmute")
        expect(unmute).to_have_attribute("aria-pressed", "true")
        assert page.evaluate("() => voiceDouble.call().isMuted()") is True
        page.get_by_text("拨号键盘 Keypad").click()
        page.get_by_role("button", name="按键 Key 1").click()
        page.get_by_role("button", name="按键 Key #").click()
        expect(page.locator("#digits-sent")).to_have_text("1#")
        assert page.evaluate("() => voiceDouble.call().digits") == "1#"
        unmute.click()
        expect(page.locator("#muted")).to_be_hidden()
        assert page.evaluate("() => voiceDouble.call().isMuted()") is False
        mute.click()  # hangs up muted: the next call starts unmuted
    else:
        # The demo phone carries no sound: it offers no mute and no keypad.
        expect(mute).to_be_hidden()
        expect(page.locator("#keypad")).to_be_hidden()

    hang_up.click()
    carrier_side.hangs_up()
    expect(page.locator("#wrap-up")).to_be_visible()
    expect(page.locator("#state")).to_have_text("话后处理 Wrap-up")
    expect(page.locator("#call")).to_be_hidden()
    expect(page.locator("#muted")).to_be_hidden()
    # The page may show the wrap-up (pushed, issue 15) before the carrier has ended the leg.
    eventually(lambda: not in_talk(caller) and carrier_side.leg.ended, "the agent's leg ended", 20)
    assert not caller.ended  # the caller goes on (to the satisfaction survey), not cut off
    assert fits(page, viewport["width"])
    if twilio:
        assert page.evaluate("() => voiceDouble.log") == [
            "new Device",
            "register",
            "accept",
            "mute",
            "digits 1",
            "digits #",
            "unmute",
            "mute",
            "disconnect",
        ]
        expect(page.locator("#phone-status")).to_have_text("就绪：来电在此振铃 Ready: calls ring here")


@pytest.mark.parametrize("phone_kind", ["twilio"])
@pytest.mark.parametrize("viewport", [VIEWPORTS["desk"]])
def test_answer_pressed_before_the_browser_rings_takes_the_call_when_it_does(
    app, server, page, dial, network, phone_kind, viewport
):
    agent = make_staff(app, "agent")
    with app.extensions["hotline"].sessions.begin() as session:
        set_skills(session, agent.id, {"general": 3})
    twilio = TwilioSide(page, network, agent.id)
    open_console(page, server, agent)
    # Available is refused until the Device has registered (a loaded machine takes a moment).
    expect(page.locator("#phone-status")).to_have_text("就绪：来电在此振铃 Ready: calls ring here")
    page.get_by_role("button", name="空闲 Available").click()
    expect(page.locator("#state")).to_have_text("空闲 Available")
    caller = dial(MS_WANGS_PHONE)
    caller.press("0")
    expect(page.locator("#offer")).to_be_visible()

    # The engine's offer is on screen before Twilio's invite reaches the browser.
    page.get_by_role("button", name="接听 Answer").click()
    expect(page.locator("#phone-status")).to_have_text("等待来电到达本机 Waiting for the call to reach this browser…")
    assert page.evaluate("() => voiceDouble.log") == ["new Device", "register"]
    twilio.rings()
    twilio.picks_up()  # accepted as soon as it rang
    expect(page.locator("#state")).to_have_text("通话中 On call")
    assert soon(lambda: talking(caller, twilio.leg))


def claims(token: str) -> dict:
    return jwt.decode(token, KEYS["TWILIO_API_KEY_SECRET"], algorithms=["HS256"])


@pytest.mark.parametrize("phone_kind", ["twilio"])
def test_the_softphone_refreshes_its_token_and_says_what_went_wrong(app, server, page, phone_kind, viewport):
    agent = make_staff(app, "agent")
    open_console(page, server, agent)
    status, problem = page.locator("#phone-status"), page.locator("#phone-problem")
    expect(status).to_have_text("就绪：来电在此振铃 Ready: calls ring here")
    first = page.evaluate("() => voiceDouble.device().token")
    assert claims(first)["grants"]["identity"] == f"agent-{agent.id}"
    options = page.evaluate("() => voiceDouble.device().options")
    assert options["edge"] == "roaming" and options["tokenRefreshMs"] == 60_000

    # Before the token runs out the SDK says so; the page fetches a new one for the same agent.
    page.evaluate("() => voiceDouble.tokenWillExpire()")
    page.wait_for_function("() => voiceDouble.log.includes('updateToken')")
    renewed = page.evaluate("() => voiceDouble.device().token")
    assert claims(renewed)["grants"]["identity"] == f"agent-{agent.id}"
    assert claims(renewed)["exp"] >= claims(first)["exp"]

    # The SDK's and the microphone's errors, in both languages.
    page.evaluate("() => voiceDouble.fail(31401, 'Permission denied')")
    expect(problem).to_have_text(
        "麦克风被禁止：请在浏览器地址栏允许本站使用麦克风 "
        "The microphone is blocked: allow this site to use it (the icon in the address bar) (31401)"
    )
    page.evaluate("() => voiceDouble.fail(31402, 'Acquisition failed')")
    expect(problem).to_contain_text("无法打开麦克风")
    expect(problem).to_contain_text("check that the headset is plugged in")
    page.evaluate("() => voiceDouble.fail(31202, 'Signature validation failed')")
    expect(problem).to_contain_text("Twilio refused the token: check the API key and secret (31202)")
    page.evaluate("() => voiceDouble.fail(31999, 'Something new')")
    expect(problem).to_have_text("软电话出错 Softphone error (31999)")

    # An expired token: a new one, and the Device registers again with it.
    page.evaluate(
        "() => { const d = voiceDouble.device(); d.state = 'unregistered'; d.emit('unregistered');"
        " voiceDouble.fail(20104, 'expired'); }"
    )
    page.wait_for_function("() => voiceDouble.log.filter(e => e === 'updateToken').length === 2")
    expect(status).to_have_text("就绪：来电在此振铃 Ready: calls ring here")
    assert page.evaluate("() => voiceDouble.log.filter(e => e === 'register').length") == 2


@pytest.mark.parametrize("phone_kind", ["twilio"])
def test_after_a_network_drop_the_softphone_connects_again(app, server, page, phone_kind, viewport):
    agent = make_staff(app, "agent")
    with app.extensions["hotline"].sessions.begin() as session:
        set_skills(session, agent.id, {"general": 3})
    page.clock.install()
    open_console(page, server, agent)
    status, problem = page.locator("#phone-status"), page.locator("#phone-problem")
    expect(status).to_have_text("就绪：来电在此振铃 Ready: calls ring here")

    # The network drops: the agent sees that calls cannot ring here, and cannot go available.
    page.evaluate("() => voiceDouble.networkDrops()")
    expect(status).to_have_text(
        "未连接，正在重新连接：来电无法在此振铃 Not connected, reconnecting: calls cannot ring here"
    )
    expect(problem).to_have_text("网络中断，正在重新连接 The network dropped: reconnecting (53001)")
    page.get_by_role("button", name="空闲 Available").click()
    expect(page.locator("#problem")).to_have_text(
        "电话未就绪，来电无法在此振铃 The phone is not ready: calls could not ring here"
    )
    expect(page.locator("#state")).to_have_text("离线 Offline")

    # The SDK reconnects and registers again by itself.
    page.evaluate("() => voiceDouble.networkReturns()")
    expect(status).to_have_text("就绪：来电在此振铃 Ready: calls ring here")
    expect(problem).to_be_hidden()
    assert page.evaluate("() => voiceDouble.devices.length") == 1

    # It drops again and the SDK does not come back: half a minute on, the page builds a new
    # Device with a fresh token and registers it.
    page.evaluate("() => voiceDouble.networkDrops()")
    page.clock.run_for(10_000)
    assert page.evaluate("() => voiceDouble.devices.length") == 1  # the SDK's own reconnection first
    page.clock.run_for(30_000)
    expect(status).to_have_text("就绪：来电在此振铃 Ready: calls ring here")
    assert page.evaluate("() => voiceDouble.devices.length") == 2
    assert page.evaluate("() => voiceDouble.log.slice(-3)") == ["destroy", "new Device", "register"]
    page.get_by_role("button", name="空闲 Available").click()
    expect(page.locator("#state")).to_have_text("空闲 Available")


@pytest.mark.parametrize("phone_kind", ["twilio"])
@pytest.mark.parametrize("api_keys", [{}])
def test_without_twilio_keys_the_softphone_says_what_is_missing(app, server, page, phone_kind, viewport, api_keys):
    agent = make_staff(app, "agent")
    open_console(page, server, agent)
    expect(page.locator("#phone-status")).to_have_text("未连接：来电无法在此振铃 Not connected: calls cannot ring here")
    expect(page.locator("#phone-problem")).to_contain_text("软电话未配置 The softphone is not configured")
    expect(page.locator("#phone-problem")).to_contain_text("TWILIO_API_KEY_SID")
    assert page.evaluate("() => voiceDouble.devices.length") == 0


@pytest.mark.parametrize("phone_kind", ["twilio"])
@pytest.mark.parametrize("viewport", [VIEWPORTS["desk"]])
@pytest.mark.parametrize("api_keys", [{}])  # no token, so no Device: the test reaches no Twilio server
def test_the_vendored_sdk_loads_under_the_pages_csp(app, server, browser, phone_kind, viewport, api_keys):
    """The real bundle (not the double): served by the hotline, it runs under the CSP and
    gives the page Twilio.Device."""
    context = browser.new_context(locale="zh-CN", viewport=viewport)
    page = context.new_page()
    refused = []
    page.on(
        "console", lambda message: refused.append(message.text) if "Content Security Policy" in message.text else None
    )
    agent = make_staff(app, "agent")
    open_console(page, server, agent)
    assert page.evaluate("() => typeof Twilio.Device") == "function"
    assert page.evaluate("() => Twilio.Device.version") == (VENDORED / "VERSION").read_text().split()[1]
    expect(page.locator("#phone-problem")).to_contain_text("软电话未配置 The softphone is not configured")
    assert refused == []
    context.close()


def test_the_vendored_sdk_is_the_pinned_release():
    """What scripts/vendor_twilio_voice.sh copied in, checked against what it wrote down."""
    sums = dict(line.split()[::-1] for line in (VENDORED / "SHA256SUMS").read_text().splitlines())
    for name, digest in sums.items():
        assert hashlib.sha256((VENDORED / name).read_bytes()).hexdigest() == digest, name
    assert "Apache License, Version 2.0" in (VENDORED / "LICENSE.md").read_text()
    version = (VENDORED / "VERSION").read_text().split()[1]
    script = (ROOT / "scripts" / "vendor_twilio_voice.sh").read_text()
    assert f"VERSION={version}\n" in script
    integrity = script.split("INTEGRITY=", 1)[1].split()[0]
    assert integrity in (VENDORED / "VERSION").read_text()
    assert len(base64.b64decode(integrity.removeprefix("sha512-"))) == 64


@pytest.mark.parametrize("phone_kind", ["twilio"])
@pytest.mark.parametrize("viewport", [VIEWPORTS["desk"]])
def test_a_supervisors_softphone_takes_the_listen_it_asked_for(
    app, server, page, dial, network, phone_kind, viewport, monkeypatch
):
    """Before issue 14's follow-up only agents could open the console, so a supervisor's
    listen rang nobody with real Twilio.  Their console ("My phone") registers their identity
    and takes the monitor leg they asked for without a second click."""
    from acd import desk
    from tests.acd.test_agent_api import Console

    # With the emulator the server would pick the supervisor's leg up itself (the demo); here
    # the browser's softphone must, as with real Twilio.
    monkeypatch.setattr(desk, "_answer_emulated_leg", lambda base, staff_id: None)
    agent = Console(app, make_staff(app, "agent"))
    with app.extensions["hotline"].sessions.begin() as session:
        set_skills(session, agent.login.id, {"general": 3})
    agent.post("state", state="available")
    caller = dial(MS_WANGS_PHONE)
    caller.press("0")
    ringing_leg(network, f"client:agent-{agent.login.id}").answer()  # the agent's own softphone
    assert agent.status()["state"] == "on_call"

    supervisor = make_staff(app, "supervisor")
    log_in_page(page, server, supervisor.username, supervisor.password)
    page.get_by_role("navigation").get_by_role("link", name="我的电话 My phone").click()
    expect(page.locator("#phone-status")).to_have_text("就绪：来电在此振铃 Ready: calls ring here")
    assert claims(page.evaluate("() => voiceDouble.device().token"))["grants"]["identity"] == f"agent-{supervisor.id}"

    listened = Console(app, supervisor).post("listen", call_sid=caller.sid, reason="新坐席质检 coaching")
    assert listened.status_code == 200, listened.get_json()
    twilio = TwilioSide(page, network, supervisor.id)
    twilio.rings()
    twilio.picks_up()  # the page accepted it: the supervisor pressed Listen already
    expect(page.locator("#monitor-state")).to_have_text("已接通 Connected")
    assert page.evaluate("() => voiceDouble.log").count("accept") == 1
    assert soon(lambda: in_talk(caller))
