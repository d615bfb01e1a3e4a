"""Loading a hospital's directory and patient files from YAML or CSV.

Used by `flask --app app seed --demo` (records/demo/hospital.yaml) and by
`flask --app app import FILE` for a real hospital.  Every row is validated
first and every bad row is reported with its line; if any row is bad nothing
is written.  Loading the same file twice changes nothing (rows are matched on
their codes and record numbers).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from records.models import ClinicSession, Department, Doctor, ExamType, FeaturedService, Patient, PatientPhone
from records.patients import to_e164

SECTIONS = ("departments", "doctors", "services", "exams", "patients", "clinic_sessions")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Row(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class Both(Row):
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)


class BothLists(Row):
    zh: list[str] = []
    en: list[str] = []


def _phone(value: str) -> str:
    e164 = to_e164(str(value))
    if e164 is None:
        raise ValueError(f"not a valid phone number: {value!r}")
    return e164


Phone = Annotated[str, AfterValidator(_phone)]
Code = Annotated[str, Field(min_length=1, max_length=16, pattern=r"^[A-Za-z0-9_-]+$")]


class TimetableEntry(Row):
    weekday: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    start: time
    end: time
    capacity: int = Field(gt=0, le=500)

    @model_validator(mode="after")
    def _ordered(self) -> TimetableEntry:
        if self.start >= self.end:
            raise ValueError(f"start {self.start:%H:%M} must be before end {self.end:%H:%M}")
        return self


class DepartmentRow(Row):
    code: Code
    name: Both
    aliases: BothLists = BothLists()
    location: Both
    phone: Phone
    hours: Both
    description: Both


class DoctorRow(Row):
    code: Code
    department: Code
    name: Both
    family_name: Both
    title: Literal["chief_physician", "associate_chief_physician", "attending_physician", "resident_physician"]
    sex: Literal["M", "F"]
    specialties: Both
    timetable: list[TimetableEntry] = []


class ServiceRow(Row):
    code: Code
    name: Both
    description: Both
    department: Code | None = None


class ExamRow(Row):
    code: Code
    name: Both
    aliases: BothLists = BothLists()
    department: Code | None = None
    location: Both
    preparation: Both
    timetable: list[TimetableEntry] = []


class PatientRow(Row):
    mrn: str = Field(min_length=1, max_length=20, pattern=r"^[A-Za-z0-9]+$")
    name: Both
    family_name: Both
    sex: Literal["M", "F"]
    birth_date: date
    phones: list[Phone] = []
    language: Literal["zh", "en"] = "zh"
    category: Literal["standard", "vip"] = "standard"

    @model_validator(mode="after")
    def _born(self) -> PatientRow:
        if self.birth_date > date.today():
            raise ValueError(f"birth_date {self.birth_date} is in the future")
        return self


class SessionRow(Row):
    """A dated session for a doctor or (with `exam`) an exam type."""

    doctor: Code | None = None
    exam: Code | None = None
    date: date
    start: time
    end: time
    capacity: int = Field(gt=0, le=500)

    @model_validator(mode="after")
    def _ordered(self) -> SessionRow:
        if (self.doctor is None) == (self.exam is None):
            raise ValueError("give either a doctor or an exam")
        if self.start >= self.end:
            raise ValueError(f"start {self.start:%H:%M} must be before end {self.end:%H:%M}")
        return self


ROW_MODELS: dict[str, type[Row]] = {
    "departments": DepartmentRow,
    "doctors": DoctorRow,
    "services": ServiceRow,
    "exams": ExamRow,
    "patients": PatientRow,
    "clinic_sessions": SessionRow,
}
KEY_FIELD = {"departments": "code", "doctors": "code", "services": "code", "exams": "code", "patients": "mrn"}


class ImportError_(Exception):
    """The file has bad rows; `problems` lists each with its line."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass
class Hospital:
    """What a file holds, validated: rows per section, each with its line."""

    rows: dict[str, list[tuple[int, Any]]] = field(default_factory=lambda: {s: [] for s in SECTIONS})


