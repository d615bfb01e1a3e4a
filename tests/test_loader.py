"""Seeding the demo hospital and importing a real hospital's files."""

import re
from datetime import date

import pytest
from sqlalchemy import func, select

from app import ROOT
from records import loader
from records.models import ClinicSession, Department, Doctor, Patient, PatientPhone
from records.patients import match_caller
from tests.conftest import OPEN, WALK_IN_SHARE

EXAMPLES = ROOT / "records" / "demo" / "import-examples"
DEMO = ROOT / "records" / "demo" / "hospital.yaml"


def count(db, model) -> int:
    return db.scalar(select(func.count()).select_from(model))


def test_the_demo_hospital_is_big_enough(db):
    assert count(db, Department) >= 8
    assert count(db, Doctor) >= 30
    assert count(db, Patient) >= 200
    # Every doctor has clinic sessions in the coming 14 days.
    with_sessions = db.scalar(select(func.count(func.distinct(ClinicSession.doctor_id))))
    assert with_sessions == count(db, Doctor)
    departments = db.scalars(select(Department)).all()
    assert all(d.name_zh and d.name_en and d.description_zh and d.description_en for d in departments)


def test_seeding_twice_changes_nothing(db):
    before = {model: count(db, model) for model in (Department, Doctor, Patient, PatientPhone, ClinicSession)}
    report = loader.load(db, loader.read(DEMO), today=OPEN.date(), walk_in_share=WALK_IN_SHARE)
    db.commit()
    assert sum(report.created.values()) == 0
    assert sum(report.updated.values()) == 0
    assert {model: count(db, model) for model in before} == before


def test_phone_numbers_are_stored_in_e164_and_families_share_them(db):
    assert match_caller(db, "138-0013-8000").patient_id is not None
    assert match_caller(db, "+86 138 0013 8000").e164 == "+8613800138000"
    family = match_caller(db, "0086 137 0000 1111")
    assert len(family.patient_ids) == 2 and family.patient_id is None
    assert match_caller(db, "13912345678").patient_ids == ()
    assert match_caller(db, "anonymous").e164 is None


def test_the_example_files_import_in_order(db):
    today = date(2027, 3, 1)  # a Monday, the week before the example's extra clinics
    for name in ("departments.csv", "doctors.csv", "clinic_sessions.csv", "exams.csv", "patients.csv"):
        loader.load(db, loader.read(EXAMPLES / name, today=today), today=today)
    db.commit()
    rheumatology = db.scalar(select(Department).where(Department.code == "RHEU"))
    assert [d.code for d in rheumatology.doctors][:2] == ["D101", "D102"]
    assert db.scalar(select(Patient).where(Patient.mrn == "M10000003")) is not None


def test_a_bad_file_reports_every_bad_row_by_line_and_imports_nothing(db):
    before = count(db, Patient)
    with pytest.raises(loader.ImportError_) as error:
        loader.load(db, loader.read(EXAMPLES / "bad-patients.csv"), today=date(2026, 11, 24))
    problems = error.value.problems
    lines = sorted({int(problem.split(":")[1]) for problem in problems})
    assert lines == [3, 4, 5, 6, 7, 8]
    text = "\n".join(problems)
    assert "birth_date" in text and "1980-02-30" in text
    assert "not a valid phone number: '电话待补'" in text
    assert "mrn 'M20000001' already used on line 2" in text
    assert "name.zh" in text
    assert "category" in text and "'gold'" in text
    db.rollback()
    assert count(db, Patient) == before


def test_a_reference_to_an_unknown_department_refuses_the_whole_file(db, tmp_path):
    bad = tmp_path / "hospital.yaml"
    bad.write_text(
        "doctors:\n"
        "  - code: D900\n"
        "    department: NOPE\n"
        "    name: {zh: 周一, en: Zhou Yi}\n"
        "    family_name: {zh: 周, en: Zhou}\n"
        "    title: attending_physician\n"
        "    sex: M\n"
        "    specialties: {zh: 感冒, en: colds}\n",
        encoding="utf-8",
    )
    with pytest.raises(loader.ImportError_, match="department 'NOPE' is neither in the file nor in the database"):
        loader.load(db, loader.read(bad), today=date(2026, 11, 24))


def test_yaml_errors_name_the_line(tmp_path):
    bad = tmp_path / "hospital.yaml"
    bad.write_text("patients:\n  - mrn: M1\n    sex: X\n", encoding="utf-8")
    problems = loader.read(bad).error().problems
    assert any(problem.startswith(f"{bad}:2: patients: sex") for problem in problems)
    bad.write_text("wards: []\n", encoding="utf-8")
    assert "unknown section 'wards'" in loader.read(bad).error().problems[0]


# ---- every problem of a file in one pass (issue 22) -----------------------------------------

CJK = re.compile(r"[\u4e00-\u9fff]")


def bilingual_with_file_and_line(problems: list[str], path) -> list[int]:
    """Each problem names the file and its line and says it in Chinese and English; the lines."""
    lines = []
    for problem in problems:
        where, line, text = problem.split(":", 2)
        assert where == str(path), problem
        assert CJK.search(text) and re.search(r"[A-Za-z]{4,} [a-z]+", text), problem
        lines.append(int(line))
    return lines


