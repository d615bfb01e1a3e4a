"""The agent's desk on a busy floor, in headless Chromium (issues 14 and 15): the talk's
controls on the console page (hold, consult, complete transfer, return to the caller, a
third party), the offer in the first screen with its ring, notification and title, the
keyboard shortcuts, the wrap-up's notes kept through a reload and when the timer runs out,
the caller's file leaving the screen, a lost connection, leaving the console, and a
supervisor's phone.  Real calls through the carrier emulator and the routing engine; the
clock is the emulator's, moved by the test."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from records.models import WrapUp
from records.seats import NOT_GIVEN
from tests.acd import conftest as whole_calls
from tests.acd.test_agent_api import Console, agent_with
from tests.acd.test_seats_calls import UNKNOWN, ringing, sweep
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
MS_WANGS_PHONE = "+8613800138000"
VIEWPORTS = {"desk": {"width": 1366, "height": 768}, "phone": {"width": 390, "height": 844}}


@pytest.fixture(params=["desk"])
def viewport(request):
    return VIEWPORTS[request.param]


@pytest.fixture
def page(browser, viewport):
    context = browser.new_context(locale="zh-CN", viewport=viewport)
    context.set_default_timeout(10_000)
    context.grant_permissions(["notifications"])
    page = context.new_page()
    yield page
    context.close()


def at_the_console(page, server, login):
    log_in_page(page, server, login.username, login.password)
    page.goto(f"{server}/agent")
    page.get_by_role("button", name="空闲 Available").click()
    expect(page.locator("#state")).to_have_text("空闲 Available")


def in_first_screen(page, locator, viewport):
    """Seen without scrolling: inside the window as the page opens."""
    box = locator.bounding_box()
    scrolled = page.evaluate("() => window.scrollY")
    return (
        scrolled == 0
        and box["y"] >= 0
        and box["y"] + box["height"] <= viewport["height"]
        and box["x"] + box["width"] <= viewport["width"]
    )


def offer_ringing(app, server, page, dial):
    """An agent at the console, Ms Wang's call offered to them (she pressed 0)."""
    agent = agent_with(app, {"general": 3})
    at_the_console(page, server, agent)
    dial(MS_WANGS_PHONE).press("0")
    expect(page.get_by_role("button", name="接听 Answer")).to_be_visible()


def alerts(page, kind):
    return page.evaluate("k => window.hotlineConsole.alerts.filter(a => a.kind === k).length", kind)


def test_hold_consult_and_complete_a_transfer_from_the_page(app, server, page, dial, carrier, hotline):
    first = agent_with(app, {"general": 3}, display_name="坐席一")
    second = Console(app, agent_with(app, {"general": 3}, display_name="坐席二"))
    second.post("state", state="available")
    at_the_console(page, server, first)
    call = dial(UNKNOWN)
    call.press("0")
    expect(page.locator("#offer")).to_be_visible()
    first_leg = ringing(carrier, first.id)
    page.get_by_role("button", name="接听 Answer").click()
    expect(page.locator("#state")).to_have_text("通话中 On call")
    assert soon(lambda: talking(call, first_leg))

    # Hold, then back.
    page.get_by_role("button", name="保持 Hold").click()
    expect(page.locator("#held")).to_be_visible()
    expect(page.get_by_role("button", name="保持 Hold")).to_be_hidden()
    call.wait(1)
    assert "请稍候，工作人员马上回来为您服务。" in call.take_text()
    page.get_by_role("button", name="恢复通话 Resume").click()
    expect(page.locator("#held")).to_be_hidden()

    # Consult agent two, picked from the directory (only available agents can be chosen).
    consult = page.locator("#consult-target")
    expect(consult.locator("option", has_text="坐席二")).to_have_text("坐席二 · 空闲 Available")
    consult.select_option(f"agent:{second.login.id}")
    page.get_by_role("button", name="咨询 Consult", exact=True).click()
    expect(page.locator("#consult-label")).to_have_text("坐席二")
    expect(page.locator("#consult-state")).to_have_text("正在振铃 Ringing")
    expect(page.locator("#held")).to_be_visible()  # the caller waits on hold meanwhile

    # Completing before the colleague answers is refused, in both languages; nobody is dropped.
    page.get_by_role("button", name="完成转接 Complete transfer").click()
    expect(page.locator("#problem")).to_have_text(
        "对方尚未接听，无法完成转接 The other party has not answered yet: the transfer cannot complete"
    )
    assert soon(lambda: in_talk(call))

    second_leg = ringing(carrier, second.login.id)
    assert second.post("answer", call_sid=call.sid).get_json()["state"] == "on_call"
    expect(page.locator("#consult-state")).to_have_text("通话中 Talking")
    page.get_by_role("button", name="完成转接 Complete transfer").click()

    # Agent two keeps the caller; agent one wraps up.
    expect(page.locator("#state")).to_have_text("话后处理 Wrap-up")
    expect(page.locator("#call")).to_be_hidden()
    expect(page.locator("#wrap-up")).to_be_visible()
    assert soon(lambda: first_leg.ended and talking(call, second_leg))
    kinds = [e.kind for e in hotline.calls.events(call.sid) if e.kind in ("hold", "resume", "consult", "transfer")]
    assert kinds == ["hold", "resume", "hold", "consult", "resume", "transfer"]