@dataclass(frozen=True)
class LoadReport:
    created: dict[str, int]
    updated: dict[str, int]

    def summary(self) -> str:
        parts = [f"{name}: {self.created[name]} new, {self.updated[name]} updated" for name in self.created]
        return "; ".join(parts)


# ---- reading -----------------------------------------------------------------------------


def read(path: str | Path, kind: str | None = None) -> Hospital:
    """Parse and validate a YAML or CSV file; raise ImportError_ listing every bad row."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportError_([f"{path}: cannot read the file: {exc}"]) from None
    if path.suffix.lower() == ".csv":
        stem = path.stem.lower().replace("-", "_")
        kind = kind or next((section for section in SECTIONS if stem.endswith(section)), None)
        if kind not in ROW_MODELS:
            raise ImportError_(
                [f"{path}: cannot tell what the rows are; name the file {', '.join(SECTIONS)} .csv or pass --kind"]
            )
        raw = {kind: _csv_rows(text)}
    else:
        raw = _yaml_rows(text, path)
    return _validate(raw, str(path))


def _yaml_rows(text: str, path: Path) -> dict[str, list[tuple[int, Any]]]:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise ImportError_([f"{path}: not valid YAML: {exc}"]) from None
    if root is None or not isinstance(root, yaml.MappingNode):
        raise ImportError_([f"{path}: expected sections {', '.join(SECTIONS)} at the top level"])
    constructor = yaml.SafeLoader("")
    raw: dict[str, list[tuple[int, Any]]] = {}
    problems = []
    for key_node, value_node in root.value:
        section = key_node.value
        if section not in SECTIONS:
            problems.append(
                f"{path}:{key_node.start_mark.line + 1}: unknown section {section!r} (expected {', '.join(SECTIONS)})"
            )
            continue
        if not isinstance(value_node, yaml.SequenceNode):
            problems.append(f"{path}:{value_node.start_mark.line + 1}: {section}: expected a list")
            continue
        raw[section] = [
            (item.start_mark.line + 1, constructor.construct_object(item, deep=True)) for item in value_node.value
        ]
    if problems:
        raise ImportError_(problems)
    return raw


def _csv_rows(text: str) -> list[tuple[int, Any]]:
    """CSV columns are the YAML fields flattened: name_zh, name_en; lists joined by '|';
    a doctor's timetable as 'mon 08:00-12:00 30|thu 13:30-17:00 25'."""
    reader = csv.DictReader(io.StringIO(text))
    rows = []
    for record in reader:
        line = reader.line_num
        if not any((value or "").strip() for value in record.values()):
            continue
        rows.append((line, _unflatten(record)))
    return rows


def _unflatten(record: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for column, value in record.items():
        if column is None:  # more cells than headers
            row["extra cells"] = value
            continue
        value = (value or "").strip()
        name, _, lang = column.strip().rpartition("_")
        if lang in ("zh", "en") and name:
            listish = name == "aliases"
            row.setdefault(name, {})[lang] = _split(value) if listish else value
        elif column == "phones":
            row[column] = _split(value)
        elif column == "timetable":
            row[column] = [_timetable_cell(part) for part in _split(value)]
        elif value != "":
            row[column] = value
    return row


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split("|") if part.strip()]


def _timetable_cell(text: str) -> dict[str, str] | str:
    parts = text.split()
    if len(parts) != 3 or "-" not in parts[1]:
        return text  # let validation say what is wrong with it
    start, _, end = parts[1].partition("-")
    return {"weekday": parts[0], "start": start, "end": end, "capacity": parts[2]}


def _validate(raw: dict[str, list[tuple[int, Any]]], source: str) -> Hospital:
    hospital = Hospital()
    problems: list[str] = []
    for section, rows in raw.items():
        model = ROW_MODELS[section]
        seen: dict[str, int] = {}
        for line, data in rows:
            try:
                if not isinstance(data, dict):
                    raise ValueError("expected a mapping of fields")
                row = model.model_validate(data)
            except ValidationError as exc:
                problems.extend(f"{source}:{line}: {section}: {_field_error(e)}" for e in exc.errors())
                continue
            except ValueError as exc:
                problems.append(f"{source}:{line}: {section}: {exc}")
                continue
            key_field = KEY_FIELD.get(section)
            if key_field:
                key = getattr(row, key_field)
                if key in seen:
                    problems.append(f"{source}:{line}: {section}: {key_field} {key!r} already used on line {seen[key]}")
                    continue
                seen[key] = line
            hospital.rows[section].append((line, row))
    if problems:
        raise ImportError_(problems)
    return hospital