def test_row_checks_and_unknown_references_come_in_one_pass(db, tmp_path):
    bad = tmp_path / "hospital.yaml"
    bad.write_text(
        "doctors:\n"
        "  - code: D900\n"  # line 2: a bad sex and an unknown department, both reported
        "    department: NOPE\n"
        "    name: {zh: 周一, en: Zhou Yi}\n"
        "    family_name: {zh: 周, en: Zhou}\n"
        "    title: attending_physician\n"
        "    sex: X\n"
        "    specialties: {zh: 感冒, en: colds}\n"
        "  - code: D901\n"  # line 9: a good row of an unknown department
        "    department: GONE\n"
        "    name: {zh: 周二, en: Zhou Er}\n"
        "    family_name: {zh: 周, en: Zhou}\n"
        "    title: attending_physician\n"
        "    sex: F\n"
        "    specialties: {zh: 感冒, en: colds}\n"
        "clinic_sessions:\n"
        "  - {doctor: D999, date: 2026-12-01, start: '08:00', end: '12:00', capacity: 10}\n"  # line 17
        "  - {doctor: D901, date: 2026-11-23, start: '08:00', end: '12:00', capacity: 10}\n"  # line 18: yesterday
        "patients:\n"
        "  - mrn: M30000001\n"  # line 20
        '    name: {zh: 王五, en: "Wang\\nWu"}\n'
        "    family_name: {zh: 王, en: Wang}\n"
        "    sex: M\n"
        "    birth_date: 1970-01-01\n",
        encoding="utf-8",
    )
    before = count(db, Doctor)
    with pytest.raises(loader.ImportError_) as error:
        loader.load(db, loader.read(bad, today=OPEN.date()), today=OPEN.date())
    problems = error.value.problems
    assert bilingual_with_file_and_line(problems, bad) == [2, 2, 9, 17, 18, 20]
    text = "\n".join(problems)
    assert "doctors: sex:" in text
    assert "department 'NOPE' is neither in the file nor in the database" in text
    assert "department 'GONE' is neither in the file nor in the database" in text
    assert "doctor 'D999' is neither in the file nor in the database" in text
    assert "2026-11-23 is before today (2026-11-24)" in text
    assert "name.en:" in text and "line breaks" in text
    db.rollback()
    assert count(db, Doctor) == before


def test_csv_rows_missing_cells_or_with_line_breaks_are_refused_on_their_own_line(db, tmp_path):
    bad = tmp_path / "new-patients.csv"
    bad.write_text(
        "mrn,name_zh,name_en,family_name_zh,family_name_en,sex,birth_date,phones,language,category\n"
        "M30000001,王五,Wang Wu,王,Wang,M,1970-01-01,13911224455,en,vip\n"
        "M30000002,赵六,Zhao Liu,赵,Zhao,F,1971-02-02\n"  # line 3: the last three cells missing
        'M30000003,"钱\n七",Qian Qi,钱,Qian,M,1972-03-03,13911224466,zh,standard\n'  # lines 4-5
        "M30000004,孙八,Sun Ba,孙,Sun,M,1973-04-04,13911224477,zh,standard,extra\n",  # line 6
        encoding="utf-8",
    )
    with pytest.raises(loader.ImportError_) as error:
        loader.load(db, loader.read(bad), today=OPEN.date())
    problems = error.value.problems
    assert bilingual_with_file_and_line(problems, bad) == [3, 4, 6]
    assert "the row has 7 cells, the header has 10" in problems[0]
    assert "name.zh:" in problems[1] and "line breaks" in problems[1]
    assert "the row has 11 cells, the header has 10" in problems[2]
    db.rollback()
    assert db.scalar(select(Patient).where(Patient.mrn == "M30000001")) is None


def test_the_import_command_lists_every_problem_and_takes_the_kind_from_the_name(app, db, tmp_path):
    runner = app.test_cli_runner()
    with app.app_context():  # `import` is a plain click command: the flask CLI pushes it
        check_the_import_command(runner, tmp_path)


def check_the_import_command(runner, tmp_path):
    # bad-patients.csv says what it holds at the end of its name: no --kind needed.
    shown = runner.invoke(args=["import", str(EXAMPLES / "bad-patients.csv")])
    assert shown.exit_code != 0
    lines = shown.output.strip().splitlines()
    assert bilingual_with_file_and_line(lines[:-1], EXAMPLES / "bad-patients.csv") == [3, 4, 5, 6, 7, 8]
    assert "6 处问题，未导入任何数据 6 problem(s); nothing was imported" in lines[-1]
    past = tmp_path / "extra.csv"  # the name does not say: --kind does
    past.write_text("doctor,date,start,end,capacity\nD001,2026-11-23,08:00,12:00,15\n", encoding="utf-8")
    assert "cannot tell what the rows are" in runner.invoke(args=["import", str(past)]).output
    refused = runner.invoke(args=["import", str(past), "--kind", "clinic_sessions"])
    assert refused.exit_code != 0 and f"{past}:2: clinic_sessions: date: 日期已过" in refused.output
    past.write_text("doctor,date,start,end,capacity\nD001,2026-11-25,07:00,07:30,15\n", encoding="utf-8")
    taken = runner.invoke(args=["import", str(past), "--kind", "clinic_sessions"])
    assert taken.exit_code == 0 and "clinic_sessions: 1 new" in taken.output
