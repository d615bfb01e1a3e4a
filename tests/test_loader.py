"""Seeding the demo hospital and importing a real hospital's files."""

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
    for name in ("departments.csv", "doctors.csv", "clinic_sessions.csv", "patients.csv"):
        loader.load(db, loader.read(EXAMPLES / name), today=date(2026, 3, 2))
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
    with pytest.raises(loader.ImportError_) as error:
        loader.read(bad)
    assert any(problem.startswith(f"{bad}:2: patients: sex") for problem in error.value.problems)
    bad.write_text("wards: []\n", encoding="utf-8")
    with pytest.raises(loader.ImportError_, match="unknown section 'wards'"):
        loader.read(bad)