def _field_error(error: dict[str, Any]) -> str:
    where = ".".join(str(part) for part in error["loc"]) or "row"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "missing":
        message = "required but missing"
    elif error["type"] == "extra_forbidden":
        message = "unknown field"
    shown = error.get("input")
    if error["type"] != "missing" and isinstance(shown, (str, int, float)) and repr(shown) not in message:
        message += f" (got {shown!r})"
    return f"{where}: {message}"


# ---- writing -----------------------------------------------------------------------------


def load(
    session: Session, hospital: Hospital, *, today: date, days_ahead: int = 14, walk_in_share: float = 0.0
) -> LoadReport:
    """Write a validated hospital; the caller commits.  References (a doctor's
    department, a session's doctor) may point into the file or the database."""
    created = {section: 0 for section in SECTIONS}
    updated = {section: 0 for section in SECTIONS}
    departments = {d.code: d for d in session.scalars(select(Department))}
    problems: list[str] = []

    for order, (_, row) in enumerate(hospital.rows["departments"]):
        fields = dict(
            name_zh=row.name.zh,
            name_en=row.name.en,
            aliases_zh=row.aliases.zh,
            aliases_en=row.aliases.en,
            location_zh=row.location.zh,
            location_en=row.location.en,
            phone=row.phone,
            hours_zh=row.hours.zh,
            hours_en=row.hours.en,
            description_zh=row.description.zh,
            description_en=row.description.en,
            sort_order=order,
        )
        departments[row.code] = _upsert(
            session, Department, departments.get(row.code), fields, row.code, created, updated, "departments"
        )

    doctors = {d.code: d for d in session.scalars(select(Doctor))}
    for line, row in hospital.rows["doctors"]:
        department = departments.get(row.department)
        if department is None:
            problems.append(
                f"line {line}: doctors: department {row.department!r} is neither in the file nor in the database"
            )
            continue
        fields = dict(
            department=department,
            name_zh=row.name.zh,
            name_en=row.name.en,
            family_name_zh=row.family_name.zh,
            family_name_en=row.family_name.en,
            title=row.title,
            sex=row.sex,
            specialties_zh=row.specialties.zh,
            specialties_en=row.specialties.en,
        )
        doctors[row.code] = _upsert(
            session, Doctor, doctors.get(row.code), fields, row.code, created, updated, "doctors"
        )

    services = {s.code: s for s in session.scalars(select(FeaturedService))}
    for line, row in hospital.rows["services"]:
        department = departments.get(row.department) if row.department else None
        if row.department and department is None:
            problems.append(
                f"line {line}: services: department {row.department!r} is neither in the file nor in the database"
            )
            continue
        fields = dict(
            name_zh=row.name.zh,
            name_en=row.name.en,
            description_zh=row.description.zh,
            description_en=row.description.en,
            department=department,
        )
        _upsert(session, FeaturedService, services.get(row.code), fields, row.code, created, updated, "services")

    exams = {e.code: e for e in session.scalars(select(ExamType))}
    for line, row in hospital.rows["exams"]:
        department = departments.get(row.department) if row.department else None
        if row.department and department is None:
            problems.append(
                f"line {line}: exams: department {row.department!r} is neither in the file nor in the database"
            )
            continue
        fields = dict(
            name_zh=row.name.zh,
            name_en=row.name.en,
            aliases_zh=row.aliases.zh,
            aliases_en=row.aliases.en,
            department=department,
            location_zh=row.location.zh,
            location_en=row.location.en,
            preparation_zh=row.preparation.zh,
            preparation_en=row.preparation.en,
        )
        exams[row.code] = _upsert(session, ExamType, exams.get(row.code), fields, row.code, created, updated, "exams")

    _load_patients(session, hospital, created, updated)

    wanted = _timetable_sessions(hospital, doctors, exams, today, days_ahead)
    for line, row in hospital.rows["clinic_sessions"]:
        owner = doctors.get(row.doctor) if row.doctor else exams.get(row.exam)
        if owner is None:
            what = f"doctor {row.doctor!r}" if row.doctor else f"exam {row.exam!r}"
            problems.append(f"line {line}: clinic_sessions: {what} is neither in the file nor in the database")
            continue
        wanted[(owner, row.date, row.start)] = (row.end, row.capacity)
    if problems:
        raise ImportError_(problems)
    session.flush()
    _load_sessions(session, wanted, walk_in_share, created, updated)
    session.flush()
    return LoadReport(created, updated)


