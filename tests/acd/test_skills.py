"""Agents' skills in the database: seeded for the demo, set by command, checked."""

from __future__ import annotations

import pytest

from records.cli import DEMO_SKILLS, seed, staff_group
from records.seats import SkillError, agent_skills, set_skills
from records.staff import find_staff
from tests.web import make_staff


def test_seed_demo_gives_the_demo_agents_skills(app, db):
    with app.app_context():
        result = app.test_cli_runner().invoke(seed, ["--demo"])
    assert result.exit_code == 0, result.output
    db.rollback()
    for username, skills in DEMO_SKILLS.items():
        assert agent_skills(db, find_staff(db, username).id) == skills
    known = {queue.skill for queue in app.extensions["hotline"].settings.routing.queues.values()}
    assert {skill for skills in DEMO_SKILLS.values() for skill in skills} <= known


def test_skills_by_command_are_checked(app, db):
    login = make_staff(app, "agent")
    runner = app.test_cli_runner()
    with app.app_context():
        result = runner.invoke(staff_group, ["skills", login.username, "general=4", "nurse=2"])
        assert result.exit_code == 0 and result.output.strip() == "general=4, nurse=2"
        bad = runner.invoke(staff_group, ["skills", login.username, "cooking=3"])
        assert bad.exit_code != 0 and "no queue uses the skill 'cooking'" in bad.output
        bad = runner.invoke(staff_group, ["skills", login.username, "general=9"])
        assert bad.exit_code != 0 and "the level must be 1 to 5" in bad.output
    db.rollback()
    assert agent_skills(db, login.id) == {"general": 4, "nurse": 2}
    with pytest.raises(SkillError):
        set_skills(db, 10**6, {"general": 1})
