"""Loading a hospital's directory and patient files from YAML or CSV.

Used by `flask --app app seed --demo` (records/demo/hospital.yaml) and by
`flask --app app import FILE` for a real hospital.  Every problem of a file is
found in one pass before anything is written: each row's own checks, and the
departments, doctors and exams its rows name but neither the file nor the
database has.  Each problem is one line, in Chinese and English, starting with
the file's name and the line its row starts on; if there is any, nothing is
written.  Loading the same file twice changes nothing (rows are matched on their
codes and record numbers).
"""

from __future__ import annotations

import csv
import datetime
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from sqlalchemy import select
from sqlalchemy.orm import Session

from records.models import ClinicSession, Department, Doctor, ExamType, FeaturedService, Patient, PatientPhone
from records.patients import to_e164

if TYPE_CHECKING:
    from pydantic_core import ErrorDetails

SECTIONS = ("departments", "doctors", "services", "exams", "patients", "clinic_sessions")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


# A name, a place or a sentence with a line break in it breaks the SMS it is sent in, the
# CSV exports and the screens' one-line cells; no field of these files needs one.
CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")


class Row(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    @field_validator("*")
    @classmethod
    def _one_line(cls, value: Any) -> Any:
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str) and CONTROL.search(text):
                raise ValueError("不能换行 must be on one line, without line breaks or other control characters")
        return value


class Both(Row):
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)


class BothLists(Row):
    zh: list[str] = []
    en: list[str] = []


def _phone(value: str) -> str:
    e164 = to_e164(str(value))
    if e164 is None:
        raise ValueError(f"电话号码无效 not a valid phone number: {value!r}")
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
            raise ValueError(f"开始须早于结束 start {self.start:%H:%M} must be before end {self.end:%H:%M}")
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
    def _born(self, info: ValidationInfo) -> PatientRow:
        if self.birth_date > ((info.context or {}).get("today") or date.today()):
            raise ValueError(f"出生日期在将来 birth_date {self.birth_date} is in the future")
        return self


class SessionRow(Row):
    """A dated session for a doctor or (with `exam`) an exam type."""

    doctor: Code | None = None
    exam: Code | None = None
    date: date
    start: time
    end: time
    capacity: int = Field(gt=0, le=500)

    @field_validator("date")
    @classmethod
    def _to_come(cls, value: datetime.date, info: ValidationInfo) -> datetime.date:
        today = (info.context or {}).get("today")
        if today is not None and value < today:
            raise ValueError(f"日期已过 {value} is before today ({today}): nobody can book a session in the past")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> SessionRow:
        if (self.doctor is None) == (self.exam is None):
            raise ValueError("须填医生或检查之一 give either a doctor or an exam")
        if self.start >= self.end:
            raise ValueError(f"开始须早于结束 start {self.start:%H:%M} must be before end {self.end:%H:%M}")
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
# The codes a row names, by field: where each must be found (in the file or the database).
REFERENCES = {
    "doctors": {"department": "departments"},
    "services": {"department": "departments"},
    "exams": {"department": "departments"},
    "clinic_sessions": {"doctor": "doctors", "exam": "exams"},
}
REFERRED: dict[str, type[Department | Doctor | ExamType]] = {
    "departments": Department,
    "doctors": Doctor,
    "exams": ExamType,
}
UNKNOWN = {"departments": "科室不存在", "doctors": "医生不存在", "exams": "检查不存在"}

# pydantic's error types, in Chinese; its English message follows.  Our own checks
# (type value_error) already say both.
ZH_ERRORS = {
    "missing": "缺少必填项",
    "extra_forbidden": "未知字段",
    "string_too_short": "不能为空",
    "string_too_long": "太长",
    "string_pattern_mismatch": "格式不对",
    "string_type": "应为文字",
    "literal_error": "不是可选的值",
    "date_parsing": "日期无效",
    "date_from_datetime_parsing": "日期无效",
    "date_from_datetime_inexact": "日期无效",
    "date_type": "日期无效",
    "time_parsing": "时间无效",
    "time_type": "时间无效",
    "int_parsing": "应为整数",
    "int_from_float": "应为整数",
    "int_type": "应为整数",
    "greater_than": "太小",
    "less_than_equal": "太大",
    "list_type": "应为列表",
    "model_type": "应为字段表",
    "dict_type": "应为字段表",
}


