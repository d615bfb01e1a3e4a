"""Both languages everywhere staff read (issue 15): the agent API's refusals and its
state, reason and queue names; the call page's outcomes and events; the 403 page."""

from __future__ import annotations

import re

import pytest

from acd import desk, talks
from records.titles import EVENT_TITLES, OUTCOME_TITLES, REASON_TITLES, STATE_TITLES
from tests.acd.test_agent_api import Console, agent_with
from tests.web import log_in, make_staff

CHINESE = re.compile(r"[\u4e00-\u9fff]")
ENGLISH = re.compile(r"[A-Za-z]{3,}")


def both(text: str) -> bool:
    return bool(CHINESE.search(text) and ENGLISH.search(text))


@pytest.mark.parametrize("table", [desk.REFUSALS, talks.REFUSALS], ids=["desk", "talks"])
def test_every_refusal_is_written_in_both_languages(table):
    assert [code for code, message in table.items() if not both(message)] == []


@pytest.mark.parametrize("table", [STATE_TITLES, REASON_TITLES, OUTCOME_TITLES, EVENT_TITLES])
def test_every_name_has_both_languages(table):
    assert all(CHINESE.search(name["zh"]) and ENGLISH.search(name["en"]) for name in table.values())


def test_the_agent_api_answers_refusals_in_both_languages(app, hotline):
    console = Console(app, agent_with(app, {"general": 3}))
    answers = [
        console.post("answer", call_sid="CA" + "0" * 32),  # not ringing for you
        console.post("state", state="asleep"),  # no such state
        console.post("state"),  # state missing
        console.post("transfer", call_sid="CAx", queue="general", agent_id=3),  # two targets
        console.post("wrap-up", call_sid="CAx", disposition="made-up"),
        console.post("transfer", call_sid="CAx", agent_id="someone"),
        console.post("hold", call_sid="CAx"),
    ]
    nobody = Console(app, make_staff(app, "agent"))
    answers.append(nobody.post("state", state="available"))  # no skills
    assert [r.status_code for r in answers] == [409, 409, 400, 409, 409, 400, 409, 409]
    assert [r.get_json()["error"] for r in answers if not both(r.get_json()["error"])] == []
    assert answers[0].get_json()["code"] == "not_ringing"
    assert answers[1].get_json()["error"].startswith("状态只能是")
    assert (
        app.test_client().get("/agent/api/status").get_json()["error"]
        == "未登录，请重新登录 Not logged in: log in again"
    )


def test_the_status_names_the_state_its_reason_and_queues_in_both_languages(app, hotline):
    console = Console(app, agent_with(app, {"general": 3}))
    status = console.status()
    assert (status["state"], status["state_title"], status["reason_title"]) == (
        "offline",
        {"zh": "离线", "en": "Offline"},
        None,
    )
    status = console.post("state", state="break", reason="training").get_json()
    assert status["state_title"] == {"zh": "休息", "en": "Break"}
    assert status["reason_title"] == {"zh": "培训", "en": "Training"}  # config.yaml's break reason
    assert {"zh": "综合咨询", "en": "general enquiries"} in [q["title"] for q in status["queues"]]


def test_a_page_refused_to_a_role_says_so_in_both_languages_with_a_way_back(app):
    agent = make_staff(app, "agent")
    client = app.test_client()
    log_in(client, agent.username, agent.password)
    response = client.get("/supervisor/calls", headers={"Referer": "http://localhost/console/cases"})
    html = response.get_data(as_text=True)
    assert response.status_code == 403
    assert "无权访问此页面" in html and "You may not open this page" in html
    assert 'id="go-back" href="/console/cases"' in html  # the page they came from
    assert 'id="go-home" href="/"' in html  # and their own start page
    elsewhere = client.get("/supervisor/calls", headers={"Referer": "https://evil.example/x"}).get_data(as_text=True)
    assert 'id="go-back"' not in elsewhere  # never a link off the site
    supervisor = make_staff(app, "supervisor")
    log_in(client, supervisor.username, supervisor.password)
    api = client.get("/agent/api/stream")  # an agents-only API refuses in JSON, in both languages
    assert api.status_code == 403 and api.get_json()["error"] == "无权进行此操作 Your role may not do this"


def test_every_outcome_the_call_log_filters_by_has_a_name():
    from records.call_log import OUTCOMES

    assert [code for code in OUTCOMES if code not in OUTCOME_TITLES] == []