def test_return_to_the_caller_and_a_third_party_from_the_page(app, server, page, dial, carrier, settings):
    nurses, interpreters = settings.console.consult_numbers[:2]
    carrier.set_endpoint(nurses.number, "answer")
    carrier.set_endpoint(interpreters.number, "answer")
    agent = agent_with(app, {"general": 3})
    at_the_console(page, server, agent)
    call = dial(UNKNOWN)
    call.press("0")
    page.get_by_role("button", name="接听 Answer").click()
    expect(page.locator("#state")).to_have_text("通话中 On call")

    page.locator("#consult-target").select_option(f"outside:{nurses.key}")
    page.get_by_role("button", name="咨询 Consult", exact=True).click()
    expect(page.locator("#consult-label")).to_have_text("心内科护士站 Cardiology nurses' station")
    expect(page.locator("#consult-state")).to_have_text("通话中 Talking")
    nurse = next(c for c in carrier.calls if c.to == nurses.number)
    page.get_by_role("button", name="回到来电者 Return to caller").click()
    expect(page.locator("#consulting")).to_be_hidden()
    expect(page.locator("#held")).to_be_hidden()
    assert nurse.ended and in_talk(call)

    page.locator("#party-target").select_option(interpreters.key)
    page.get_by_role("button", name="加入通话 Add to call").click()
    expect(page.locator("#party-label")).to_have_text("翻译服务 Interpreters")
    interpreter = next(c for c in carrier.calls if c.to == interpreters.number)
    page.get_by_role("button", name="移出通话 Drop from call").click()
    expect(page.locator("#party")).to_be_hidden()
    assert interpreter.ended and in_talk(call)


@pytest.mark.parametrize("viewport", list(VIEWPORTS), indirect=True)
def test_an_offer_rings_notifies_and_is_answered_from_the_first_screen(app, server, page, dial, carrier, viewport):
    agent = agent_with(app, {"general": 3})
    at_the_console(page, server, agent)
    shortcuts = page.locator("#shortcuts")
    shortcuts.locator("summary").click()
    expect(shortcuts).to_contain_text("Alt+Shift+A")
    expect(shortcuts).to_contain_text("接听 Answer")
    for action in ("拒接 Decline", "挂断 Hang up", "保持 / 恢复 Hold / resume", "静音", "空闲 Ready", "休息 Break"):
        expect(shortcuts).to_contain_text(action)
    page.evaluate("() => window.scrollTo(0, 0)")  # the page as it opens

    call = dial(MS_WANGS_PHONE)
    call.press("0")
    answer = page.get_by_role("button", name="接听 Answer")
    expect(answer).to_be_visible()
    assert in_first_screen(page, answer, viewport)
    assert in_first_screen(page, page.get_by_role("button", name="拒接 Decline"), viewport)
    # The ring, the notification and the tab's title, once for the offer; nothing of the patient's.
    page.wait_for_function("() => window.hotlineConsole.alerts.some(a => a.kind === 'notification')")
    assert alerts(page, "ring") == 1 and alerts(page, "title") == 1 and alerts(page, "notification") == 1
    expect(page).to_have_title("☎ 来电 Incoming call · 综合咨询 general enquiries")
    assert "8000" not in page.evaluate("() => JSON.stringify(window.hotlineConsole.alerts)")

    # Answered from the keyboard; the title is quiet again.
    page.keyboard.press("Alt+Shift+KeyA")
    expect(page.locator("#state")).to_have_text("通话中 On call")
    expect(page).not_to_have_title("☎ 来电 Incoming call · 综合咨询 general enquiries")
    assert in_first_screen(page, page.get_by_role("button", name="挂断 Hang up"), viewport)
    page.keyboard.press("Alt+Shift+KeyH")
    expect(page.locator("#held")).to_be_visible()
    page.keyboard.press("Alt+Shift+KeyH")
    expect(page.locator("#held")).to_be_hidden()
    page.keyboard.press("Alt+Shift+KeyE")
    expect(page.locator("#state")).to_have_text("话后处理 Wrap-up")
    assert in_first_screen(page, page.get_by_label("备注 Notes"), viewport)
    assert alerts(page, "ring") == 1  # one offer, one ring