class ImportError_(Exception):
    """The file has problems; `problems` lists each, one line each, with the file and line."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass
class Hospital:
    """What a file holds: the rows that pass their own checks, each with its line, and
    what is wrong with the file so far (load() adds the unknown references and refuses
    the file if there is anything)."""

    source: str = ""
    rows: dict[str, list[tuple[int, Any]]] = field(default_factory=lambda: {s: [] for s in SECTIONS})
    problems: list[tuple[int, str]] = field(default_factory=list)  # (line, problem); line 0: the whole file
    # Codes each section of the file gives, its bad rows included (a doctor of a
    # department whose row has a typo is not also reported as of an unknown department).
    codes: dict[str, set[str]] = field(default_factory=lambda: {s: set() for s in SECTIONS})
    references: list[tuple[int, str, str, str]] = field(default_factory=list)  # line, section, field, code

    def error(self, extra: Sequence[tuple[int, str]] = ()) -> ImportError_ | None:
        """Every problem in line order, each starting with the file and line; None if none."""
        problems = sorted([*self.problems, *extra], key=lambda problem: problem[0])
        if not problems:
            return None
        return ImportError_(
            [f"{self.source}:{line}: {text}" if line else f"{self.source}: {text}" for line, text in problems]
        )


@dataclass(frozen=True)
class LoadReport:
    created: dict[str, int]
    updated: dict[str, int]

    def summary(self) -> str:
        parts = [f"{name}: {self.created[name]} new, {self.updated[name]} updated" for name in self.created]
        return "; ".join(parts)


# ---- reading -----------------------------------------------------------------------------


def read(path: str | Path, kind: str | None = None, *, today: date | None = None) -> Hospital:
    """Parse and check a YAML or CSV file, noting every problem (load() refuses a file
    that has any).  A CSV file's kind comes from the end of its name (bad-patients.csv
    holds patients) unless `kind` says; sessions dated before `today` are refused."""
    path = Path(path)
    hospital = Hospital(source=str(path))
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        hospital.problems.append((0, f"无法读取文件 cannot read the file: {exc}"))
        return hospital
    if path.suffix.lower() == ".csv":
        stem = path.stem.lower().replace("-", "_")
        kind = kind or next((section for section in SECTIONS if stem.endswith(section)), None)
        if kind not in ROW_MODELS:
            hospital.problems.append(
                (
                    0,
                    f"无法判断文件内容 cannot tell what the rows are; name the file {', '.join(SECTIONS)} .csv or pass --kind",
                )
            )
            return hospital
        raw = {kind: _csv_rows(text, kind, hospital.problems)}
    else:
        raw = _yaml_rows(text, hospital.problems)
    _validate(hospital, raw, today)
    return hospital


def _yaml_rows(text: str, problems: list[tuple[int, str]]) -> dict[str, list[tuple[int, Any]]]:
    try:
        # libyaml's parser where it is built in (settings.SAFE_LOADER): the same nodes and lines,
        # a tenth of the time (2-3 s for the demo hospital with the pure-Python one).
        root = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        problems.append((0, f"不是有效的 YAML not valid YAML: {' '.join(str(exc).split())}"))
        return {}
    if root is None or not isinstance(root, yaml.MappingNode):
        problems.append((0, f"缺少分节 expected sections {', '.join(SECTIONS)} at the top level"))
        return {}
    constructor = yaml.SafeLoader("")
    raw: dict[str, list[tuple[int, Any]]] = {}
    for key_node, value_node in root.value:
        section = key_node.value
        if section not in SECTIONS:
            problems.append(
                (key_node.start_mark.line + 1, f"未知分节 unknown section {section!r} (expected {', '.join(SECTIONS)})")
            )
            continue
        if not isinstance(value_node, yaml.SequenceNode):
            problems.append((value_node.start_mark.line + 1, f"{section}: 应为列表 expected a list"))
            continue
        raw[section] = [
            (item.start_mark.line + 1, constructor.construct_object(item, deep=True)) for item in value_node.value
        ]
    return raw


def _csv_rows(text: str, section: str, problems: list[tuple[int, str]]) -> list[tuple[int, Any]]:
    """CSV columns are the YAML fields flattened: name_zh, name_en; lists joined by '|';
    a doctor's timetable as 'mon 08:00-12:00 30|thu 13:30-17:00 25'.  A row with more
    or fewer cells than the header is a problem (a missing cell would otherwise take
    its field's default unnoticed); a row's line is the one it starts on."""
    reader = csv.reader(io.StringIO(text))
    header = [column.strip() for column in next(reader, [])]
    rows = []
    for cells in reader:
        if not any(cell.strip() for cell in cells):
            continue
        line = reader.line_num - sum(cell.count("\n") for cell in cells)  # quoted cells may hold line breaks
        if len(cells) != len(header):
            problems.append(
                (line, f"{section}: 单元格数目不对 the row has {len(cells)} cells, the header has {len(header)}")
            )
        rows.append((line, _unflatten(dict(zip(header, cells, strict=False)))))
    return rows


def _unflatten(record: dict[str, str]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for column, value in record.items():
        value = value.strip()
        name, _, lang = column.rpartition("_")
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


def _validate(hospital: Hospital, raw: dict[str, list[tuple[int, Any]]], today: date | None) -> None:
    problems = hospital.problems
    for section, rows in raw.items():
        model = ROW_MODELS[section]
        seen: dict[str, int] = {}
        for line, data in rows:
            if isinstance(data, dict):
                _note_codes(hospital, section, line, data)
            try:
                if not isinstance(data, dict):
                    raise ValueError("应为字段表 expected a mapping of fields")
                row = model.model_validate(data, context={"today": today})
            except ValidationError as exc:
                problems.extend((line, f"{section}: {_field_error(e)}") for e in exc.errors())
                continue
            except ValueError as exc:
                problems.append((line, f"{section}: {exc}"))
                continue
            key_field = KEY_FIELD.get(section)
            if key_field:
                key = getattr(row, key_field)
                if key in seen:
                    problems.append((line, f"{section}: 重复 {key_field} {key!r} already used on line {seen[key]}"))
                    continue
                seen[key] = line
            hospital.rows[section].append((line, row))


def _note_codes(hospital: Hospital, section: str, line: int, data: dict) -> None:
    """The row's own code and the codes it names, whether or not the row passes its checks."""
    if section in hospital.codes and isinstance(data.get("code"), str):
        hospital.codes[section].add(data["code"].strip())
    for name in REFERENCES.get(section, {}):
        code = data.get(name)
        if isinstance(code, str) and code.strip():
            hospital.references.append((line, section, name, code.strip()))


def _field_error(error: ErrorDetails) -> str:
    where = ".".join(str(part) for part in error["loc"]) or "row"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "missing":
        message = "required but missing"
    elif error["type"] == "extra_forbidden":
        message = "unknown field"
    shown = error.get("input")
    if error["type"] != "missing" and isinstance(shown, (str, int, float)) and str(shown) not in message:
        message += f" (got {shown!r})"
    zh = ZH_ERRORS.get(error["type"], "" if error["type"] == "value_error" else "无效")
    return f"{where}: {zh} {message}" if zh else f"{where}: {message}"


def unknown_references(session: Session, hospital: Hospital) -> list[tuple[int, str]]:
    """Each department, doctor or exam a row names that neither the file nor the database has."""
    problems = []
    unknown: dict[str, set[str]] = {}
    for name, model in REFERRED.items():
        named = {code for _, section, field_, code in hospital.references if REFERENCES[section][field_] == name}
        missing = named - hospital.codes[name]
        found = set(session.scalars(select(model.code).where(model.code.in_(missing)))) if missing else set()
        unknown[name] = missing - found
    for line, section, field_, code in hospital.references:
        wanted = REFERENCES[section][field_]
        if code in unknown[wanted]:
            problems.append(
                (line, f"{section}: {UNKNOWN[wanted]} {field_} {code!r} is neither in the file nor in the database")
            )
    return problems


# ---- writing -----------------------------------------------------------------------------


def load(
    session: Session, hospital: Hospital, *, today: date, days_ahead: int = 14, walk_in_share: float = 0.0
) -> LoadReport:
    """Write a file read by read(); the caller commits.  References (a doctor's
    department, a session's doctor) may point into the file or the database.  Raises
    ImportError_ listing every problem of the file, before anything is written."""
    error = hospital.error(unknown_references(session, hospital))
    if error is not None:
        raise error
    created = {section: 0 for section in SECTIONS}
    updated = {section: 0 for section in SECTIONS}
    departments = {d.code: d for d in session.scalars(select(Department))}

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
    for _, row in hospital.rows["doctors"]:
        fields = dict(
            department=departments[row.department],
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
    for _, row in hospital.rows["services"]:
        fields = dict(
            name_zh=row.name.zh,
            name_en=row.name.en,
            description_zh=row.description.zh,
            description_en=row.description.en,
            department=departments[row.department] if row.department else None,
        )
        _upsert(session, FeaturedService, services.get(row.code), fields, row.code, created, updated, "services")

    exams = {e.code: e for e in session.scalars(select(ExamType))}
    for _, row in hospital.rows["exams"]:
        fields = dict(
            name_zh=row.name.zh,
            name_en=row.name.en,
            aliases_zh=row.aliases.zh,
            aliases_en=row.aliases.en,
            department=departments[row.department] if row.department else None,
            location_zh=row.location.zh,
            location_en=row.location.en,
            preparation_zh=row.preparation.zh,
            preparation_en=row.preparation.en,
        )
        exams[row.code] = _upsert(session, ExamType, exams.get(row.code), fields, row.code, created, updated, "exams")

    _load_patients(session, hospital, created, updated)

    wanted = _timetable_sessions(hospital, doctors, exams, today, days_ahead)
    for line, row in hospital.rows["clinic_sessions"]:
        owner = doctors[row.doctor] if row.doctor else exams[row.exam]
        wanted[(owner, row.date, row.start)] = (row.end, row.capacity, line)
    session.flush()
    error = hospital.error(_load_sessions(session, wanted, walk_in_share, created, updated))
    if error is not None:
        raise error  # the caller's transaction rolls back what was written
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
    """Sessions for the coming days from weekly timetables, keyed by (owner, day, start),
    with the line of the doctor's or exam's row."""
    wanted = {}
    owners = [(doctors.get(row.code), line, row) for line, row in hospital.rows["doctors"]]
    owners += [(exams.get(row.code), line, row) for line, row in hospital.rows["exams"]]
    for owner, line, row in owners:
        for offset in range(days):
            day = today + timedelta(days=offset)
            for entry in row.timetable:
                if WEEKDAYS[day.weekday()] == entry.weekday:
                    wanted[(owner, day, entry.start)] = (entry.end, entry.capacity, line)
    return wanted


def _load_sessions(
    session: Session, wanted: dict, walk_in_share: float, created: dict, updated: dict
) -> list[tuple[int, str]]:
    """Writes the sessions; returns those whose new capacity is below the places booked."""
    problems: list[tuple[int, str]] = []
    if not wanted:
        return problems
    days = {day for _, day, _ in wanted}
    existing = {
        (s.doctor or s.exam_type, s.date, s.start_time): s
        for s in session.scalars(select(ClinicSession).where(ClinicSession.date.in_(days)))
    }
    for (owner, day, start), (end, capacity, line) in wanted.items():
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
                problems.append(
                    (
                        line,
                        f"已预约人数超过新容量 the session of {owner.code} {day} {start:%H:%M}: "
                        f"{current.booked} places are booked, more than the new capacity allows",
                    )
                )
                continue
            current.end_time, current.capacity, current.held_back = end, capacity, held_back
            updated["clinic_sessions"] += 1
    return problems
