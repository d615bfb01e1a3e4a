"""config.yaml is read once into a typed, frozen object; mistakes name their key."""

import pydantic
import pytest
import yaml

import settings
from app import ROOT, create_app


@pytest.fixture
def data():
    return yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))


def problems(data, environ=None) -> str:
    with pytest.raises(settings.ConfigError) as error:
        settings.parse(data, environ=environ or {})
    return str(error.value)


def test_the_shipped_config_loads_with_numbers_in_e164():
    loaded = settings.load(ROOT / "config.yaml", environ={})
    assert loaded.hospital.main_number == "+861065281000"
    assert loaded.seats.operator_number == "+861065281999"
    assert loaded.hospital.name("zh") == "明湖示范医院"


def test_settings_are_frozen():
    loaded = settings.load(ROOT / "config.yaml", environ={})
    with pytest.raises(pydantic.ValidationError):
        loaded.hospital.timezone = "UTC"


def test_a_missing_key_is_named(data):
    del data["twilio"]["caller_id"]
    assert problems(data) == "config.yaml: twilio.caller_id: this key is required but missing"


def test_a_misspelt_key_is_named(data):
    data["dialogue"]["bak_key"] = "#"
    assert "dialogue.bak_key: unknown key" in problems(data)


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (("hospital", "timezone"), "Mars/Olympus", "hospital.timezone: expected an IANA time zone"),
        (("hospital", "main_number"), "12345", "hospital.main_number: expected a valid phone number"),
        (("seats", "opening_hours", "mon"), ["8-17"], "seats.opening_hours.mon[0]: expected a range like 08:00-17:30"),
        (
            ("seats", "opening_hours", "tue"),
            ["17:00-08:00"],
            "seats.opening_hours.tue[0]: expected the start before the end",
        ),
        (("dialogue", "back_key"), "0", "the special keys must all differ"),
        (("dialogue", "max_failures"), 0, "dialogue.max_failures: Input should be greater than or equal to 1"),
        (("console", "phone", "kind"), "sip", "console.phone.kind: Input should be 'twilio' or 'emulator'"),
    ],
)
def test_wrong_values_say_what_was_expected(data, path, value, expected):
    node = data
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    assert expected in problems(data)


def test_menu_targets_must_exist(data):
    data["menus"]["main"]["options"][0]["goto"] = "menu:billing"
    assert "menus.main.options[0].goto: no menu called 'billing'" in problems(data)
    data["menus"]["main"]["options"][0]["goto"] = "flow:billing"
    assert "menus.main.options[0].goto: expected 'flow:<one of" in problems(data)


def test_reserved_keys_are_refused_in_the_main_menu(data):
    data["menus"]["main"]["options"][0]["key"] = "9"
    assert "menus.main.options[0].key: '9' is reserved" in problems(data)


def test_duplicate_menu_keys_are_refused(data):
    data["menus"]["main"]["options"][1]["key"] = "1"
    assert "menus.main.options: each key may be used once" in problems(data)


def test_secrets_come_from_the_environment(data):
    loaded = settings.parse(data, environ={"TWILIO_AUTH_TOKEN": "s3cret", "DATABASE_URL": "sqlite:///x.db"})
    assert loaded.env.twilio_auth_token == "s3cret"
    assert loaded.env.database_url == "sqlite:///x.db"
    assert settings.parse(data, environ={}).env.twilio_auth_token is None


def test_create_app_refuses_a_bad_file(tmp_path):
    bad = tmp_path / "config.yaml"
    bad.write_text("hospital: [unclosed", encoding="utf-8")
    with pytest.raises(settings.ConfigError, match="not valid YAML"):
        create_app(bad)


@pytest.mark.parametrize(
    "section, field",
    [
        ("Booking", "reminder_time"),
        ("Staffing", "nightly_at"),
        ("FollowUp", "run_time"),
        ("Satisfaction", "run_time"),
        ("Quality", "sample_time"),
        ("Retention", "run_time"),
    ],
)
def test_every_daily_time_is_checked_and_refused_in_both_languages(section, field):
    model = getattr(settings, section)
    with pytest.raises(
        pydantic.ValidationError, match="应为时刻，如 08:30。Expected a time of day like 08:30, got '25:61'"
    ):
        model(**{field: "25:61"})
    assert getattr(model(**{field: "07:45"}), field) == "07:45"


@pytest.mark.parametrize(("ring", "expiry"), [(60, 60), (90, 60), (40, 30)])
def test_a_callback_ringing_as_long_as_its_reservation_is_refused_in_both_languages(data, ring, expiry):
    """The patient's phone would still ring when the agent's reservation expires."""
    data["routing"].setdefault("callbacks", {})["ring_seconds"] = ring
    data["routing"]["reservation_expiry_seconds"] = expiry
    assert problems(data) == (
        f"config.yaml: routing: 回电响铃时长 callbacks.ring_seconds（{ring} 秒）须短于坐席预留时限 "
        f"reservation_expiry_seconds（{expiry} 秒），否则患者电话还在响，预留就可能已过期。"
        f"callbacks.ring_seconds ({ring}) must be less than reservation_expiry_seconds ({expiry}): "
        "otherwise the agent's reservation can expire while the patient's phone is still ringing."
    )


def test_a_callback_ringing_shorter_than_its_reservation_is_accepted(data):
    data["routing"].setdefault("callbacks", {})["ring_seconds"] = 59
    data["routing"]["reservation_expiry_seconds"] = 60
    assert settings.parse(data, environ={}).routing.callbacks.ring_seconds == 59
    assert settings.Routing.model_fields["reservation_expiry_seconds"].default == 60
    assert settings.Callbacks().ring_seconds == 30  # the defaults agree with each other
