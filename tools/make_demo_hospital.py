#!/usr/bin/env python3
"""Generate records/demo/hospital.yaml, the demo data of the hotline.

The hospital (明湖示范医院 / Minghu Demonstration Hospital) and everyone in it
are fictional.  The output is deterministic (random.Random(2026), no network):

    .venv/bin/python tools/make_demo_hospital.py

Departments, doctors, services and exam types are written out by hand below;
timetables and the 220 patients are drawn at random (the exams' timetables last,
so that adding them moved nothing drawn before).  The YAML is emitted by hand (so it
can carry comments), then loaded back and checked; any problem aborts.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

import phonenumbers
import yaml

OUT = Path(__file__).resolve().parent.parent / "records" / "demo" / "hospital.yaml"
AS_OF = dt.date(2026, 1, 1)  # ages and the "70 or over" share are computed at this date
N_PATIENTS = 220
UNKNOWN_CALLER = "13912345678"  # must belong to no patient
rng = random.Random(2026)

# --------------------------------------------------------------------------- departments
# code, zh, en, aliases zh, aliases en, location zh, location en, days, description zh, en
# days: "wk" = Mon-Fri, "sat" = Mon-Fri + Saturday morning, "all" = every day
DEPARTMENTS = [
    (
        "CARD",
        "心血管内科",
        "Cardiology",
        ["心内科", "心脏科", "心血管科"],
        ["heart", "cardiac", "cardiologist"],
        "门诊楼三层东区",
        "Outpatient Building, 3rd floor, east wing",
        "sat",
        "诊治冠心病、高血压、心律失常和心力衰竭等心血管疾病。如出现持续胸痛、胸闷或呼吸困难，请立即拨打120或前往急诊。",
        "Diagnoses and treats coronary heart disease, high blood pressure, arrhythmia and heart failure. "
        "If you have ongoing chest pain, chest tightness or difficulty breathing, call 120 or go to the Emergency Department now.",
    ),
    (
        "RESP",
        "呼吸与危重症医学科",
        "Respiratory and Critical Care Medicine",
        ["呼吸科", "呼吸内科", "肺科"],
        ["respiratory", "lungs", "chest clinic"],
        "门诊楼三层西区",
        "Outpatient Building, 3rd floor, west wing",
        "wk",
        "诊治慢性咳嗽、哮喘、慢阻肺、肺部感染和肺结节。就诊时请携带既往胸部CT或肺功能检查结果。",
        "Treats chronic cough, asthma, COPD, chest infections and lung nodules. "
        "Please bring any previous chest CT scans or lung function test results.",
    ),
    (
        "GAST",
        "消化内科",
        "Gastroenterology",
        ["消化科", "胃肠科", "肠胃科"],
        ["gastro", "stomach", "digestive"],
        "门诊楼四层东区",
        "Outpatient Building, 4th floor, east wing",
        "wk",
        "诊治胃痛、反酸、腹泻、便秘及肝胆胰疾病，并开具胃肠镜检查。胃肠镜需提前预约，并按要求空腹。",
        "Treats stomach pain, acid reflux, diarrhoea, constipation and liver, gallbladder and pancreas problems, "
        "and arranges endoscopy. Endoscopy must be booked in advance and needs fasting as instructed.",
    ),
    (
        "NEUR",
        "神经内科",
        "Neurology",
        ["神内", "神经科"],
        ["neurologist", "neuro", "nerves"],
        "门诊楼四层西区",
        "Outpatient Building, 4th floor, west wing",
        "wk",
        "诊治头痛、头晕、脑卒中后遗症、癫痫、帕金森病和记忆力下降。突发口角歪斜、肢体无力或言语不清，请立即拨打120。",
        "Treats headache, dizziness, after-effects of stroke, epilepsy, Parkinson's disease and memory problems. "
        "If someone suddenly has a drooping face, a weak arm or leg or slurred speech, call 120 at once.",
    ),
    (
        "ENDO",
        "内分泌科",
        "Endocrinology",
        ["内分泌", "糖尿病门诊", "甲状腺门诊"],
        ["diabetes", "thyroid", "hormones"],
        "门诊楼五层东区",
        "Outpatient Building, 5th floor, east wing",
        "wk",
        "诊治糖尿病、甲状腺疾病、骨质疏松、肥胖及其他内分泌代谢疾病。需要抽血化验的患者请空腹就诊。",
        "Treats diabetes, thyroid disorders, osteoporosis, obesity and other hormone and metabolic conditions. "
        "If you need a blood test, please come without eating breakfast.",
    ),
    (
        "NEPH",
        "肾内科",
        "Nephrology",
        ["肾病科", "肾脏科"],
        ["kidney", "renal"],
        "门诊楼五层西区",
        "Outpatient Building, 5th floor, west wing",
        "wk",
        "诊治慢性肾脏病、肾炎、蛋白尿、血尿和肾性高血压，并负责透析患者的门诊随访。",
        "Treats chronic kidney disease, nephritis, protein or blood in the urine and kidney-related high blood "
        "pressure, and follows up dialysis patients.",
    ),
    (
        "GSUR",
        "普通外科",
        "General Surgery",
        ["普外科", "外科"],
        ["surgery", "general surgeon"],
        "门诊楼二层东区",
        "Outpatient Building, 2nd floor, east wing",
        "wk",
        "诊治甲状腺、乳腺、胆囊、疝气及肛肠等外科疾病，负责术前评估和术后复查。",
        "Treats surgical problems of the thyroid, breast, gallbladder, bowel and anus, and hernias, "
        "and sees patients before and after their operations.",
    ),
    (
        "ORTH",
        "骨科",
        "Orthopaedics",
        ["骨外科", "骨伤科"],
        ["bones", "orthopedic", "fracture clinic"],
        "门诊楼二层西区",
        "Outpatient Building, 2nd floor, west wing",
        "wk",
        "诊治骨折、关节疼痛、运动损伤、颈椎和腰椎疾病以及骨关节炎。新鲜外伤请直接前往急诊。",
        "Treats fractures, joint pain, sports injuries, neck and back problems and osteoarthritis. "
        "For a fresh injury, please go straight to the Emergency Department.",
    ),
    (
        "OBGY",
        "妇产科",
        "Obstetrics and Gynaecology",
        ["妇科", "产科", "妇产"],
        ["gynaecology", "gynecology", "obstetrics", "maternity"],
        "妇儿楼二层",
        "Women and Children's Building, 2nd floor",
        "sat",
        "提供妇科疾病诊治、产前检查和孕期保健。首次产检请携带身份证和既往检查结果。",
        "Provides gynaecological care, antenatal check-ups and pregnancy care. "
        "For your first antenatal visit, please bring your ID card and any previous test results.",
    ),
    (
        "PEDS",
        "儿科",
        "Paediatrics",
        ["小儿科", "儿童门诊"],
        ["children", "kids", "pediatrics", "pediatrician"],
        "妇儿楼一层",
        "Women and Children's Building, 1st floor",
        "all",
        "为14岁以下儿童诊治发热、咳嗽、腹泻等常见病，并提供生长发育评估。夜间儿童急症请前往急诊。",
        "Sees children under 14 for fever, cough, diarrhoea and other common illnesses, and checks growth and "
        "development. At night, please take a child with an urgent problem to the Emergency Department.",
    ),
    (
        "OPHT",
        "眼科",
        "Ophthalmology",
        ["看眼睛", "眼病门诊"],
        ["eye", "eyes", "eye clinic", "eye doctor"],
        "门诊楼六层东区",
        "Outpatient Building, 6th floor, east wing",
        "sat",
        "诊治白内障、青光眼、眼底病、干眼症以及儿童近视和弱视。散瞳检查后数小时内视物模糊，请勿自行驾车。",
        "Treats cataract, glaucoma, retinal disease, dry eye, and short sight and lazy eye in children. "
        "Drops used to widen the pupils blur your vision for a few hours, so please do not drive yourself.",
    ),
    (
        "ENT",
        "耳鼻咽喉头颈外科",
        "Otorhinolaryngology (ENT)",
        ["耳鼻喉科", "耳鼻喉", "五官科"],
        ["ENT", "ear nose and throat", "ear", "throat"],
        "门诊楼六层西区",
        "Outpatient Building, 6th floor, west wing",
        "wk",
        "诊治鼻炎、鼻窦炎、咽喉炎、中耳炎、听力下降和眩晕，并提供听力检查。",
        "Treats rhinitis, sinusitis, sore throats, middle ear infections, hearing loss and vertigo, and offers hearing tests.",
    ),
    (
        "DERM",
        "皮肤科",
        "Dermatology",
        ["皮肤病科", "看皮肤"],
        ["skin", "skin doctor", "dermatologist"],
        "门诊楼七层东区",
        "Outpatient Building, 7th floor, east wing",
        "sat",
        "诊治湿疹、荨麻疹、痤疮、银屑病、真菌感染和皮肤肿物。",
        "Treats eczema, hives, acne, psoriasis, fungal infections and skin lumps.",
    ),
    (
        "STOM",
        "口腔科",
        "Stomatology (Dental)",
        ["牙科", "看牙", "口腔门诊"],
        ["dental", "dentist", "teeth"],
        "门诊楼七层西区",
        "Outpatient Building, 7th floor, west wing",
        "sat",
        "提供补牙、根管治疗、拔牙、洁牙、牙周治疗和种植修复。口腔治疗需提前预约。",
        "Provides fillings, root canal treatment, extractions, scaling, gum treatment and dental implants. "
        "Dental treatment must be booked in advance.",
    ),
    (
        "ONC",
        "肿瘤内科",
        "Medical Oncology",
        ["肿瘤科", "肿瘤门诊", "化疗门诊"],
        ["cancer", "oncology", "chemotherapy"],
        "综合楼二层",
        "Integrated Care Building, 2nd floor",
        "wk",
        "为肺癌、消化道肿瘤、乳腺癌等患者制定化疗、靶向和免疫治疗方案，并长期随访。首次就诊请携带病理报告和影像资料。",
        "Plans chemotherapy, targeted therapy and immunotherapy for people with lung, digestive and breast cancers "
        "and other cancers, and provides long-term follow-up. At your first visit, please bring your pathology report and scans.",
    ),
]
HOURS = {
    "wk": ("周一至周五 8:00-12:00，13:30-17:00", "Monday to Friday 8:00 to 12:00 and 13:30 to 17:00"),
    "sat": (
        "周一至周五 8:00-12:00，13:30-17:00；周六 8:00-12:00",
        "Monday to Friday 8:00 to 12:00 and 13:30 to 17:00; Saturday 8:00 to 12:00",
    ),
    "all": ("周一至周日 8:00-12:00，13:30-17:00", "Every day 8:00 to 12:00 and 13:30 to 17:00"),
}
# Department phones are on a made-up exchange (5873 12xx), written in varied formats.
DEPT_PHONE_FORMATS = ["010-{a} {b}", "010 {a} {b}", "(010) {a}-{b}", "+86 10 {a} {b}", "010{a}{b}", "010-{a}{b}"]

# --------------------------------------------------------------------------- doctors
# department, zh name, en name, title, sex, specialties zh, specialties en
C, A, T, R = "chief_physician", "associate_chief_physician", "attending_physician", "resident_physician"
DOCTORS = [
    ("CARD", "张志远", "Zhang Zhiyuan", C, "M", "冠心病、冠脉介入治疗", "coronary heart disease, coronary stenting"),
    ("CARD", "王建国", "Wang Jianguo", C, "M", "高血压、心力衰竭", "hypertension, heart failure"),
    ("CARD", "陈静", "Chen Jing", A, "F", "心律失常、起搏器随访", "arrhythmia, pacemaker follow-up"),
    ("CARD", "张慧敏", "Zhang Huimin", T, "F", "高血压、血脂异常", "hypertension, high cholesterol"),
    ("CARD", "赵立新", "Zhao Lixin", A, "M", "心房颤动、射频消融", "atrial fibrillation, catheter ablation"),
    ("CARD", "孙晓燕", "Sun Xiaoyan", T, "F", "心肌病、心力衰竭", "cardiomyopathy, heart failure"),
    (
        "CARD",
        "周斌",
        "Zhou Bin",
        T,
        "M",
        "冠心病二级预防、心脏康复",
        "secondary prevention of heart disease, cardiac rehabilitation",
    ),
    ("CARD", "吴婷", "Wu Ting", R, "F", "心血管常见病", "common heart and blood pressure problems"),
    (
        "CARD",
        "郭海涛",
        "Guo Haitao",
        A,
        "M",
        "心脏瓣膜病、结构性心脏病",
        "heart valve disease, structural heart disease",
    ),
    ("RESP", "林国华", "Lin Guohua", C, "M", "慢阻肺、间质性肺病", "COPD, interstitial lung disease"),
    ("RESP", "何丽", "He Li", A, "F", "支气管哮喘、慢性咳嗽", "asthma, chronic cough"),
    ("RESP", "马超", "Ma Chao", T, "M", "肺结节、睡眠呼吸暂停", "lung nodules, sleep apnoea"),
    ("GAST", "徐卫东", "Xu Weidong", C, "M", "胃食管反流病、消化内镜", "reflux disease, digestive endoscopy"),
    ("GAST", "胡敏", "Hu Min", A, "F", "脂肪肝、肝硬化", "fatty liver disease, liver cirrhosis"),
    (
        "GAST",
        "杨帆",
        "Yang Fan",
        T,
        "F",
        "炎症性肠病、肠易激综合征",
        "inflammatory bowel disease, irritable bowel syndrome",
    ),
    ("NEUR", "高振华", "Gao Zhenhua", C, "M", "脑血管病、头痛", "stroke and cerebrovascular disease, headache"),
    ("NEUR", "罗雪", "Luo Xue", A, "F", "癫痫、睡眠障碍", "epilepsy, sleep disorders"),
    ("NEUR", "梁鹏", "Liang Peng", T, "M", "帕金森病、记忆障碍", "Parkinson's disease, memory problems"),
    ("ENDO", "郑淑珍", "Zheng Shuzhen", C, "F", "糖尿病、甲状腺疾病", "diabetes, thyroid disease"),
    ("ENDO", "谢磊", "Xie Lei", T, "M", "肥胖症、骨质疏松", "obesity, osteoporosis"),
    ("NEPH", "宋建平", "Song Jianping", A, "M", "慢性肾脏病、肾小球肾炎", "chronic kidney disease, glomerulonephritis"),
    (
        "NEPH",
        "唐佳",
        "Tang Jia",
        T,
        "F",
        "透析患者随访、高血压肾病",
        "dialysis follow-up, kidney damage from high blood pressure",
    ),
    ("GSUR", "韩志强", "Han Zhiqiang", C, "M", "甲状腺及乳腺外科", "thyroid and breast surgery"),
    ("GSUR", "冯涛", "Feng Tao", A, "M", "胆囊结石、疝气", "gallstones, hernia repair"),
    ("GSUR", "邓倩", "Deng Qian", T, "F", "腹腔镜手术、肛肠疾病", "keyhole surgery, haemorrhoids and anal problems"),
    ("ORTH", "曹永强", "Cao Yongqiang", C, "M", "关节置换、骨关节炎", "joint replacement, osteoarthritis"),
    ("ORTH", "彭杰", "Peng Jie", A, "M", "脊柱外科、腰椎间盘突出", "spine surgery, slipped lumbar disc"),
    ("ORTH", "刘洋", "Liu Yang", T, "M", "运动损伤、关节镜手术", "sports injuries, arthroscopy"),
    ("OBGY", "曾红", "Zeng Hong", C, "F", "妇科肿瘤、宫颈疾病", "gynaecological tumours, cervical disease"),
    ("OBGY", "肖晓红", "Xiao Xiaohong", A, "F", "产前检查、高危妊娠", "antenatal care, high-risk pregnancy"),
    ("OBGY", "田静", "Tian Jing", T, "F", "月经失调、更年期保健", "period problems, menopause care"),
    ("PEDS", "董丽华", "Dong Lihua", C, "F", "小儿呼吸系统疾病、哮喘", "children's chest infections and asthma"),
    ("PEDS", "刘洋", "Liu Yang", T, "F", "儿童生长发育、儿童保健", "child growth and development, well-child care"),
    ("PEDS", "袁浩", "Yuan Hao", R, "M", "小儿常见病", "common childhood illnesses"),
    ("OPHT", "潘建华", "Pan Jianhua", C, "M", "白内障、青光眼", "cataract, glaucoma"),
    ("OPHT", "于欣", "Yu Xin", T, "F", "屈光不正、儿童弱视", "glasses prescriptions, lazy eye in children"),
    ("ENT", "蒋文华", "Jiang Wenhua", A, "M", "鼻窦炎、过敏性鼻炎", "sinusitis, hay fever"),
    ("ENT", "蔡晶", "Cai Jing", T, "F", "听力下降、耳鸣、眩晕", "hearing loss, tinnitus, vertigo"),
    ("DERM", "杜秀梅", "Du Xiumei", A, "F", "湿疹、银屑病", "eczema, psoriasis"),
    ("DERM", "叶鑫", "Ye Xin", T, "M", "痤疮、皮肤过敏", "acne, skin allergies"),
    ("STOM", "程德明", "Cheng Deming", C, "M", "牙周病、种植修复", "gum disease, dental implants"),
    ("STOM", "苏婷", "Su Ting", T, "F", "补牙、根管治疗", "fillings, root canal treatment"),
    ("ONC", "魏国强", "Wei Guoqiang", C, "M", "肺癌、消化道肿瘤", "lung cancer, digestive cancers"),
    ("ONC", "丁敏", "Ding Min", A, "F", "乳腺癌、化疗", "breast cancer, chemotherapy"),
    ("ONC", "任超", "Ren Chao", T, "M", "肿瘤随访、姑息治疗", "cancer follow-up, palliative care"),
]
SESSIONS_PER_WEEK = {C: (2, 2), A: (2, 3), T: (3, 4), R: (4, 4)}
CAPACITY = {C: [15, 20, 25], A: [20, 25, 30], T: [30, 35, 40], R: [35, 40]}
AM = [("08:00", "12:00")] * 3 + [("08:30", "11:30")]
PM = [("13:30", "17:00")] * 3 + [("14:00", "17:00")]
WEEK = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

# --------------------------------------------------------------------------- services
SERVICES = [
    (
        "MDT",
        "多学科联合门诊",
        "Multidisciplinary clinic",
        "ONC",
        "肿瘤内科、外科、放射科和病理科专家共同会诊，为复杂的肿瘤病例制定综合治疗方案。需由主治医生转介并提前预约。",
        "Cancer doctors, surgeons, radiologists and pathologists review complex cancer cases together and agree "
        "one treatment plan. You need a referral from your own doctor and an appointment.",
    ),
    (
        "CPC",
        "胸痛中心",
        "Chest Pain Centre",
        "CARD",
        "全天24小时为急性胸痛患者提供快速诊断和急诊介入治疗。出现胸痛请立即拨打120，不要等待预约。",
        "Rapid diagnosis and emergency heart treatment for sudden chest pain, 24 hours a day. "
        "If you have chest pain, call 120 straight away; do not wait for an appointment.",
    ),
    (
        "SLEEP",
        "睡眠呼吸监测",
        "Sleep study",
        "RESP",
        "通过整夜睡眠监测评估打鼾和睡眠呼吸暂停。需先在呼吸科门诊开具检查单，再预约监测日期。",
        "An overnight test for snoring and sleep apnoea. You first need a request from the respiratory clinic, "
        "then you can book a night for the test.",
    ),
    (
        "GIE",
        "无痛胃肠镜",
        "Gastroscopy and colonoscopy under sedation",
        "GAST",
        "在静脉麻醉下进行胃镜和肠镜检查。检查前需空腹并完成麻醉评估，检查当天须有成年家属陪同。",
        "Stomach and bowel camera tests done under sedation. You must fast beforehand and have an anaesthetic "
        "assessment, and an adult must come with you on the day.",
    ),
    (
        "DIAB",
        "糖尿病教育门诊",
        "Diabetes education clinic",
        "ENDO",
        "由专科护士讲解血糖监测、胰岛素注射和饮食管理，适合新确诊或血糖控制不佳的患者。",
        "Specialist nurses teach blood sugar testing, insulin injections and healthy eating. It is for people "
        "newly diagnosed or whose blood sugar is poorly controlled.",
    ),
    (
        "PREN",
        "孕妇学校",
        "Antenatal classes",
        "OBGY",
        "每周为孕妇及家属讲解孕期保健、分娩准备和新生儿护理，需提前报名。",
        "Weekly classes for pregnant women and their families on pregnancy care, getting ready for the birth "
        "and caring for a newborn. Please sign up in advance.",
    ),
    (
        "HCHK",
        "健康体检中心",
        "Health check-up centre",
        None,
        "提供入职体检和个人健康体检套餐。体检当天需空腹，报告一般在五个工作日后领取。",
        "Offers pre-employment and personal health check-up packages. Please fast on the day; "
        "results are usually ready after five working days.",
    ),
]

# --------------------------------------------------------------------------- exams
# Exam appointments booked by phone.
# code, zh, en, aliases zh, aliases en, department (None: not a department in the file),
# location zh, location en, preparation zh, en, (min, max) sessions a week, afternoons too?, capacities
EXAMS = [
    (
        "US",
        "超声检查",
        "Ultrasound scan",
        ["B超", "彩超", "超声"],
        ["ultrasound", "scan", "sonography"],
        "GAST",
        "医技楼一层超声科",
        "Medical Technology Building, 1st floor, Ultrasound",
        "腹部超声检查前需空腹8小时，检查当天早上不要吃早餐。",
        "For an abdominal ultrasound, do not eat for 8 hours before the scan: skip breakfast that morning.",
        (4, 5),
        False,
        [20, 25, 30],
    ),
    (
        "CT",
        "CT检查",
        "CT scan",
        ["CT", "增强CT", "电脑断层"],
        ["CT", "CAT scan", "computed tomography"],
        None,
        "医技楼二层放射科",
        "Medical Technology Building, 2nd floor, Radiology",
        "增强CT检查前需空腹4小时，普通平扫无需空腹。请携带既往影像资料；如对造影剂或碘过敏，或患有肾脏疾病，请提前告知医护人员。",
        "For a contrast CT, do not eat for 4 hours before the scan; a plain CT needs no fasting. "
        "Bring your previous scans, and tell the staff beforehand if you are allergic to contrast dye or iodine "
        "or have kidney disease.",
        (5, 6),
        True,
        [20, 25, 30],
    ),
    (
        "MRI",
        "磁共振检查",
        "MRI scan",
        ["核磁", "核磁共振", "磁共振"],
        ["MRI", "magnetic resonance"],
        None,
        "医技楼地下一层磁共振室",
        "Medical Technology Building, basement level 1, MRI",
        "检查前请取下所有金属物品，如首饰、手表、发夹和带金属的衣物。体内有心脏起搏器、金属植入物或人工耳蜗的患者，请在预约时告知医护人员。一般无需空腹。",
        "Take off everything metal before the scan, such as jewellery, watches, hairpins and clothes with metal parts. "
        "If you have a pacemaker, a metal implant or a cochlear implant, tell the staff when you book. "
        "You do not usually need to fast.",
        (4, 6),
        True,
        [10, 12, 15],
    ),
    (
        "GASTRO",
        "胃镜检查",
        "Gastroscopy",
        ["胃镜", "无痛胃镜", "电子胃镜"],
        ["gastroscopy", "stomach camera", "upper endoscopy"],
        "GAST",
        "门诊楼四层东区消化内镜中心",
        "Outpatient Building, 4th floor, east wing, Endoscopy Centre",
        "检查前需空腹8小时，检查前2小时内不要喝水。如做无痛胃镜，须有成年家属陪同，检查当天不要开车。",
        "Do not eat for 8 hours before the test, and do not drink anything, not even water, for the last 2 hours. "
        "If you have it under sedation, an adult must come with you and you must not drive that day.",
        (3, 5),
        False,
        [10, 15, 20],
    ),
    (
        "COLON",
        "结肠镜检查",
        "Colonoscopy",
        ["肠镜", "无痛肠镜", "结肠镜"],
        ["colonoscopy", "bowel camera"],
        "GAST",
        "门诊楼四层东区消化内镜中心",
        "Outpatient Building, 4th floor, east wing, Endoscopy Centre",
        "检查前一天吃低渣饮食（如白粥、面条），不吃蔬菜、水果和带籽的食物，并按医嘱服用肠道清洁药。检查当天禁食；如做无痛肠镜，须有成年家属陪同。",
        "The day before, eat a low-residue diet (such as plain rice porridge or noodles; no vegetables, fruit or seeds) "
        "and take the bowel preparation exactly as instructed. Do not eat on the day of the test; "
        "if you have it under sedation, an adult must come with you.",
        (3, 4),
        False,
        [10, 12, 15],
    ),
    (
        "ECHO",
        "心脏超声检查",
        "Echocardiogram",
        ["心脏彩超", "心超", "超声心动图"],
        ["echo", "heart ultrasound", "heart scan"],
        "CARD",
        "门诊楼三层东区心脏超声室",
        "Outpatient Building, 3rd floor, east wing, Echocardiography room",
        "无需特殊准备，不用空腹，可以照常吃饭和服药。请穿便于解开的上衣。",
        "No special preparation is needed: you can eat, drink and take your medicines as usual. "
        "Please wear a top that is easy to open or take off.",
        (3, 5),
        True,
        [15, 20, 25],
    ),
]


# --------------------------------------------------------------------------- names
# (surname, pinyin, relative frequency)
SURNAMES = [
    (s, p, float(w))
    for s, p, w in (
        x.split()
        for x in """
