"""The benchmark's baseline: a one-file Flask app that answers every webhook with
the same <Gather> menu, built with twilio's VoiceResponse on each request.

It is what any Twilio IVR in Flask costs before it does anything: no database,
no Redis, no signature check, no call state.  The menu has the size and shape of
the hotline's greeting and main menu (a Gather for keys and speech with hints,
three <Say>s and a <Redirect> for silence), so both apps send similar bytes.

    gunicorn -w 2 -k gthread --threads 4 bench.baseline_app:app
"""

from flask import Flask, Response
from twilio.twiml.voice_response import VoiceResponse

BASE = "https://hotline.example.org"
HINTS = (
    "医院介绍,介绍,医院,introduction,about the hospital,about,the hospital introduction,科室,科室信息,部门,"
    "department,departments,department information,医生,专家,大夫,医生信息,doctor,doctors,specialist,"
    "doctor information,特色服务,特色,服务,services,featured services,预约,挂号,预约挂号,取消预约,改约,book,booking,"
    "appointment,appointments,预约挂号、检查预约及查询取消,booking, or your appointments"
)
WELCOME = "您好，欢迎致电明湖示范医院。如遇紧急医疗情况，请立即挂机，拨打120急救电话。您也可以直接说出您的需要。"
ENGLISH = "For English, press 9."
OPTIONS = (
    "医院介绍请按1。科室信息请按2。医生信息请按3。特色服务请按4。预约挂号、检查预约及查询取消请按5。"
    "人工服务请按0。重听请按星号键。"
)

app = Flask(__name__)


@app.route("/", defaults={"path": ""}, methods=["GET", "POST"])
@app.route("/<path:path>", methods=["GET", "POST"])
def menu(path: str) -> Response:
    response = VoiceResponse()
    gather = response.gather(
        input="dtmf speech",
        action=f"{BASE}/ivr/menu/main?f=0&lang=zh",
        method="POST",
        num_digits=1,
        finish_on_key="",
        timeout=5,
        speech_timeout="auto",
        language="cmn-Hans-CN",
        hints=HINTS,
    )
    gather.say(WELCOME, voice="Polly.Zhiyu-Neural", language="cmn-CN")
    gather.say(ENGLISH, voice="Polly.Joanna-Neural", language="en-US")
    gather.say(OPTIONS, voice="Polly.Zhiyu-Neural", language="cmn-CN")
    response.redirect(f"{BASE}/ivr/menu/main?f=0&lang=zh&silence=1", method="POST")
    return Response(str(response), mimetype="application/xml")
