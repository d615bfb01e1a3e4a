"""Department information: choose from a paged list by key or by name; hear where
it is, when it is open and its phone number; go on to its doctors."""

from collections.abc import Callable

from twilio.twiml.voice_response import VoiceResponse

from ivr.dialogue import MAIN_MENU, Choice, Conversation, Target, paged_choices, step
from records.directory import Department
from records.models import localized
from wording import speaking

DEPARTMENTS = Target("departments", "start")


def phrases(department: Department) -> tuple[str, ...]:
    return (department.name_zh, department.name_en, *department.aliases_zh, *department.aliases_en)


def choose_department(
    conversation: Conversation,
    page: str,
    *,
    here: Target,
    then: Callable[[Department], Target],
    intro: str = "departments_intro",
    back: Target = MAIN_MENU,
) -> VoiceResponse:
    """The paged list of departments, by key or by name; `then` says where a choice leads.
    Used for information, for doctors by department and for booking."""
    lang = conversation.lang
    choices, lines = paged_choices(
        conversation,
        conversation.directory.departments,
        conversation.int_arg(page),
        list_target=here,
        target_of=then,
        label_of=lambda d, key: conversation.t("option", label=localized(d, "name", lang), key=key),
        phrases_of=phrases,
    )
    return conversation.menu([conversation.t(intro), *lines], choices, back=back)


@step("departments", "start")
def departments(conversation: Conversation, page: str = "0") -> VoiceResponse:
    return choose_department(
        conversation,
        page,
        here=DEPARTMENTS,
        then=lambda d: Target("departments", "detail", {"code": d.code, "page": page}),
    )


@step("departments", "detail")
def department(conversation: Conversation, code: str = "", page: str = "0") -> VoiceResponse:
    back = Target("departments", "start", {"page": page})
    found = conversation.directory.department(code)
    if found is None:
        return conversation.go(back, conversation.line("unknown_department"))
    doctors = Choice(
        Target("doctors", "list", {"department": found.code}),
        key="1",
        label=conversation.t("department_doctors_option", key="1"),
    )
    return conversation.menu([_about(conversation, found)], [doctors], back=back)


def _about(conversation: Conversation, found: Department) -> str:
    lang = conversation.lang
    return conversation.t(
        "department_detail",
        name=localized(found, "name", lang),
        location=localized(found, "location", lang),
        hours=localized(found, "hours", lang),
        phone=speaking.phone(found.phone, lang),
        description=localized(found, "description", lang),
    )
