"""Everything the hotline says or texts that is not the hospital's own data or config.

One catalogue, both languages side by side, so a translator sees each phrase
with its pair: Mandarin (zh) is the default, English (en) for the callers who
ask for it.  (gettext/Babel catalogues would need a compile step and a .po
toolchain for two languages and a few dozen phrases; a dict is easier to review.)
Hospital texts (its name, introduction, menu labels, hours) live in config.yaml.

- PROMPTS: the calls patients make (menus, booking, identification, the queue);
- REMINDER_CALL, FOLLOWUP_CALL, SURVEY: the calls the hotline places, and the
  survey after a call with a member of staff;
- SMS, AFTERCARE_SMS: the text messages;
- TITLES: doctors' titles.

A line that says a number of things ("1 appointment", "3 appointments") is a `plural`:
one wording per CLDR plural category, the category chosen by Babel's plural rules for
the language and the number (English: one, other; Mandarin: other only).  `fill` turns
any line into text.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from babel import Locale

LOCALES = {"zh": "zh_CN", "en": "en_GB"}


@dataclass(frozen=True)
class Plural:
    """A line whose wording depends on the number in the value `by`."""

    by: str
    forms: Mapping[str, str]  # CLDR category (zero, one, two, few, many, other) -> wording


def plural(by: str, **forms: str) -> Plural:
    """`plural("count", one="{count} appointment", other="{count} appointments")`."""
    return Plural(by, forms)


@functools.cache
def _plural_rule(lang: str) -> Callable[[float], str]:
    return Locale.parse(LOCALES[lang]).plural_form


def fill(line: str | Plural, lang: str, **values: object) -> str:
    """The line with its values, in the wording its numbers call for."""
    if isinstance(line, Plural):
        category = _plural_rule(lang)(values[line.by])
        line = line.forms.get(category, line.forms["other"])
    return line.format(**values)


PROMPTS: dict[str, dict[str, str | Plural]] = {
    "welcome": {"zh": "您好，欢迎致电{hospital}。", "en": "Hello, and thank you for calling {hospital}."},
    "welcome_known": {
        "zh": "{name}您好，欢迎致电{hospital}。",
        "en": "Hello {name}, and thank you for calling {hospital}.",
    },
    "emergency": {
        "zh": "如遇紧急情况，请立即挂机，拨打{number}。",
        "en": "If this is a medical emergency, hang up now and dial {number}.",
    },
    "too_many_calls": {
        "zh": "您的号码在{minutes}分钟内已多次来电，请稍后再拨。",
        "en": plural(
            "minutes",
            one="We have had many calls from your number in the last minute. Please call again later.",
            other="We have had many calls from your number in the last {minutes} minutes. Please call again later.",
        ),
    },
    # A withheld number over the budget all withheld numbers share: this caller may never
    # have called before, so it says what is happening, and what they can do.
    "too_many_withheld": {
        "zh": "目前来自隐藏号码的来电过多，请显示您的号码后再拨，或稍后再拨。",
        "en": "We are getting too many calls from withheld numbers just now. "
        "Please call again with your number shown, or a little later.",
    },
    # Offered in the *other* language, so a caller who does not understand the first one can act.
    "language_offer": {"zh": "中文服务请按{key}。", "en": "For English, press {key}."},
    "option": {"zh": "{label}请按{key}。", "en": "For {label}, press {key}."},
    "or_say": {"zh": "您也可以直接说出您的需要。", "en": "You can also say what you need."},
    "person_option": {"zh": "人工服务请按{key}。", "en": "To speak to a person, press {key}."},
    # The person key when nobody can answer (out of hours, nobody with the skill logged in):
    # it leads to the queue's message-or-callback menu, so that is what it offers.
    "message_option": {
        "zh": "留言或回电请按{key}。",
        "en": "To leave a message or ask us to call you back, press {key}.",
    },
    # Said at the main menu only (the key repeats any menu): ivr/dialogue.py _ending.
    "repeat_option": {"zh": "重听请按{key}号键。", "en": "To hear this again, press {key}."},
    "back_option": {"zh": "返回请按{key}号键。", "en": "To go back, press {key}."},
    "more_option": {"zh": "更多选项请按{key}。", "en": "For more, press {key}."},
    "from_start_option": {"zh": "从头再听请按{key}。", "en": "To hear the list from the start, press {key}."},
    "no_input": {"zh": "对不起，没有收到您的选择。", "en": "Sorry, I didn't hear a choice."},
    "invalid_key": {"zh": "对不起，您按的{key}不是有效选项。", "en": "Sorry, {key} is not one of the choices."},
    "not_understood": {"zh": "对不起，没有听清您说的内容。", "en": "Sorry, I didn't catch that."},
    "star": {"zh": "星", "en": "star"},
    "hash": {"zh": "井", "en": "hash"},
    "mr": {"zh": "{family}先生", "en": "Mr {family}"},
    "ms": {"zh": "{family}女士", "en": "Ms {family}"},
    # Departments
    "departments_intro": {"zh": "请选择科室，或说出科室名称。", "en": "Choose a department, or say its name."},
    "page_of": {"zh": "第{page}页，共{pages}页。", "en": "Page {page} of {pages}."},
    "department_detail": {
        "zh": "{name}，位于{location}。门诊时间：{hours}。科室电话：{phone}。{description}",
        "en": "{name} is in the {location}. Opening hours: {hours}. Phone: {phone}. {description}",
    },
    "department_doctors_option": {
        "zh": "查询本科室医生请按{key}。",
        "en": "To hear this department's doctors, press {key}.",
    },
    "unknown_department": {"zh": "对不起，没有找到这个科室。", "en": "Sorry, I couldn't find that department."},
    # Doctors
    "doctors_start": {
        "zh": "按科室查找医生请按{key}，或者直接说出医生的姓名。",
        "en": "To find a doctor by department, press {key}, or say the doctor's name.",
    },
    "doctors_in": {"zh": "{department}的医生：", "en": "Doctors in {department}:"},
    "doctor_choice": {"zh": "{name}，{title}，请按{key}。", "en": "For {title} {name}, press {key}."},
    "doctor_pick": {
        "zh": "{department}{name}，{title}，请按{key}。",
        "en": "For {name}, {title} in {department}, press {key}.",
    },
    "doctors_matched": {
        "zh": "找到{count}位医生：",
        "en": plural("count", one="I found {count} doctor:", other="I found {count} doctors:"),
    },
    "doctor_detail": {
        "zh": "{name}，{title}，{department}。擅长：{specialties}。",
        "en": "{title} {name}, {department}. Specialties: {specialties}.",
    },
    "book_doctor_option": {"zh": "预约这位医生请按{key}。", "en": "To book this doctor, press {key}."},
    "next_sessions": {"zh": "近期门诊时间：{sessions}。", "en": "Next clinic sessions: {sessions}."},
    "no_sessions": {
        "zh": "该医生近两周没有门诊安排。",
        "en": "This doctor has no clinic sessions in the next two weeks.",
    },
    "session": {"zh": "{day}{start}至{end}", "en": "{day}, {start} to {end}"},
    "list_separator": {"zh": "；", "en": "; "},
    "unknown_doctor": {"zh": "对不起，没有找到这位医生。", "en": "Sorry, I couldn't find that doctor."},
    "too_many_doctors": {
        "zh": "有多位医生符合，请说出医生的全名，或按科室查找。",
        "en": "Several doctors match; please say the doctor's full name, or search by department.",
    },
    # Services and introduction
    "services_intro": {"zh": "本院特色服务：", "en": "Our featured services:"},
    "services_option": {"zh": "特色服务请按{key}。", "en": "For our featured services, press {key}."},
    # A person
    "connecting": {"zh": "正在为您转接人工服务，请稍候。", "en": "Connecting you to a member of staff. Please hold."},
    "give_up_transfer": {
        "zh": "对不起，我们没能理解您的选择，现在为您转接人工服务。",
        "en": "Sorry we couldn't understand each other. Let me put you through to a person.",
    },
    # The same, when nobody can answer: what follows offers a message or a callback.
    "give_up_no_person": {
        "zh": "对不起，我们没能理解您的选择。",
        "en": "Sorry we couldn't understand each other.",
    },
    "closed": {"zh": "现在不是人工服务时间。", "en": "Our staff are not available at the moment."},
    "closed_holiday": {
        "zh": "今天是{holiday}，人工服务暂停。",
        "en": "Today is {holiday}; our staff are not available.",
    },
    "nobody_answered": {"zh": "对不起，工作人员暂时无法接听。", "en": "Sorry, no one was able to take your call."},
    "main_menu_option": {"zh": "返回主菜单请按{key}号键。", "en": "For the main menu, press {key}."},
    "goodbye": {"zh": "感谢您的来电，再见。", "en": "Thank you for calling. Goodbye."},
    "error": {"zh": "对不起，系统暂时出现问题。", "en": "Sorry, something went wrong on our side."},
    "lost": {
        "zh": "对不起，这个选项暂时无法使用，为您返回主菜单。",
        "en": "Sorry, that option isn't available. Back to the main menu.",
    },
    # Identification: nothing about the patient is said before it succeeds.
    "ask_birthday": {
        "zh": "请输入患者出生月日，如3月5日输入0305，以井号键结束。",
        "en": "Please key in the patient's month and day of birth, then hash. For 5 March, key 0 3 0 5.",
    },
    "ask_record_number": {
        "zh": "请输入您的病历号中的数字，以井号键结束。",
        "en": "Please key in the digits of your medical record number, then press hash.",
    },
    "ask_birth_date": {
        "zh": "请输入患者的出生日期，共八位数字，以井号键结束。例如1980年3月5日，请输入19800305。",
        "en": "Please key in the patient's date of birth, eight digits, then press hash. For 5 March 1980, key 1 9 8 0 0 3 0 5.",
    },
    "digits_only": {
        "zh": "对不起，请用按键输入数字，或者只说数字。",
        "en": "Sorry, please key in the digits, or say only the digits.",
    },
    "not_a_date": {"zh": "对不起，您输入的不是有效的日期。", "en": "Sorry, that is not a valid date."},
    "identity_mismatch": {"zh": "对不起，信息不符。", "en": "Sorry, those details do not match our records."},
    "identity_failed": {
        "zh": "对不起，我们无法核实您的身份。",
        "en": "Sorry, we could not confirm who you are.",
    },
    "identity_locked": {
        "zh": "为保护患者信息安全，该号码暂时无法通过电话核实身份，请稍后再试或转人工服务。",
        "en": "To protect patients' information, identification from this number is paused for a while. Please try later, or speak to a person.",
    },
    "identity_unavailable": {
        "zh": "对不起，身份核实暂时无法使用。",
        "en": "Sorry, identification is not available at the moment.",
    },
    "person_by_voice": {"zh": "如需人工服务，请说“人工”。", "en": "To speak to a person, say 'operator'."},
    "message_by_voice": {
        "zh": "留言或回电请说“人工”。",
        "en": "To leave a message or ask us to call you back, say 'operator'.",
    },
    # Booking
    "booking_start": {
        "zh": "预约专家门诊请按1，预约检查请按2，查询、取消或改约请按3。",
        "en": "To book a specialist, press 1. To book an exam, press 2. To hear, cancel or change your appointments, press 3.",
    },
    # After identification, before the booking menu (ivr/flows/booking.py start).
    "next_appointment": {
        "zh": "您的下一个预约是：{day}{when}，{what}。取消或更改请按{key}。",
        "en": "Your next appointment is {what}, {day}, {when}. To cancel or change it, press {key}.",
    },
    "next_appointment_soon": {
        "zh": "您的下一个预约是：{day}{when}，{what}。",
        "en": "Your next appointment is {what}, {day}, {when}.",
    },
    # A returning patient's last doctor, their first free session said in full (department,
    # doctor, day, time): the read-back itself, so its key books (ivr/flows/booking.py _again).
    "book_again_option": {
        "zh": "{what}，{day}{when}，再次预约请按{key}。",
        "en": "To book {what} again, {day}, {when}, press {key}.",
    },
    "booking_departments": {
        "zh": "请选择要预约的科室，或说出科室名称。",
        "en": "Choose the department to book, or say its name.",
    },
    "any_doctor_option": {"zh": "最早可预约的医生请按{key}。", "en": "For the first available doctor, press {key}."},
    "doctors_to_book": {"zh": "请选择医生：", "en": "Choose a doctor:"},
    # The booking's doctor list: names only (the read-back says the title).
    "doctor_to_book": {"zh": "{name}请按{key}。", "en": "For {name}, press {key}."},
    "exams_intro": {"zh": "请选择检查项目，或说出检查名称。", "en": "Choose the exam, or say its name."},
    "days_intro": {"zh": "以下日期有号：", "en": "These days have free places:"},
    # One doctor's free sessions, days and times in one list (ivr/flows/booking.py _doctor_sessions).
    "doctor_sessions_intro": {"zh": "以下时段有号：", "en": "These sessions have free places:"},
    "doctor_session_option": {
        "zh": "{day}{period}请按{key}。",
        "en": "For {day}, {period}, press {key}.",
    },
    "day_option": {"zh": "{day}请按{key}。", "en": "For {day}, press {key}."},
    "no_free_days": {
        "zh": "对不起，近{days}天内没有可预约的号源。",
        "en": plural(
            "days",
            one="Sorry, there are no free places in the next day.",
            other="Sorry, there are no free places in the next {days} days.",
        ),
    },
    "sessions_intro": {"zh": "{day}可预约的时段：", "en": "Free sessions on {day}:"},
    "session_option": {
        "zh": "{period}，{who}，剩余{free}个号，请按{key}。",
        "en": plural(
            "free",
            one="For {period}, {who}, {free} place left, press {key}.",
            other="For {period}, {who}, {free} places left, press {key}.",
        ),
    },
    "morning": {"zh": "上午", "en": "morning"},
    "afternoon": {"zh": "下午", "en": "afternoon"},
    "evening": {"zh": "晚上", "en": "evening"},
    # In Mandarin the time already says 上午/下午 (wording.speaking.clock).
    "period_at": {"zh": "{start}", "en": "{period}, from {start}"},
    "confirm_booking": {
        "zh": "您预约的是：{day}{when}，{what}。确认预约请按1，重新选择请按2。",
        "en": "You are booking {what}, {day}, {when}. To confirm, press 1. To choose again, press 2.",
    },
    "confirm_move": {
        "zh": "您的预约将改为：{day}{when}，{what}。原预约将同时取消。确认请按1，重新选择请按2。",
        "en": "Your appointment will move to {what}, {day}, {when}; the old one will be cancelled. To confirm, press 1. To choose again, press 2.",
    },
    "booked": {
        "zh": "预约成功。您的就诊序号是{place}号，预约号是{reference}。预约信息将通过短信发送给您。",
        "en": "You are booked. Your number in the session is {place}, and your booking reference is {reference}. We will text you the details.",
    },
    "moved_ok": {
        "zh": "改约成功，原预约已取消。您的就诊序号是{place}号，预约号是{reference}。",
        "en": "Your appointment has been moved and the old one cancelled. Your number is {place}, and your booking reference is {reference}.",
    },
    "estimated_time": {"zh": "预计就诊时间约为{time}。", "en": "Your estimated time is {time}."},
    "preparation": {"zh": "检查须知：{text}", "en": "Before the exam: {text}"},
    # After booking: the menu's own ending offers star (hear it again) and hash (the main menu).
    "book_another_option": {"zh": "继续预约请按{key}。", "en": "To book another, press {key}."},
    "repeat_reference": {"zh": "重听预约号请按{key}号键。", "en": "To hear your reference again, press {key}."},
    "session_full": {
        "zh": "对不起，这个时段刚刚约满了，请重新选择。",
        "en": "Sorry, that session has just filled up. Please choose again.",
    },
    "already_booked": {
        "zh": "您当天已经预约了这位医生或这项检查，无需重复预约。",
        "en": "You already have a booking with this doctor, or for this exam, on that day.",
    },
    "daily_limit": {
        "zh": "您当天的预约数量已达上限。",
        "en": "You have reached the number of bookings allowed for that day.",
    },
    "too_far": {"zh": "对不起，这个日期暂不开放预约。", "en": "Sorry, that date is not open for booking yet."},
    "session_over": {"zh": "对不起，这个时段已经结束。", "en": "Sorry, that session is over."},
    # Waiting lists by phone (ivr/flows/booking.py): offered only when the caller can join.
    "session_just_full": {"zh": "对不起，这个时段刚刚约满了。", "en": "Sorry, that session has just filled up."},
    "waitlist_option": {
        "zh": "候补{day}{when}，有空位时短信通知您，请按{key}。",
        "en": "To wait for a place on {day}, {when}, and be texted when one is freed, press {key}.",
    },
    "choose_again_option": {"zh": "重新选择请按{key}。", "en": "To choose again, press {key}."},
    "waitlist_joined": {
        "zh": "您已在候补名单中：{day}{when}，{what}。有空位时我们会发短信给您，请在{minutes}分钟内回复1预约。",
        "en": plural(
            "minutes",
            one="You are on the waiting list for {what}, {day}, {when}. When a place is freed we will text you: reply 1 within {minutes} minute to book it.",
            other="You are on the waiting list for {what}, {day}, {when}. When a place is freed we will text you: reply 1 within {minutes} minutes to book it.",
        ),
    },
    "waitlist_no_mobile": {
        "zh": "对不起，您的档案中没有手机号码，无法短信通知您空位。",
        "en": "Sorry, there is no mobile number on your file to text you when a place is freed.",
    },
    # booking.waitlist: false (records.waitlist.is_open): the desk and the booking API refuse
    # joining in these words; the phone never offers it.
    "waitlist_closed": {
        "zh": "对不起，本院暂不提供候补。",
        "en": "Sorry, the hospital does not offer waiting lists at the moment.",
    },
    "waitlist_not_full": {
        "zh": "该时段还有空位，请直接预约。",
        "en": "That session has a free place: book it instead.",
    },
    "no_such_session": {"zh": "对不起，没有找到这个时段。", "en": "Sorry, there is no such session."},
    # Appointments
    "no_appointments": {"zh": "您目前没有待就诊的预约。", "en": "You have no upcoming appointments."},
    "book_now_option": {"zh": "现在预约请按1。", "en": "To book one now, press 1."},
    "appointments_intro": {
        "zh": "您有{count}个预约：",
        "en": plural(
            "count", one="You have {count} upcoming appointment:", other="You have {count} upcoming appointments:"
        ),
    },
    "appointment_option": {"zh": "{day}{when}，{what}，请按{key}。", "en": "For {what}, {day}, {when}, press {key}."},
    "appointment_detail": {
        "zh": "{day}{when}，{what}，就诊序号{place}号，预约号{reference}。取消预约请按1，更改预约请按2。",
        "en": "{what}, {day}, {when}. Your number is {place}; booking reference {reference}. To cancel it, press 1. To change it, press 2.",
    },
    "confirm_cancel": {
        "zh": "确认取消{day}{when}的预约请按1，不取消请按2。",
        "en": "To cancel your appointment on {day}, {when}, press 1. To keep it, press 2.",
    },
    "cancelled": {
        "zh": "预约已取消，我们会发送短信确认。",
        "en": "Your appointment is cancelled. We will text you a confirmation.",
    },
    "too_late_to_change": {
        "zh": "距离就诊时间已不足{hours}小时，无法通过电话自助取消或更改。",
        "en": plural(
            "hours",
            one="Your appointment starts in less than {hours} hour, so it can no longer be changed by phone.",
            other="Your appointment starts in less than {hours} hours, so it can no longer be changed by phone.",
        ),
    },
    "appointment_gone": {"zh": "对不起，没有找到这个预约。", "en": "Sorry, I couldn't find that appointment."},
    "appointment_already_cancelled": {"zh": "这个预约已经取消了。", "en": "That appointment is already cancelled."},
    "appointment_already_moved": {
        "zh": "这个预约已经改约到其他时间了。",
        "en": "That appointment has already been moved to another time.",
    },
    # Human seats (issue 4): the queue, callbacks, voicemail
    "queue_joined": {"zh": "正在为您转接{queue}，请稍候。", "en": "Connecting you to {queue}. Please hold."},
    # Said just before an agent's phone rings, when routing.record_calls is on.
    "calls_recorded": {"zh": "为保证服务质量，您的通话将被录音。", "en": "This call will be recorded."},
    "queue_next": {"zh": "您是下一位。", "en": "You are next in line."},
    "queue_position": {"zh": "您前面还有{ahead}位来电者。", "en": "You are number {position} in line."},
    "queue_estimate": {
        "zh": "预计等待约{minutes}分钟。",
        "en": plural(
            "minutes",
            one="Your estimated wait is about {minutes} minute.",
            other="Your estimated wait is about {minutes} minutes.",
        ),
    },
    "callback_offer": {
        "zh": "如需保留排队位置、由我们给您回电，请按{key}。",
        "en": "To keep your place in line and have us call you back, press {key}.",
    },
    "callback_confirmed": {
        "zh": "好的，我们会保留您的排队位置，轮到您时回电至尾号{last4}的电话。",
        "en": "Thank you. We have kept your place in line and will call you back on the number ending {last4}.",
    },
    "callback_no_number": {
        "zh": "对不起，您的来电号码无法回拨。",
        "en": "Sorry, we cannot call back the number you are calling from.",
    },
    "seats_busy": {"zh": "对不起，目前等待人数较多。", "en": "Sorry, all our staff are still busy."},
    "seats_empty": {
        "zh": "对不起，目前没有工作人员可以接听。",
        "en": "Sorry, none of our staff is available right now.",
    },
    "callback_option": {"zh": "由我们给您回电请按2。", "en": "To have us call you back, press 2."},
    "leave_message_option": {"zh": "留言请按1。", "en": "To leave a message, press 1."},
    "voicemail_prompt": {
        "zh": "请在提示音后留言，请说明您的姓名和事由，留言完毕请按井号键。",
        "en": "Please leave your name and message after the tone, then press hash.",
    },
    "voicemail_saved": {
        "zh": "您的留言已收到，我们会在工作时间尽快处理。",
        "en": "We have your message and will deal with it as soon as we can during opening hours.",
    },
    "voicemail_empty": {"zh": "对不起，没有录到您的留言。", "en": "Sorry, we did not record a message."},
    "agent_missed": {
        "zh": "工作人员暂时未能接听，我们继续为您排队。",
        "en": "The member of staff could not take your call; you keep your place in line.",
    },
    "callback_greeting": {
        "zh": "您好，这里是{hospital}，您之前请求回电，现在为您接通工作人员，请稍候。",
        "en": "Hello, this is {hospital} calling you back as you asked. Connecting you to a member of staff now.",
    },
    "agent_whisper": {"zh": "{queue}来电。", "en": "A call from {queue}."},
    # The agent who picked up before the caller is in the talk (they still hear "正在为您转接…").
    "agent_call_coming": {"zh": "来电转接中，请稍候。", "en": "The caller is being put through. Please hold."},
    # The caller on hold during a talk (the agent's hold, a consult): said, then music.
    "on_hold": {
        "zh": "请稍候，工作人员马上回来为您服务。",
        "en": "Please hold; the member of staff will be right back with you.",
    },
    "after_call": {"zh": "祝您健康。", "en": "We wish you good health."},
}


# ---- the calls the hotline places, and the survey after a call -----------------------------------
# Whoever answers a call the hotline places may not be the patient, and a voicemail is heard
# by anyone: before the patient is known, a line names the hospital and its number, nothing more.

# The reminder call the day before an appointment (ivr/flows/reminder.py); {period} is
# PROMPTS' morning / afternoon / evening.
REMINDER_CALL: dict[str, dict[str, str | Plural]] = {
    "machine": {
        "zh": "您好，这里是{hospital}。如有需要，请致电{phone}。再见。",
        "en": "Hello, this is {hospital}. If you need us, please call {phone}. Goodbye.",
    },
    "intro": {
        "zh": "您好，这里是{hospital}，给{name}的就诊提醒：您预约了{day}{period}的{what}。",
        "en": "Hello, this is {hospital} with a reminder for {name}: you have an appointment on {day}, "
        "in the {period}, in {what}.",
    },
    "confirm_option": {"zh": "确认就诊请按1。", "en": "To confirm it, press 1."},
    "cancel_option": {"zh": "取消预约请按2。", "en": "To cancel it, press 2."},
    "cancel_check": {
        "zh": "您确定要取消{day}{period}的预约吗？确定取消请按1。",
        "en": "Do you want to cancel your appointment on {day}, in the {period}? To cancel it, press 1.",
    },
    "keep_option": {"zh": "不取消请按2。", "en": "To keep it, press 2."},
    "confirmed": {"zh": "已为您确认，请按时就诊。", "en": "Thank you, your appointment is confirmed."},
    "cancelled": {
        "zh": "已为您取消预约，稍后会收到短信通知。",
        "en": "Your appointment is cancelled; we will send you a text.",
    },
    "too_late": {
        "zh": "对不起，距离就诊时间太近，无法通过电话取消。",
        "en": "Sorry, it is too close to the appointment to cancel it by phone.",
    },
    "gone": {
        "zh": "您好，这里是{hospital}。这个预约已经取消或更改。",
        "en": "Hello, this is {hospital}. This appointment has been cancelled or changed.",
    },
    "bye": {"zh": "感谢您的接听，再见。", "en": "Thank you. Goodbye."},
}

# The follow-up call after a discharge (ivr/flows/followup.py); {hospital}, {phone} and
# {emergency} are filled in for every line.  Its questions are in config.yaml.
FOLLOWUP_CALL: dict[str, dict[str, str | Plural]] = {
    "machine": {
        "zh": "您好，这里是{hospital}。如有需要，请致电{phone}。再见。",
        "en": "Hello, this is {hospital}. If you need us, please call {phone}. Goodbye.",
    },
    "who": {
        "zh": "您好，这里是{hospital}，我们找{name}。如果您是{name}本人，请输入您的出生月份和日期，"
        "例如5月2日请输入0502，以井号键结束。如果不是本人，请挂机，我们会另行联系。",
        "en": "Hello, this is {hospital}. We would like to speak to {name}. If that is you, please key in "
        "the month and day of your birth, for example 0502 for the 2nd of May, then the hash key. "
        "If not, please hang up; we will call again.",
    },
    "not_a_date": {
        "zh": "对不起，这不是有效的日期。",
        "en": "Sorry, that is not a date.",
    },
    "wrong": {"zh": "对不起，信息不符。", "en": "Sorry, that does not match our records."},
    "not_identified": {
        "zh": "对不起，我们无法确认您的身份。如有需要，请致电{phone}。再见。",
        "en": "Sorry, we could not confirm who you are. If you need us, please call {phone}. Goodbye.",
    },
    "intro": {
        "zh": "谢谢您。这是出院后的回访电话，有{count}个简单的问题，请按键回答。",
        "en": plural(
            "count",
            one="Thank you. This is a follow-up call after your stay with us: {count} short question, "
            "answered with your keypad.",
            other="Thank you. This is a follow-up call after your stay with us: {count} short questions, "
            "answered with your keypad.",
        ),
    },
    "nurse": {
        "zh": "感谢您的回答。我们的护士会尽快给您回电。如果情况紧急，请立即拨打{emergency}。",
        "en": "Thank you. One of our nurses will call you back soon. If it is an emergency, call {emergency} now.",
    },
    "thanks": {
        "zh": "感谢您的配合，祝您早日康复。如有需要，请致电{phone}。再见。",
        "en": "Thank you, and get well soon. If you need us, please call {phone}. Goodbye.",
    },
    "gone": {
        "zh": "您好，这里是{hospital}。如有需要，请致电{phone}。再见。",
        "en": "Hello, this is {hospital}. If you need us, please call {phone}. Goodbye.",
    },
}

# The satisfaction survey after a call with a member of staff (ivr/flows/survey.py);
# {phone} is filled in for every line.
SURVEY: dict[str, dict[str, str | Plural]] = {
    "ask": {
        "zh": "请您对本次服务进行评价：非常满意请按5，满意请按4，一般请按3，不满意请按2，非常不满意请按1。",
        "en": "Please rate the service you received, from 5 for very satisfied to 1 for very dissatisfied.",
    },
    "thanks_score": {"zh": "感谢您的评价。", "en": "Thank you for your rating."},
    "more": {
        "zh": "如需留言，请按1。如不再接收我们的回访电话、满意度调查和通知短信，请按9。结束请按2或直接挂机。",
        "en": "To leave a comment, press 1. To stop our follow-up calls, surveys and notices, press 9. "
        "To finish, press 2 or hang up.",
    },
    "record": {
        "zh": "请在提示音后留言，最长{seconds}秒，结束请按井号键。",
        "en": plural(
            "seconds",
            one="Please leave your comment after the tone, up to {seconds} second, then press the hash key.",
            other="Please leave your comment after the tone, up to {seconds} seconds, then press the hash key.",
        ),
    },
    "recorded": {"zh": "您的留言已收到。", "en": "We have your comment."},
    "opt_out_check": {
        "zh": "您将不再收到我们的回访电话、满意度调查和通知短信。确认请按1，返回请按2。",
        "en": "You will get no more follow-up calls, surveys or notices from us. To confirm, press 1. "
        "To go back, press 2.",
    },
    "opted_out": {
        "zh": "已为您退订。如需恢复，请致电{phone}。",
        "en": "Done: you will not hear from us unless you ask. To undo it, call {phone}.",
    },
    "opt_out_unknown": {
        "zh": "对不起，我们无法确认您的身份，暂时不能为您退订。您可以回复短信TD退订，或致电{phone}。",
        "en": "Sorry, we cannot tell who you are, so we cannot do that now. Reply TD to one of our texts, "
        "or call {phone}.",
    },
    "bye": {"zh": "感谢您的来电，再见。", "en": "Thank you for calling. Goodbye."},
}

# ---- text messages -----------------------------------------------------------------------------
# Every text starts with the hospital's name in 【】 and says only what belongs to the
# appointment (or notice) it is about: family members share phones.

# Appointment texts and the answers to a patient's reply (ivr/sms.py).
SMS: dict[str, dict[str, str | Plural]] = {
    # Appointment texts; {prep} is empty or a sentence ending with a full stop and, in English, a space.
    "confirmation": {
        "zh": "【{hospital}】{name}预约成功：{when}，{what}，就诊序号{place}，预约号{reference}。{prep}取消或改约请致电{phone}。",
        "en": "【{hospital}】{name}, you are booked: {when}, {what}, number {place}, booking reference "
        "{reference}. {prep}To cancel or change it, call {phone}.",
    },
    "reminder": {
        "zh": "【{hospital}】{name}就诊提醒：{when}，{what}，就诊序号{place}，预约号{reference}。{prep}回复1确认就诊，回复2取消预约。",
        "en": "【{hospital}】Reminder for {name}: {when}, {what}, number {place}, booking reference {reference}. "
        "{prep}Reply 1 to confirm, 2 to cancel.",
    },
    "cancellation": {
        "zh": "【{hospital}】{name}您{when}{what}的预约（预约号{reference}）已取消。",
        "en": "【{hospital}】{name}, your appointment on {when}, {what} (booking reference {reference}) is cancelled.",
    },
    "moved": {
        "zh": "【{hospital}】{name}您的预约已改为：{when}，{what}，就诊序号{place}，预约号{reference}。{prep}",
        "en": "【{hospital}】{name}, your appointment is now: {when}, {what}, number {place}, booking reference "
        "{reference}. {prep}",
    },
    "preparation": {"zh": "检查须知：{text}", "en": "Before the exam: {text} "},
    "when": {"zh": "{day}{period}{start}", "en": "{day}, {period} from {start}"},
    # Waiting lists (records/waitlist.py): a place freed in a full session, held for the patient.
    "waitlist_offer": {
        "zh": "【{hospital}】{name}您候补的{when}，{what}有空位了，已为您保留至{until}。回复1预约，回复2放弃。",
        "en": "【{hospital}】{name}, a place is free on {when}, {what}, which you are waiting for. It is kept for "
        "you until {until}: reply 1 to book it, 2 to let it go.",
    },
    "waitlist_booked": {
        "zh": "【{hospital}】{name}候补成功：{when}，{what}，就诊序号{place}，预约号{reference}。{prep}",
        "en": "【{hospital}】{name}, you are booked from the waiting list: {when}, {what}, number {place}, "
        "booking reference {reference}. {prep}",
    },
    "waitlist_declined": {
        "zh": "【{hospital}】已放弃该空位，您不再候补此时段。",
        "en": "【{hospital}】Done: the place goes to the next patient, and you no longer wait for that session.",
    },
    "waitlist_refused": {
        "zh": "【{hospital}】对不起，无法为您预约该空位（您当天已有预约或已达上限）。如需帮助请致电{phone}。",
        "en": "【{hospital}】Sorry, that place could not be booked for you (a booking that day already, or the "
        "day's limit). For help, call {phone}.",
    },
    "waitlist_gone": {
        "zh": "【{hospital}】对不起，为您保留的空位已过期，已转给下一位候补患者。如需帮助请致电{phone}。",
        "en": "【{hospital}】Sorry, the place kept for you has expired and went to the next patient. For help, "
        "call {phone}.",
    },
    # Answers to a patient's reply.
    "reply_confirmed": {
        "zh": "【{hospital}】已确认：{when}，{what}（预约号{reference}）。请按时就诊。",
        "en": "【{hospital}】Confirmed: {when}, {what} (booking reference {reference}). See you then.",
    },
    "reply_cancelled": {
        "zh": "【{hospital}】已取消：{when}，{what}（预约号{reference}）。",
        "en": "【{hospital}】Cancelled: {when}, {what} (booking reference {reference}).",
    },
    "reply_too_late": {
        "zh": "【{hospital}】距就诊时间太近，无法通过短信取消（预约号{reference}）。如需帮助请致电{phone}。",
        "en": "【{hospital}】It is too close to the appointment to cancel it by text (booking reference "
        "{reference}). For help, call {phone}.",
    },
    "reply_how": {
        "zh": "【{hospital}】回复1确认就诊，回复2取消预约。",
        "en": "【{hospital}】Reply 1 to confirm your appointment, 2 to cancel it.",
    },
    "reply_which": {
        "zh": "【{hospital}】此号码有{count}个待回复的预约，请回复1或2加预约号，例如“1 {reference}”。",
        # Sent only when there are several, but worded for any number like every other line.
        "en": plural(
            "count",
            one="【{hospital}】This number has {count} appointment to answer for: reply 1 or 2 and the booking "
            'reference, for example "1 {reference}".',
            other="【{hospital}】This number has {count} appointments to answer for: reply 1 or 2 and the booking "
            'reference, for example "1 {reference}".',
        ),
    },
    "reply_none": {
        "zh": "【{hospital}】没有找到需要回复的预约。如需帮助请致电{phone}。",
        "en": "【{hospital}】There is no appointment to answer for from this number. For help, call {phone}.",
    },
    "reply_error": {
        "zh": "【{hospital}】系统暂时无法处理您的回复，请致电{phone}。",
        "en": "【{hospital}】Sorry, we could not handle your reply. Please call {phone}.",
    },
}

# After care's texts (wording/texts.py): results-ready notices (that results are ready and
# how to get them, never the results) and the answer to an opt-out reply.
AFTERCARE_SMS: dict[str, dict[str, str | Plural]] = {
    "results_ready": {
        "zh": "【{hospital}】{name}您好，您的检查结果已出。{how}。如有疑问请致电{phone}。",
        "en": "【{hospital}】{name}, your test results are ready. To get them, {how}. Questions: call {phone}.",
    },
    "opted_out": {
        "zh": "【{hospital}】已退订：此号码将不再收到回访电话、满意度调查和通知短信。如需恢复请致电{phone}。",
        "en": "【{hospital}】Done: this number will get no more follow-up calls, surveys or notices. "
        "To undo it, call {phone}.",
    },
    # The satisfaction programme's question: the visit's month and department, never its reason.
    "satisfaction": {
        "zh": "【{hospital}】{name}您好，感谢您{month}在{department}就诊。请花1分钟告诉我们您是否满意：{link}"
        "（{until}前有效）。回复TD退订。",
        "en": "【{hospital}】{name}, thank you for your visit to {department} in {month}. Please tell us in a "
        "minute how satisfied you were: {link} (until {until}). Reply TD to opt out.",
    },
}


TITLES = {
    "chief_physician": {"zh": "主任医师", "en": "Chief Physician"},
    "associate_chief_physician": {"zh": "副主任医师", "en": "Associate Chief Physician"},
    "attending_physician": {"zh": "主治医师", "en": "Attending Physician"},
    "resident_physician": {"zh": "住院医师", "en": "Resident Physician"},
}


def t(prompt: str, lang: str, **values: object) -> str:
    return fill(PROMPTS[prompt][lang], lang, **values)