def test_a_wrap_up_the_timer_ends_keeps_the_notes_and_the_file_leaves_the_screen(
    app, db, server, page, dial, carrier, hotline
):
    agent = agent_with(app, {"general": 3})
    at_the_console(page, server, agent)
    call = dial(MS_WANGS_PHONE)
    call.press("0")
    pop = page.locator("#screen-pop")
    expect(pop.locator(".file-name")).to_contain_text("王秀英")
    page.get_by_role("button", name="接听 Answer").click()
    page.get_by_role("button", name="挂断 Hang up").click()
    expect(page.locator("#wrap-up")).to_be_visible()

    with page.expect_response("**/agent/api/wrap-up-draft"):
        page.get_by_label("备注 Notes").fill("询问心内科复诊时间")
    # A reload (the browser asks first: the agent is at work) keeps what was typed.
    page.once("dialog", lambda dialog: dialog.accept())
    page.reload()
    expect(page.get_by_label("备注 Notes")).to_have_value("询问心内科复诊时间")
    expect(pop.locator(".file-name")).to_contain_text("王秀英")

    # The wrap-up's time runs out before the agent finishes.
    wrap_up_for = hotline.settings.routing.queues["general"].wrap_up_seconds
    carrier.advance(wrap_up_for + 1)
    assert sweep(hotline, agent.id)["wrapped"] == 1
    expect(page.locator("#state")).to_have_text("空闲 Available")
    expect(page.locator("#wrap-up")).to_be_hidden()
    expect(pop).to_be_empty()  # the caller's file is gone with the wrap-up
    assert page.evaluate("() => sessionStorage.length") == 0

    db.rollback()
    [row] = db.scalars(select(WrapUp).where(WrapUp.call_sid == call.sid)).all()
    assert (row.staff_id, row.disposition, row.notes) == (agent.id, NOT_GIVEN, "询问心内科复诊时间")


def test_a_missed_offer_takes_the_file_off_the_screen(app, server, page, dial, carrier, hotline):
    agent = agent_with(app, {"general": 3})
    at_the_console(page, server, agent)
    call = dial(MS_WANGS_PHONE)
    call.press("0")
    pop = page.locator("#screen-pop")
    expect(pop.locator(".file-name")).to_contain_text("王秀英")
    carrier.advance(hotline.settings.routing.offer_timeout_seconds + 1)
    sweep(hotline, agent.id)
    expect(page.locator("#state")).to_have_text("休息 Break")
    expect(page.locator("#state-reason")).to_have_text("原因 Reason: 未接来电（振铃超时） Missed: the offer rang out")
    expect(page.locator("#offer")).to_be_hidden()
    expect(pop).to_be_empty()
    assert not call.ended