王 Wang 7.1|李 Li 7.0|张 Zhang 6.7|刘 Liu 5.4|陈 Chen 4.5|杨 Yang 3.1|黄 Huang 2.2|赵 Zhao 2.2|吴 Wu 2.0
周 Zhou 1.9|徐 Xu 1.3|孙 Sun 1.5|马 Ma 1.2|朱 Zhu 1.3|胡 Hu 1.3|郭 Guo 1.2|何 He 1.2|高 Gao 1.1|林 Lin 1.1
罗 Luo 0.9|郑 Zheng 0.9|梁 Liang 0.9|谢 Xie 0.8|宋 Song 0.7|唐 Tang 0.7|许 Xu 0.7|韩 Han 0.7|冯 Feng 0.7
邓 Deng 0.7|曹 Cao 0.6|彭 Peng 0.6|曾 Zeng 0.6|肖 Xiao 0.6|田 Tian 0.5|董 Dong 0.5|袁 Yuan 0.5|潘 Pan 0.5
于 Yu 0.5|蒋 Jiang 0.5|蔡 Cai 0.5|余 Yu 0.5|杜 Du 0.5|叶 Ye 0.4|程 Cheng 0.4|苏 Su 0.4|魏 Wei 0.4|丁 Ding 0.4
任 Ren 0.4|沈 Shen 0.4|姜 Jiang 0.4|崔 Cui 0.3|孟 Meng 0.3""".replace("\n", "|")
        .strip("|")
        .split("|")
    )
]


def _pool(text):
    return [tuple(x.split(":")) for x in text.split()]


# Given names by generation (birth year) and sex, so that people have names typical of their age.
GIVEN = {
    ("old", "F"): _pool(
        "秀英:Xiuying 桂英:Guiying 秀兰:Xiulan 玉兰:Yulan 凤英:Fengying 淑珍:Shuzhen 桂兰:Guilan "
        "淑兰:Shulan 秀珍:Xiuzhen 玉珍:Yuzhen 素芬:Sufen 桂芳:Guifang 玉梅:Yumei 淑英:Shuying "
        "秀云:Xiuyun 兰:Lan 珍:Zhen"
    ),
    ("old", "M"): _pool(
        "建国:Jianguo 国强:Guoqiang 建华:Jianhua 德明:Deming 志刚:Zhigang 国华:Guohua 振华:Zhenhua "
        "永强:Yongqiang 卫东:Weidong 建军:Jianjun 文华:Wenhua 宝山:Baoshan 福生:Fusheng "
        "长林:Changlin 树林:Shulin 德胜:Desheng 军:Jun 明:Ming"
    ),
    ("mid", "F"): _pool(
        "丽:Li 静:Jing 敏:Min 燕:Yan 艳:Yan 红:Hong 丽华:Lihua 海燕:Haiyan 晓红:Xiaohong 秀梅:Xiumei "
        "丽娟:Lijuan 红梅:Hongmei 雪梅:Xuemei 霞:Xia 玲:Ling 慧:Hui 春燕:Chunyan 晓燕:Xiaoyan"
    ),
    ("mid", "M"): _pool(
        "伟:Wei 勇:Yong 军:Jun 强:Qiang 磊:Lei 涛:Tao 斌:Bin 刚:Gang 明:Ming 志强:Zhiqiang "
        "海涛:Haitao 建平:Jianping 国庆:Guoqing 卫国:Weiguo 立新:Lixin 辉:Hui 峰:Feng 波:Bo"
    ),
    ("young", "F"): _pool(
        "婷:Ting 晶:Jing 雪:Xue 芳:Fang 丹:Dan 佳:Jia 倩:Qian 静:Jing 颖:Ying 璐:Lu 娜:Na 琳:Lin "
        "婷婷:Tingting 晓雪:Xiaoxue 思雨:Siyu 佳琪:Jiaqi 雅琴:Yaqin 梦瑶:Mengyao"
    ),
    ("young", "M"): _pool(
        "浩:Hao 鹏:Peng 超:Chao 杰:Jie 鑫:Xin 宇:Yu 俊杰:Junjie 凯:Kai 帅:Shuai 磊:Lei 博:Bo "
        "晨:Chen 昊:Hao 子豪:Zihao 嘉伟:Jiawei 文博:Wenbo 志鹏:Zhipeng 天宇:Tianyu"
    ),
    ("kid", "F"): _pool(
        "梓涵:Zihan 子涵:Zihan 欣怡:Xinyi 诗涵:Shihan 一诺:Yinuo 雨桐:Yutong 可欣:Kexin 梓萱:Zixuan "
        "语桐:Yutong 思彤:Sitong 若汐:Ruoxi 佳怡:Jiayi 悦:Yue 萌:Meng"
    ),
    ("kid", "M"): _pool(
        "浩宇:Haoyu 子轩:Zixuan 宇轩:Yuxuan 梓豪:Zihao 一鸣:Yiming 俊熙:Junxi 子墨:Zimo 沐宸:Muchen "
        "皓轩:Haoxuan 宇航:Yuhang 奕辰:Yichen 睿:Rui 泽:Ze 铭:Ming"
    ),
}
FIXED_NAMES = {"王秀英", "李明", "张伟", "张丽"}  # random patients never reuse these


def generation(birth: dt.date) -> str:
    y = birth.year
    return "old" if y <= 1955 else "mid" if y <= 1979 else "young" if y <= 2004 else "kid"


def surname():
    s, p, _ = rng.choices(SURNAMES, weights=[w for *_, w in SURNAMES])[0]
    return s, p


def age_on(birth: dt.date, day: dt.date = AS_OF) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def birth_for_age(age: int) -> dt.date:
    hi = AS_OF.replace(year=AS_OF.year - age)
    lo = AS_OF.replace(year=AS_OF.year - age - 1) + dt.timedelta(days=1)
    return lo + dt.timedelta(days=rng.randrange((hi - lo).days + 1))


# --------------------------------------------------------------------------- phones
def parse_ok(s: str) -> str:
    """Return the E.164 form of s, or exit if it is not a valid Chinese number."""
    try:
        n = phonenumbers.parse(s, "CN")
    except phonenumbers.NumberParseException as e:
        sys.exit(f"phone {s!r} does not parse: {e}")
    if not phonenumbers.is_valid_number(n):
        sys.exit(f"phone {s!r} is not a valid number")
    return phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.E164)


USED = {parse_ok(UNKNOWN_CALLER)}  # every number handed out so far (E.164)
MOBILE_PREFIXES = [
    "134",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "153",
    "157",
    "158",
    "159",
    "181",
    "182",
    "183",
    "184",
    "185",
    "186",
    "187",
    "188",
    "189",
    "198",
]
# (area code, possible first digits of the 8-digit local number): mostly Beijing, some Shanghai and Shenzhen
LANDLINE_AREAS = [("010", "5678")] * 4 + [("021", "56"), ("0755", "28")]


def fresh(make):
    while True:
        digits = make()
        e164 = parse_ok(digits)
        if e164 not in USED:
            USED.add(e164)
            return digits


def new_mobile():
    return fresh(lambda: rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}")


def new_landline(beijing=False):
    area, first = LANDLINE_AREAS[0] if beijing else rng.choice(LANDLINE_AREAS)
    return fresh(lambda: area + rng.choice(first) + f"{rng.randrange(10**7):07d}")


def fmt(digits: str, style: str | None = None) -> str:
    """Write a bare national number the way a receptionist might have typed it."""
    if digits.startswith("1"):  # mobile: 3-4-4
        a, b, c = digits[:3], digits[3:7], digits[7:]
        style = style or rng.choices(["plain", "space", "dash", "+86", "0086"], [40, 20, 15, 15, 10])[0]
        return {
            "plain": digits,
            "space": f"{a} {b} {c}",
            "dash": f"{a}-{b}-{c}",
            "+86": f"+86 {a} {b} {c}",
            "0086": f"0086 {digits}",
        }[style]
    area = digits[:3] if digits[:3] in ("010", "021") else digits[:4]
    a, b = digits[len(area) : -4], digits[-4:]
    style = style or rng.choice(["dash", "paren", "space", "compact"])
    return {
        "dash": f"{area}-{a} {b}",
        "paren": f"({area}) {a} {b}",
        "space": f"{area} {a} {b}",
        "compact": f"{area}-{a}{b}",
        "+86": f"+86 {area[1:]} {a} {b}",
    }[style]


# --------------------------------------------------------------------------- patients
def person(sex, age, family=None, given_gen=None):
    """A patient dict (without mrn/phones/language/category) of the given sex and age."""
    birth = birth_for_age(age)
    fam = family or surname()
    while True:
        given = rng.choice(GIVEN[(given_gen or generation(birth), sex)])
        if fam[0] + given[0] not in FIXED_NAMES:
            break
    return {
        "name": {"zh": fam[0] + given[0], "en": f"{fam[1]} {given[1]}"},
        "family_name": {"zh": fam[0], "en": fam[1]},
        "sex": sex,
        "birth_date": birth,
    }


def make_patients():
    fixed = [
        dict(
            mrn="M00000001",
            name={"zh": "王秀英", "en": "Wang Xiuying"},
            family_name={"zh": "王", "en": "Wang"},
            sex="F",
            birth_date=dt.date(1948, 5, 2),
            phones=["13800138000"],
            language="zh",
            category="standard",
        ),
        dict(
            mrn="M00000002",
            name={"zh": "李明", "en": "Li Ming"},
            family_name={"zh": "李", "en": "Li"},
            sex="M",
            birth_date=dt.date(1985, 11, 20),
            phones=["+86 139 1000 2000"],
            language="en",
            category="vip",
        ),
        dict(
            mrn="M00000003",
            name={"zh": "张伟", "en": "Zhang Wei"},
            family_name={"zh": "张", "en": "Zhang"},
            sex="M",
            birth_date=dt.date(1960, 1, 15),
            phones=["13700001111"],
            language="zh",
            category="standard",
        ),
        dict(
            mrn="M00000004",
            name={"zh": "张丽", "en": "Zhang Li"},
            family_name={"zh": "张", "en": "Zhang"},
            sex="F",
            birth_date=dt.date(1988, 7, 9),
            phones=["13700001111"],
            language="zh",
            category="standard",
        ),
    ]
    notes = {
        "M00000001": "fixed: recognised caller 'Ms Wang'",
        "M00000002": "fixed: English-speaking VIP",
        "M00000003": "fixed: family number, with M00000004",
        "M00000004": "fixed: family number, with M00000003",
    }
    for p in fixed:
        USED.update(parse_ok(x) for x in p["phones"])

    families = []  # list of (label, [patients])
    # F1: elderly mother and her son; the son's mobile is on both records, written alike.
    son_fam = surname()
    mother = person("F", rng.randint(80, 90))
    son = person("M", age_on(mother["birth_date"]) - rng.randint(24, 32), son_fam)
    m = new_mobile()
    mother["phones"], son["phones"] = [fmt(m, "plain")], [fmt(m, "plain"), fmt(new_landline())]
    families.append(("F1 mother and son share the son's mobile", [mother, son]))
    # F2: grandfather, his daughter and her child; the daughter's mobile in three different formats.
    mum_fam, dad_fam = surname(), surname()
    grandpa = person("M", rng.randint(72, 84), mum_fam)
    mum = person("F", age_on(grandpa["birth_date"]) - rng.randint(30, 36), mum_fam)
    child = person(rng.choice("MF"), rng.randint(3, 9), dad_fam)
    m = new_mobile()
    grandpa["phones"], mum["phones"], child["phones"] = [fmt(m, "+86")], [fmt(m, "plain")], [fmt(m, "dash")]
    families.append(
        ("F2 grandfather, daughter and grandchild share the daughter's mobile, in 3 formats", [grandpa, mum, child])
    )
    # F3: elderly couple on their home landline; the husband also has a mobile.
    husband = person("M", rng.randint(74, 86))
    wife = person("F", age_on(husband["birth_date"]) - rng.randint(1, 4))
    home = new_landline(beijing=True)
    husband["phones"], wife["phones"] = [fmt(home, "dash"), fmt(new_mobile())], [fmt(home, "dash")]
    families.append(("F3 elderly couple share their home landline", [husband, wife]))
    # F4: young mother and her baby.
    mum2 = person("F", rng.randint(28, 37))
    baby = person(rng.choice("MF"), rng.randint(0, 1), surname())
    m = new_mobile()
    mum2["phones"], baby["phones"] = [fmt(m, "space")], [fmt(m, "space")]
    families.append(("F4 mother and baby share the mother's mobile", [mum2, baby]))

    # Singles: ages drawn by quota so that about 20% of all patients are 70 or over.
    n_single = N_PATIENTS - len(fixed) - sum(len(f) for _, f in families)
    bands = [((70, 93), 39), ((0, 13), 18), ((14, 17), 6), ((18, 39), 55)]
    bands.append(((40, 69), n_single - sum(n for _, n in bands)))
    ages = [rng.randint(lo, hi) for (lo, hi), n in bands for _ in range(n)]
    rng.shuffle(ages)
    singles = []
    for age in ages:
        p = person(rng.choice("MF"), age)
        if age < 14:  # a child: one or both parents' mobiles
            phones = [new_mobile() for _ in range(rng.choices([1, 2], [70, 30])[0])]
        elif age >= 70 and rng.random() < 0.3:
            phones = [new_landline()]
        else:
            phones = [new_mobile()]
            if rng.random() < 0.2:
                phones.append(new_landline() if rng.random() < 0.6 else new_mobile())
        p["phones"] = [fmt(x) for x in phones]
        singles.append(p)

    # MRNs: random and unrelated between family members, as in a real hospital.
    others = [p for _, f in families for p in f] + singles
    for p, n in zip(others, rng.sample(range(10_000, 3_000_000), len(others)), strict=False):
        p["mrn"] = f"M{n:08d}"
    for label, members in families:
        mrns = [p["mrn"] for p in members]
        for p in members:
            notes[p["mrn"]] = f"family {label.split()[0]}: shares a number with " + ", ".join(
                x for x in mrns if x != p["mrn"]
            )
    # Language and category by exact counts: 22 English speakers (10%) and 11 VIPs (5%), counting M00000002.
    for p in others:
        p["language"], p["category"] = "zh", "standard"
    for p in rng.sample(singles, 21):
        p["language"] = "en"
    for p in rng.sample(singles, 10):
        p["category"] = "vip"
    patients = fixed + sorted(others, key=lambda p: p["mrn"])
    keys = ["mrn", "name", "family_name", "sex", "birth_date", "phones", "language", "category"]
    return [{k: p[k] for k in keys} for p in patients], families, notes


# --------------------------------------------------------------------------- build
def build():
    departments, dept_days = [], {}
    for i, (code, zh, en, al_zh, al_en, loc_zh, loc_en, days, d_zh, d_en) in enumerate(DEPARTMENTS, 1):
        dept_days[code] = days
        a, b = "5873", f"12{i:02d}"
        phone = DEPT_PHONE_FORMATS[(i - 1) % len(DEPT_PHONE_FORMATS)].format(a=a, b=b)
        USED.add(parse_ok(phone))
        departments.append(
            {
                "code": code,
                "name": {"zh": zh, "en": en},
                "aliases": {"zh": al_zh, "en": al_en},
                "location": {"zh": loc_zh, "en": loc_en},
                "phone": phone,
                "hours": dict(zip(("zh", "en"), HOURS[days], strict=False)),
                "description": {"zh": d_zh, "en": d_en},
            }
        )
    # Timetables: every day a department is open has at least one clinic (weekend clinics go to
    # attending or resident doctors), then each doctor gets a typical number of sessions a week.
    picked = defaultdict(set)  # index into DOCTORS -> {(weekday, "a"m | "p"m)}
    for code, days in dept_days.items():
        open_days = WEEK[:5] + {"wk": [], "sat": ["sat"], "all": ["sat", "sun"]}[days]
        slots = [(d, h) for d in open_days for h in ("a" if (days, d) == ("sat", "sat") else "ap")]
        members = [i for i, doc in enumerate(DOCTORS) if doc[0] == code]
        want = {i: rng.randint(*SESSIONS_PER_WEEK[DOCTORS[i][3]]) for i in members}
        for day in open_days:
            pool = [i for i in members if day in WEEK[:5] or DOCTORS[i][3] in (T, R)] or members
            i = max(pool, key=lambda i: (want[i] - len(picked[i]), rng.random()))
            picked[i].add(rng.choice([s for s in slots if s[0] == day]))
        for i in members:
            free = [s for s in slots if s not in picked[i]]
            picked[i].update(rng.sample(free, max(0, want[i] - len(picked[i]))))
    doctors = []
    for i, (dept, zh, en, title, sex, sp_zh, sp_en) in enumerate(DOCTORS):
        timetable = []
        for day, half in sorted(picked[i], key=lambda s: (WEEK.index(s[0]), s[1])):
            start, end = rng.choice(AM if half == "a" else PM)
            timetable.append({"weekday": day, "start": start, "end": end, "capacity": rng.choice(CAPACITY[title])})
        doctors.append(
            {
                "code": f"D{i + 1:03d}",
                "department": dept,
                "name": {"zh": zh, "en": en},
                "family_name": {"zh": zh[0], "en": en.split()[0]},
                "title": title,
                "sex": sex,
                "specialties": {"zh": sp_zh, "en": sp_en},
                "timetable": timetable,
            }
        )
    services = []
    for code, zh, en, dept, d_zh, d_en in SERVICES:
        s = {"code": code, "name": {"zh": zh, "en": en}, "description": {"zh": d_zh, "en": d_en}}
        if dept:
            s["department"] = dept
        services.append(s)
    patients, families, notes = make_patients()
    # Exams last: the random draws above must not move.  An exam with a department is held only on the
    # days that department is open (Monday to Saturday at most; Saturday mornings only).
    exams = []
    for code, zh, en, al_zh, al_en, dept, loc_zh, loc_en, p_zh, p_en, n, afternoons, capacities in EXAMS:
        days = WEEK[:5] + (["sat"] if dept is None or dept_days[dept] != "wk" else [])
        slots = [(d, h) for d in days for h in ("ap" if afternoons and d != "sat" else "a")]
        timetable = []
        for day, half in sorted(rng.sample(slots, rng.randint(*n)), key=lambda s: (WEEK.index(s[0]), s[1])):
            start, end = rng.choice(AM if half == "a" else PM)
            timetable.append({"weekday": day, "start": start, "end": end, "capacity": rng.choice(capacities)})
        e = {"code": code, "name": {"zh": zh, "en": en}, "aliases": {"zh": al_zh, "en": al_en}}
        if dept:
            e["department"] = dept
        e |= {"location": {"zh": loc_zh, "en": loc_en}, "preparation": {"zh": p_zh, "en": p_en}, "timetable": timetable}
        exams.append(e)
    return (
        {"departments": departments, "doctors": doctors, "services": services, "exams": exams, "patients": patients},
        families,
        notes,
    )


# --------------------------------------------------------------------------- YAML output
YAML_WORDS = re.compile(r"(?i)^(y|n|yes|no|true|false|on|off|null|~)$")
PLAIN_FLOW = re.compile(r"^[A-Za-z\u3400-\u9fff][^,\[\]{}:#\"]*$")
PLAIN_BLOCK = re.compile(r"^[A-Za-z\u3400-\u9fff][^\"]*$")


def sc(v, in_flow=True) -> str:
    """A scalar, plain when that is safe and clear, otherwise double-quoted (JSON is valid YAML).
    The round trip in check() proves every choice made here."""
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, int):
        return str(v)
    plain = (PLAIN_FLOW if in_flow else PLAIN_BLOCK).match(v)
    if plain and not YAML_WORDS.match(v) and v == v.strip() and ": " not in v and " #" not in v and v[-1] != ":":
        return v
    return json.dumps(v, ensure_ascii=False)


def flow(v) -> str:
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {flow(x)}" for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ", ".join(flow(x) for x in v) + "]"
    return sc(v)


def block(key: str, v: dict, indent: str) -> list[str]:
    return [f"{indent}{key}:"] + [f"{indent}  {k}: {sc(x, in_flow=False)}" for k, x in v.items()]


def render(data, families, notes) -> str:
    docs = data["doctors"]
    zhangs = [d for d in docs if d["department"] == "CARD" and d["family_name"]["zh"] == "张"]
    twins = [d for d in docs if d["name"]["zh"] == "刘洋"]
    out = [
        "# Demo data of the hospital hotline: 明湖示范医院 / Minghu Demonstration Hospital.",
        "# The hospital, its staff and its patients are fictional; telephone numbers are made up",
        "# (department lines use an invented 010-5873 12xx exchange).",
        "#",
        "# Generated by tools/make_demo_hospital.py (random.Random(2026)); to change the data, edit the",
        "# generator and run:  .venv/bin/python tools/make_demo_hospital.py",
        f"# Ages are as of {AS_OF.isoformat()}.",
        "#",
        "# Fixed entries the tests rely on:",
        "#   M00000001 王秀英 / Wang Xiuying, F, born 1948-05-02, phones [13800138000], zh, standard",
        "#             (a recognised caller: 'Ms Wang')",
        "#   M00000002 李明 / Li Ming, M, born 1985-11-20, phones [+86 139 1000 2000], en, vip",
        "#   M00000003 张伟 / Zhang Wei, M, born 1960-01-15, and M00000004 张丽 / Zhang Li, F, born 1988-07-09,",
        "#             share the family number 13700001111",
        f"#   No patient has the number {UNKNOWN_CALLER} (an unknown caller).",
        "#",
        "# Other deliberate cases:",
        f"#   CARD has {len([d for d in docs if d['department'] == 'CARD'])} doctors (paging); in it "
        + " and ".join(f"{d['code']} {d['name']['zh']}" for d in zhangs)
        + " are both 'Dr Zhang'.",
        "#   "
        + " and ".join(f"{d['code']} ({d['department']}, {d['sex']})" for d in twins)
        + " are both 刘洋 / Liu Yang.",
        "#   HCHK is a service without a department.",
        "#   Families sharing a number (besides M00000003/M00000004):",
    ]
    for label, members in families:
        out.append(f"#     {label}: " + ", ".join(f"{p['mrn']} {p['name']['zh']}" for p in members))
    out.append("#   Patients' numbers are written in mixed formats; compare them after normalising.")
    out += ["", "departments:"]
    for d in data["departments"]:
        out += [f"  - code: {sc(d['code'])}", f"    name: {flow(d['name'])}", f"    aliases: {flow(d['aliases'])}"]
        out += block("location", d["location"], "    ")
        out.append(f"    phone: {json.dumps(d['phone'])}")
        out += block("hours", d["hours"], "    ") + block("description", d["description"], "    ")
    out += ["", "doctors:"]
    current = None
    for d in data["doctors"]:
        if d["department"] != current:
            current = d["department"]
            n = sum(x["department"] == current for x in data["doctors"])
            out.append(f"  # {current}: {n} doctors")
        out += [
            f"  - code: {d['code']}",
            f"    department: {d['department']}",
            f"    name: {flow(d['name'])}",
            f"    family_name: {flow(d['family_name'])}",
            f"    title: {d['title']}",
            f"    sex: {d['sex']}",
        ]
        out += block("specialties", d["specialties"], "    ")
        out.append("    timetable:")
        out += [
            f"      - {{weekday: {t['weekday']}, start: {json.dumps(t['start'])}, end: {json.dumps(t['end'])}, "
            f"capacity: {t['capacity']}}}"
            for t in d["timetable"]
        ]
    out += ["", "services:"]
    for s in data["services"]:
        out += [f"  - code: {s['code']}", f"    name: {flow(s['name'])}"]
        out += block("description", s["description"], "    ")
        if "department" in s:
            out.append(f"    department: {s['department']}")
    no_dept = [e["code"] for e in data["exams"] if "department" not in e]
    out += [
        "",
        f"exams:   # {len(data['exams'])} exam types booked by phone; " + " and ".join(no_dept) + " have no department",
    ]
    for e in data["exams"]:
        out += [f"  - code: {e['code']}", f"    name: {flow(e['name'])}", f"    aliases: {flow(e['aliases'])}"]
        if "department" in e:
            out.append(f"    department: {e['department']}")
        out.append(f"    location: {flow(e['location'])}")
        out += block("preparation", e["preparation"], "    ")
        out.append("    timetable:")
        out += [
            f"      - {{weekday: {t['weekday']}, start: {json.dumps(t['start'])}, end: {json.dumps(t['end'])}, "
            f"capacity: {t['capacity']}}}"
            for t in e["timetable"]
        ]
    out += ["", f"patients:   # {len(data['patients'])}"]
    for p in data["patients"]:
        note = f"   # {notes[p['mrn']]}" if p["mrn"] in notes else ""
        out += [
            f"  - mrn: {json.dumps(p['mrn'])}{note}",
            f"    name: {flow(p['name'])}",
            f"    family_name: {flow(p['family_name'])}",
            f"    sex: {p['sex']}",
            f"    birth_date: {sc(p['birth_date'])}",
            "    phones: [" + ", ".join(json.dumps(x) for x in p["phones"]) + "]",
            f"    language: {p['language']}",
            f"    category: {p['category']}",
        ]
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- checks
def check(text: str, data, families) -> list[str]:
    loaded = yaml.safe_load(text)
    errors = []

    def need(ok, msg):
        if not ok:
            errors.append(msg)

    need(loaded == data, "YAML does not load back to the data it was written from")
    deps, docs, servs, exams, pats = (loaded[k] for k in ("departments", "doctors", "services", "exams", "patients"))
    need(len(deps) >= 10, "fewer than 10 departments")
    need(len(docs) >= 36, "fewer than 36 doctors")
    need(5 <= len(servs) <= 8, "services not 5-8")
    need(len(exams) == 6, "not 6 exams")
    need(len(pats) == N_PATIENTS, f"not {N_PATIENTS} patients")
    for what, items, key in (
        ("department", deps, "code"),
        ("doctor", docs, "code"),
        ("service", servs, "code"),
        ("exam", exams, "code"),
        ("patient", pats, "mrn"),
    ):
        dup = [k for k, n in Counter(x[key] for x in items).items() if n > 1]
        need(not dup, f"duplicate {what} {key}s: {dup}")
    dep_codes = {d["code"] for d in deps}
    for d in deps:
        need(re.fullmatch(r"[A-Z]{2,6}", d["code"]), f"bad department code {d['code']}")
        need(all(1 <= len(d["aliases"][lang]) <= 4 for lang in ("zh", "en")), f"{d['code']}: aliases not 1-4")
    per_dep = Counter(d["department"] for d in docs)
    need(all(per_dep[c] >= 2 for c in dep_codes), f"a department with fewer than 2 doctors: {per_dep}")
    need(max(per_dep.values()) >= 9, "no department with 9+ doctors")
    titles = {"chief_physician", "associate_chief_physician", "attending_physician", "resident_physician"}
    for d in docs:
        need(d["department"] in dep_codes, f"{d['code']}: unknown department {d['department']}")
        need(d["title"] in titles and d["sex"] in ("M", "F"), f"{d['code']}: bad title or sex")
        need(
            d["name"]["zh"].startswith(d["family_name"]["zh"]) and d["name"]["en"].split()[0] == d["family_name"]["en"],
            f"{d['code']}: family name does not match name",
        )
        need(d["timetable"], f"{d['code']}: empty timetable")
        for t in d["timetable"]:
            need(
                t["weekday"] in WEEK
                and re.fullmatch(r"\d\d:\d\d", t["start"])
                and re.fullmatch(r"\d\d:\d\d", t["end"])
                and t["start"] < t["end"]
                and isinstance(t["capacity"], int)
                and t["capacity"] > 0,
                f"{d['code']}: bad timetable entry {t}",
            )
        need(len({t["weekday"] + t["start"][:2] for t in d["timetable"]}) == len(d["timetable"]), f"{d['code']}: clash")
    for dep in deps:
        held = {t["weekday"] for d in docs if d["department"] == dep["code"] for t in d["timetable"]}
        hours = dep["hours"]["zh"]
        need(set(WEEK[:5]) <= held, f"{dep['code']}: a weekday without clinics")
        need(
            ("sat" in held) == ("周六" in hours or "周日" in hours) and ("sun" in held) == ("周日" in hours),
            f"{dep['code']}: weekend clinics do not match the hours",
        )
    same_surname = [k for k, n in Counter((d["department"], d["family_name"]["zh"]) for d in docs).items() if n > 1]
    need(same_surname == [("CARD", "张")], f"same-surname doctors in one department: {same_surname}")
    same_name = [k for k, n in Counter(d["name"]["zh"] for d in docs).items() if n > 1]
    need(same_name == ["刘洋"], f"doctors sharing a full name: {same_name}")
    for s in servs:
        need(s.get("department", "CARD") in dep_codes, f"service {s['code']}: unknown department")
    for e in exams:
        c = e["code"]
        need(re.fullmatch(r"[A-Z]{2,6}", c), f"bad exam code {c}")
        need(e.get("department", "CARD") in dep_codes, f"exam {c}: unknown department {e.get('department')}")
        need(all(1 <= len(e["aliases"][lang]) <= 4 for lang in ("zh", "en")), f"exam {c}: aliases not 1-4")
        need(
            all(e[k][lang].strip() for k in ("name", "location", "preparation") for lang in ("zh", "en")),
            f"exam {c}: an empty name, location or preparation",
        )
        need(3 <= len(e["timetable"]) <= 6, f"exam {c}: not 3-6 sessions a week")
        hours = next((d["hours"]["zh"] for d in deps if d["code"] == e.get("department")), "周六")
        for t in e["timetable"]:
            need(
                t["weekday"] in WEEK[:6]
                and re.fullmatch(r"\d\d:\d\d", t["start"])
                and re.fullmatch(r"\d\d:\d\d", t["end"])
                and t["start"] < t["end"]
                and isinstance(t["capacity"], int)
                and 10 <= t["capacity"] <= 30,
                f"exam {c}: bad timetable entry {t}",
            )
            need(t["weekday"] != "sat" or ("周六" in hours and t["end"] <= "12:00"), f"exam {c}: {t} when closed")
        need(len({t["weekday"] + t["start"][:2] for t in e["timetable"]}) == len(e["timetable"]), f"exam {c}: clash")
    phone_owners = defaultdict(list)
    for p in pats:
        need(re.fullmatch(r"M\d{8}", p["mrn"]), f"bad MRN {p['mrn']}")
        need(
            p["sex"] in ("M", "F") and p["language"] in ("zh", "en") and p["category"] in ("standard", "vip"),
            f"{p['mrn']}: bad sex/language/category",
        )
        need(isinstance(p["birth_date"], dt.date) and 0 <= age_on(p["birth_date"]) <= 95, f"{p['mrn']}: bad age")
        need(1 <= len(p["phones"]) <= 2, f"{p['mrn']}: not 1-2 phones")
        need(
            p["name"]["zh"].startswith(p["family_name"]["zh"])
            and p["name"]["en"].split()[0] == p["family_name"]["en"]
            and len(p["name"]["en"].split()) == 2
            and 2 <= len(p["name"]["zh"]) <= 3,
            f"{p['mrn']}: bad name",
        )
        for ph in p["phones"]:
            phone_owners[parse_ok(ph)].append(p["mrn"])
    for d in deps:
        need(parse_ok(d["phone"]) not in phone_owners, f"{d['code']}: phone belongs to a patient")
    shared = {k: v for k, v in phone_owners.items() if len(v) > 1}
    expected = {tuple(sorted(p["mrn"] for p in f)) for _, f in families} | {("M00000003", "M00000004")}
    need({tuple(sorted(v)) for v in shared.values()} == expected, f"unexpected shared numbers: {shared}")
    need(parse_ok(UNKNOWN_CALLER) not in phone_owners, "the unknown caller's number belongs to a patient")
    fixed = {p["mrn"]: p for p in pats if p["mrn"] <= "M00000004"}
    need(
        fixed.get("M00000001")
        == dict(
            mrn="M00000001",
            name={"zh": "王秀英", "en": "Wang Xiuying"},
            family_name={"zh": "王", "en": "Wang"},
            sex="F",
            birth_date=dt.date(1948, 5, 2),
            phones=["13800138000"],
            language="zh",
            category="standard",
        ),
        "M00000001 is wrong",
    )
    need(
        fixed.get("M00000002", {}).get("phones") == ["+86 139 1000 2000"]
        and fixed["M00000002"]["language"] == "en"
        and fixed["M00000002"]["category"] == "vip",
        "M00000002 is wrong",
    )
    need(
        fixed.get("M00000003", {}).get("phones") == ["13700001111"] == fixed.get("M00000004", {}).get("phones"),
        "M00000003/4 do not share 13700001111",
    )
    old = sum(age_on(p["birth_date"]) >= 70 for p in pats) / len(pats)
    en = sum(p["language"] == "en" for p in pats) / len(pats)
    vip = sum(p["category"] == "vip" for p in pats) / len(pats)
    need(0.17 <= old <= 0.23 and 0.08 <= en <= 0.12 and 0.04 <= vip <= 0.06, f"shares off: {old=} {en=} {vip=}")
    return errors


def main():
    data, families, notes = build()
    text = render(data, families, notes)
    errors = check(text, data, families)
    if errors:
        sys.exit("demo data check failed:\n  " + "\n  ".join(errors))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text, encoding="utf-8")
    pats = data["patients"]
    print(
        f"wrote {OUT}: {len(data['departments'])} departments, {len(data['doctors'])} doctors, "
        f"{len(data['services'])} services, {len(data['exams'])} exams, {len(pats)} patients "
        f"({sum(age_on(p['birth_date']) >= 70 for p in pats)} aged 70+, "
        f"{sum(p['language'] == 'en' for p in pats)} en, {sum(p['category'] == 'vip' for p in pats)} vip)"
    )


if __name__ == "__main__":
    main()
