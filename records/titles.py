"""What staff read for the codes the records keep: a call's outcome and the events of
its history, in Chinese and English (issue 15: staff pages name things in both).

The codes stay the stored values (filters, CSV, the API); these are only their names.
A code missing here is shown as itself rather than hidden.
"""

from __future__ import annotations

from collections.abc import Iterable

OUTCOME_TITLES = {
    "self_service": {"zh": "自助完成", "en": "self-service"},
    "greeting_hangup": {"zh": "问候时挂断", "en": "hung up at the greeting"},
    "answered": {"zh": "已接听", "en": "answered"},
    "abandoned": {"zh": "排队放弃", "en": "abandoned"},
    "voicemail": {"zh": "留言", "en": "voicemail"},
    "callback": {"zh": "回拨", "en": "callback"},
    "timeout": {"zh": "排队超时", "en": "queue timeout"},
    "queued": {"zh": "排队中", "en": "in the queue"},
    "transferred": {"zh": "已转接", "en": "transferred"},
    "error": {"zh": "系统错误", "en": "error"},
    "limited": {"zh": "呼叫受限", "en": "call limit"},
}

EVENT_TITLES = {
    # the caller and the menus
    "language": {"zh": "选择语言", "en": "language"},
    "menu": {"zh": "菜单", "en": "menu"},
    "key": {"zh": "按键", "en": "key"},
    "speech": {"zh": "语音", "en": "speech"},
    "no_input": {"zh": "无输入", "en": "no input"},
    "error": {"zh": "错误", "en": "error"},
    "closed": {"zh": "非服务时间", "en": "closed"},
    "call_limited": {"zh": "呼叫受限", "en": "call limited"},
    "gave_up": {"zh": "放弃", "en": "gave up"},
    "recording": {"zh": "录音", "en": "recording"},
    # who the caller is
    "identified": {"zh": "身份已核实", "en": "identified"},
    "identity_failed": {"zh": "身份核实失败", "en": "identity not confirmed"},
    "identity_locked": {"zh": "身份核实锁定", "en": "identity locked"},
    "identity_mismatch": {"zh": "身份不符", "en": "identity mismatch"},
    "named": {"zh": "说出姓名", "en": "gave a name"},
    # appointments
    "change": {"zh": "改约", "en": "appointment changed"},
    "cancelled": {"zh": "已取消预约", "en": "appointment cancelled"},
    "cancel_refused": {"zh": "取消被拒", "en": "cancellation refused"},
    "booking_refused": {"zh": "预约被拒", "en": "booking refused"},
    "appointment_gone": {"zh": "预约已不存在", "en": "appointment gone"},
    "reminder": {"zh": "提醒", "en": "reminder"},
    # the queue and the agents
    "to_person": {"zh": "转人工", "en": "asked for a person"},
    "entry": {"zh": "进入", "en": "entry"},
    "enqueue": {"zh": "进入队列", "en": "joined the queue"},
    "offer": {"zh": "振铃坐席", "en": "offered to an agent"},
    "missed_offer": {"zh": "坐席未接", "en": "offer not answered"},
    "declined": {"zh": "坐席拒接", "en": "declined by an agent"},
    "answer": {"zh": "坐席接听", "en": "answered by an agent"},
    "abandon": {"zh": "排队放弃", "en": "abandoned"},
    "queue_timeout": {"zh": "排队超时", "en": "queue timeout"},
    "voicemail": {"zh": "留言", "en": "voicemail"},
    "callback_requested": {"zh": "请求回拨", "en": "callback requested"},
    "transfer": {"zh": "转接", "en": "transfer"},
    "talk_end": {"zh": "通话结束", "en": "talk ended"},
    "wrap_up_end": {"zh": "话后处理完成", "en": "wrap-up done"},
    # the talk's controls (issue 14)
    "hold": {"zh": "保持", "en": "hold"},
    "resume": {"zh": "恢复通话", "en": "resumed"},
    "consult": {"zh": "咨询", "en": "consult"},
    "consult_end": {"zh": "咨询结束", "en": "consult ended"},
    "party_join": {"zh": "加入会议", "en": "party joined"},
    "party_leave": {"zh": "离开会议", "en": "party left"},
    "monitor": {"zh": "主管监听", "en": "supervisor monitoring"},
    "monitor_end": {"zh": "监听结束", "en": "monitoring ended"},
    # after care and surveys (issue 7)
    "survey_offered": {"zh": "邀请评价", "en": "survey offered"},
    "survey": {"zh": "满意度评价", "en": "survey"},
    "survey_comment": {"zh": "评价留言", "en": "survey comment"},
    "followup": {"zh": "随访", "en": "follow-up"},
    "followup_answer": {"zh": "随访回答", "en": "follow-up answer"},
    "opted_out": {"zh": "退订", "en": "opted out"},
}


def title(table: dict[str, dict[str, str]], code: str | None) -> str:
    """'中文 English' for a code; the code itself when the table has no name for it."""
    if not code:
        return ""
    found = table.get(code)
    return f"{found['zh']} {found['en']}" if found else code


# An agent's states (acd/distributor.py AGENT_STATES) as staff read them: the console, the
# wallboard, the agent API.
STATE_TITLES = {
    "offline": {"zh": "离线", "en": "Offline"},
    "available": {"zh": "空闲", "en": "Available"},
    "reserved": {"zh": "振铃", "en": "Ringing"},
    "on_call": {"zh": "通话中", "en": "On call"},
    "wrap_up": {"zh": "话后处理", "en": "Wrap-up"},
    "break": {"zh": "休息", "en": "Break"},
}


# Reasons the hotline itself gives (an agent's break reasons are config.yaml's console.break_reasons).
REASON_TITLES = {
    "missed": {"zh": "未接来电", "en": "missed an offer"},
    "logged_out": {"zh": "已退出", "en": "logged out"},
    "heartbeat": {"zh": "坐席台连接中断", "en": "console connection lost"},
    "consult": {"zh": "咨询", "en": "consult"},
}


def state_title(state: str) -> dict[str, str]:
    return STATE_TITLES.get(state, {"zh": state, "en": state})


def reason_title(reason: str, break_reasons: Iterable = ()) -> dict[str, str] | None:
    """A state's reason in both languages: the hotline's own, an agent's break reason
    (stored as its English name in lower case, as the console sends it), else as given."""
    if not reason:
        return None
    if reason in REASON_TITLES:
        return REASON_TITLES[reason]
    found = next((r for r in break_reasons if r.en.lower() == reason), None)
    return {"zh": found.zh, "en": found.en} if found else {"zh": reason, "en": reason}