def test_leaving_the_console_warns_and_a_lost_connection_shows(app, server, page):
    agent = agent_with(app, {"general": 3})
    at_the_console(page, server, agent)

    # Another staff page in this tab would stop the console's heartbeats: the browser asks.
    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.type), dialog.dismiss()))
    page.get_by_role("navigation").get_by_role("link", name="我的投诉 My cases").click()
    page.wait_for_function("() => window.hotlineConsole.alerts.some(a => a.kind === 'leave-warning')")
    assert asked == ["beforeunload"]
    expect(page).to_have_url(f"{server}/agent")
    expect(page.locator("#state")).to_have_text("空闲 Available")

    # The hotline cannot be reached: said within a poll or two, not a green "Available".
    page.route("**/agent/api/status", lambda route: route.abort("internetdisconnected"))
    expect(page.locator("#state")).to_have_text("连接中断 Connection lost")
    expect(page.locator("#state")).to_have_class("state lost")
    expect(page.locator("#problem")).to_have_text("与热线服务器的连接中断 The connection to the hotline is lost")
    page.unroute("**/agent/api/status")
    expect(page.locator("#state")).to_have_text("空闲 Available")
    expect(page.locator("#problem")).to_be_hidden()

    # Logging out is leaving on purpose: no question, and the agent is set offline.
    page.on("dialog", lambda dialog: (asked.append(dialog.type), dialog.dismiss()))
    page.get_by_role("button", name="退出 Log out").click()
    expect(page.get_by_role("heading", name="坐席登录 Staff log in")).to_be_visible()  # /login, with or without ?next=
    assert asked == ["beforeunload"]
    assert app.extensions["hotline"].acd.agent(agent.id)["state"] == "offline"


def test_a_supervisors_phone_is_the_console_and_shows_the_call_they_listen_to(app, server, page, dial, carrier):
    agent = Console(app, agent_with(app, {"general": 3}))
    agent.post("state", state="available")
    call = dial(UNKNOWN)
    call.press("0")
    ringing(carrier, agent.login.id)
    agent.post("answer", call_sid=call.sid)

    supervisor = make_staff(app, "supervisor", display_name="主管")
    log_in_page(page, server, supervisor.username, supervisor.password)
    page.get_by_role("navigation").get_by_role("link", name="我的电话 My phone").click()
    expect(page.locator("#phone-status")).to_have_text("演示电话（运营商模拟器）Demo phone (carrier emulator)")
    boss = Console(app, supervisor)
    assert boss.post("listen", call_sid=call.sid, reason="新坐席质检 coaching").status_code == 200
    card = page.locator("#monitor")
    expect(card).to_be_visible()
    expect(page.locator("#monitor-state")).to_have_text("已接通 Connected")
    expect(page.locator("#monitor-mode")).to_have_text("只听 Listening")
    page.get_by_role("button", name="密语 Whisper to the agent").click()
    expect(page.locator("#monitor-mode")).to_have_text("密语 Whispering to the agent")
    page.get_by_role("button", name="退出 Stop listening").click()
    expect(card).to_be_hidden()
    assert soon(lambda: in_talk(call))


def test_a_second_console_for_the_agent_stops_the_first(app, server, page):
    agent = agent_with(app, {"general": 3})
    at_the_console(page, server, agent)
    second = page.context.new_page()
    second.goto(f"{server}/agent")
    expect(second.locator("#state")).to_have_text("空闲 Available")
    # The first learns at its next heartbeat (console.heartbeat_seconds) and stops: no polls,
    # no ringing, its buttons off, and it says why.
    expect(page.locator("#problem")).to_contain_text("This console was opened in another window", timeout=30_000)
    expect(page.get_by_role("button", name="空闲 Available")).to_be_disabled()
    assert alerts(page, "replaced") == 1
    expect(second.locator("#problem")).to_be_hidden()


# Polls, the event stream and each button all ask for the status; the answers can overtake one
# another.  This holds one answer back until the agent has answered from a newer one.
HOLD_BACK_ONE_STATUS = """() => {
  const plain = window.fetch;
  window.fetch = (url, options) => {
    const answer = plain(url, options);
    if (!String(url).endsWith("/status") || window.heldBack) return answer;
    window.heldBack = "asked";
    return answer.then((late) => new Promise((give) => setTimeout(() => { window.heldBack = "given"; give(late); }, 1500)));
  };
}"""