def _upsert(session, model, existing, fields, code, created, updated, section):
    if existing is None:
        existing = model(code=code, **fields)
        session.add(existing)
        created[section] += 1
        return existing
    changed = False
    for name, value in fields.items():
        if getattr(existing, name) != value:
            setattr(existing, name, value)
            changed = True
    updated[section] += changed
    return existing


def _load_patients(session: Session, hospital: Hospital, created: dict, updated: dict) -> None:
    rows = hospital.rows["patients"]
    if not rows:
        return
    existing = {p.mrn: p for p in session.scalars(select(Patient).where(Patient.mrn.in_([r.mrn for _, r in rows])))}
    for _, row in rows:
        fields = dict(
            name_zh=row.name.zh,
            name_en=row.name.en,
            family_name_zh=row.family_name.zh,
            family_name_en=row.family_name.en,
            sex=row.sex,
            birth_date=row.birth_date,
            preferred_language=row.language,
            category=row.category,
        )
        patient = existing.get(row.mrn)
        if patient is None:
            patient = Patient(mrn=row.mrn, **fields)
            session.add(patient)
            created["patients"] += 1
        else:
            changed = any(getattr(patient, name) != value for name, value in fields.items())
            for name, value in fields.items():
                setattr(patient, name, value)
            old_phones = [phone.e164 for phone in patient.phones]
            changed |= old_phones != list(dict.fromkeys(row.phones))
            updated["patients"] += changed
        if [phone.e164 for phone in patient.phones] != list(dict.fromkeys(row.phones)):
            patient.phones = [PatientPhone(e164=number) for number in dict.fromkeys(row.phones)]


def _timetable_sessions(hospital: Hospital, doctors: dict, exams: dict, today: date, days: int) -> dict:
    """Sessions for the coming days from weekly timetables, keyed by (owner, day, start)."""
    wanted = {}
    owners = [(doctors.get(row.code), row) for _, row in hospital.rows["doctors"]]
    owners += [(exams.get(row.code), row) for _, row in hospital.rows["exams"]]
    for owner, row in owners:
        for offset in range(days):
            day = today + timedelta(days=offset)
            for entry in row.timetable:
                if WEEKDAYS[day.weekday()] == entry.weekday:
                    wanted[(owner, day, entry.start)] = (entry.end, entry.capacity)
    return wanted


def _load_sessions(session: Session, wanted: dict, walk_in_share: float, created: dict, updated: dict) -> None:
    if not wanted:
        return
    days = {day for _, day, _ in wanted}
    existing = {
        (s.doctor or s.exam_type, s.date, s.start_time): s
        for s in session.scalars(select(ClinicSession).where(ClinicSession.date.in_(days)))
    }
    for (owner, day, start), (end, capacity) in wanted.items():
        held_back = int(capacity * walk_in_share)
        current = existing.get((owner, day, start))
        if current is None:
            place = {"doctor": owner} if isinstance(owner, Doctor) else {"exam_type": owner}
            session.add(
                ClinicSession(**place, date=day, start_time=start, end_time=end, capacity=capacity, held_back=held_back)
            )
            created["clinic_sessions"] += 1
        elif (current.end_time, current.capacity, current.held_back) != (end, capacity, held_back):
            if current.booked + held_back > capacity:
                raise ImportError_(
                    [
                        f"{owner.code} {day} {start:%H:%M}: {current.booked} places are booked, more than the new capacity allows"
                    ]
                )
            current.end_time, current.capacity, current.held_back = end, capacity, held_back
            updated["clinic_sessions"] += 1
