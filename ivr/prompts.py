"""Everything the hotline says that is not the hospital's own data or config.

One catalogue, both languages side by side, so a translator sees each phrase
with its pair.  (gettext/Babel catalogues would need a compile step and a .po
toolchain for two languages and a few dozen phrases; a dict is easier to review.)
Hospital texts (its name, introduction, menu labels, hours) live in config.yaml.
"""

from __future__ import annotations

PROMPTS: dict[str, dict[str, str]] = {
    "welcome": {"zh": "您好，欢迎致电{hospital}。", "en": "Hello, and thank you for calling {hospital}."},
    "welcome_known": {
        "zh": "{name}您好，欢迎致电{hospital}。",
        "en": "Hello {name}, and thank you for calling {hospital}.",
    },
    "emergency": {
        "zh": "如遇紧急医疗情况，请立即挂机，拨打{number}急救电话。",
        "en": "If this is a medical emergency, hang up now and dial {number}.",
    },
    # Offered in the *other* language, so a caller who does not understand the first one can act.
    "language_offer": {"zh": "中文服务请按{key}。", "en": "For English, press {key}."},
    "option": {"zh": "{label}请按{key}。", "en": "For {label}, press {key}."},
    "or_say": {"zh": "您也可以直接说出您的需要。", "en": "You can also say what you need."},
    "person_option": {"zh": "人工服务请按{key}。", "en": "To speak to a person, press {key}."},
    "repeat_option": {"zh": "重听请按{key}号键。", "en": "To hear this again, press {key}."},
    "back_option": {"zh": "返回上一级请按{key}号键。", "en": "To go back, press {key}."},
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
    "departments_intro": {"zh": "请选择科室，也可以直接说出科室名称。", "en": "Choose a department, or say its name."},
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
    "doctors_matched": {"zh": "找到{count}位医生：", "en": "I found {count} doctors:"},
    "doctor_detail": {
        "zh": "{name}，{title}，{department}。擅长：{specialties}。",
        "en": "{title} {name}, {department}. Specialties: {specialties}.",
    },
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
    # A person
    "connecting": {"zh": "正在为您转接人工服务，请稍候。", "en": "Connecting you to a member of staff. Please hold."},
    "give_up_transfer": {
        "zh": "对不起，我们没能理解您的选择，现在为您转接人工服务。",
        "en": "Sorry we couldn't understand each other. Let me put you through to a person.",
    },
    "closed": {"zh": "现在不是人工服务时间。", "en": "Our staff are not available at the moment."},
    "closed_holiday": {
        "zh": "今天是{holiday}，人工服务暂停。",
        "en": "Today is {holiday}; our staff are not available.",
    },
    "nobody_answered": {"zh": "对不起，工作人员暂时无法接听。", "en": "Sorry, no one was able to take your call."},
    "main_menu_option": {"zh": "返回主菜单请按{key}号键。", "en": "To return to the main menu, press {key}."},
    "goodbye": {"zh": "感谢您的来电，再见。", "en": "Thank you for calling. Goodbye."},
    "error": {"zh": "对不起，系统暂时出现问题。", "en": "Sorry, something went wrong on our side."},
    "lost": {
        "zh": "对不起，这个选项暂时无法使用，为您返回主菜单。",
        "en": "Sorry, that option isn't available. Back to the main menu.",
    },
}

TITLES = {
    "chief_physician": {"zh": "主任医师", "en": "Chief Physician"},
    "associate_chief_physician": {"zh": "副主任医师", "en": "Associate Chief Physician"},
    "attending_physician": {"zh": "主治医师", "en": "Attending Physician"},
    "resident_physician": {"zh": "住院医师", "en": "Resident Physician"},
}


def t(prompt: str, lang: str, **values: object) -> str:
    return PROMPTS[prompt][lang].format(**values)