def test_a_status_answer_that_arrives_late_does_not_bring_an_answered_offer_back(app, server, page, dial, carrier):
    offer_ringing(app, server, page, dial)
    page.evaluate(HOLD_BACK_ONE_STATUS)
    page.wait_for_function("() => window.heldBack === 'asked'")  # asked while the offer rang

    page.get_by_role("button", name="接听 Answer").click()
    expect(page.locator("#state")).to_have_text("通话中 On call")
    page.wait_for_function("() => window.heldBack === 'given'")
    # The older answer, offer and all, is not painted over the newer: no second ring, no offer.
    expect(page.locator("#state")).to_have_text("通话中 On call")
    expect(page.locator("#offer")).to_be_hidden()
    assert alerts(page, "ring") == 1


# A status asked before the agent's last button, which fails once that button's answer is shown
# (a timeout, a 502 from the proxy); the polls after it get no answer, so nothing paints over it.
FAIL_ONE_STATUS_LATE = """() => {
  const plain = window.fetch;
  window.fetch = (url, options) => {
    if (!String(url).endsWith("/status")) return plain(url, options);
    if (window.heldBack === "failed") return new Promise(() => {});
    if (window.heldBack) return plain(url, options);
    window.heldBack = "asked";
    return new Promise((_, fail) => setTimeout(() => { window.heldBack = "failed"; fail(new TypeError("Failed to fetch")); }, 3000));
  };
}"""


def test_a_status_that_fails_late_does_not_say_the_connection_is_lost_over_a_newer_answer(app, server, page):
    """The newer answer shows the connection works: an older question's failure, arriving
    after it, is no news (it said 'Connection lost, calls may not reach you' until the next poll)."""
    agent = agent_with(app, {"general": 3})
    at_the_console(page, server, agent)
    page.evaluate(FAIL_ONE_STATUS_LATE)
    page.wait_for_function("() => window.heldBack === 'asked'")
    page.get_by_role("button", name="休息 Break").click()
    expect(page.locator("#state")).to_have_text("休息 Break")
    page.wait_for_function("() => window.heldBack === 'failed'")
    page.wait_for_timeout(500)
    assert page.locator("#state").get_attribute("data-state") == "break"
    assert page.locator("#problem").is_hidden()


# Every status answer held back from now until window.giveAll() (the event stream's too).
HOLD_BACK_EVERY_STATUS = """() => {
  const plain = window.fetch;
  const held = [];
  window.heldAnswers = 0;
  window.giveAll = () => { held.splice(0).forEach((give) => give()); window.given = true; };
  window.fetch = (url, options) => {
    const answer = plain(url, options);
    if (!String(url).endsWith("/status") || window.given) return answer;
    // The body read at once (the connection free for the heartbeats), the answer held.
    return answer.then((late) => late.text().then((body) => new Promise((give) => {
      window.heldAnswers += 1;
      held.push(() => give(new Response(body, { status: late.status, headers: late.headers })));
    })));
  };
}"""

COUNT_BEEPS = """() => {
  window.beeps = 0;
  const Context = window.AudioContext || window.webkitAudioContext;
  if (!Context) return;
  const make = Context.prototype.createOscillator;
  Context.prototype.createOscillator = function () { window.beeps += 1; return make.call(this); };
}"""


def test_a_console_replaced_while_an_offer_rings_stops_ringing_and_paints_no_late_answer(
    app, server, page, dial, carrier
):
    """A console another window replaced (retire) stopped polling but went on ringing for
    ever, its title saying '☎ Incoming call', and painted the status answers still on their
    way: an offer answered meanwhile in the other window rang again there."""
    page.add_init_script(f"({COUNT_BEEPS})()")
    offer_ringing(app, server, page, dial)
    page.evaluate(HOLD_BACK_EVERY_STATUS)
    page.wait_for_function("() => window.heldAnswers > 0")  # asked while the offer rang

    second = page.context.new_page()
    second.goto(f"{server}/agent")
    expect(page.locator("#problem")).to_contain_text("This console was opened in another window", timeout=30_000)
    second.get_by_role("button", name="接听 Answer").click()
    expect(second.locator("#state")).to_have_text("通话中 On call")

    page.evaluate("() => window.giveAll()")
    page.wait_for_timeout(500)
    beeps = page.evaluate("() => window.beeps")
    page.wait_for_timeout(3500)  # a ring every 3 s
    assert page.evaluate("() => window.beeps") == beeps
    assert "☎" not in page.title()
    assert alerts(page, "ring") == 1
    expect(page.locator("#problem")).to_contain_text("This console was opened in another window")
