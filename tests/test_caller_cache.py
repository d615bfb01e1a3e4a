"""The caller cache keeping greetings (records.patients.CallerCache, issue 17), as a hostile
caller, a race or the hospital's privacy officer would try it: the minimum kept, savepoints,
matches kept without being read, values that do not read, Redis losing its data."""

import redis as redis_lib
from sqlalchemy import select

from records.models import Patient, PatientPhone

MS_WANG = "13800138000"  # M00000001 王秀英 (F), prefers Mandarin; the only file with this number
MS_WANG_E164 = "+8613800138000"
UNKNOWN = "+8613912345678"  # nobody's number
FAMILY = "13700001111"  # M00000003 张伟 (M) and M00000004 张丽 (F) share it


def _kept(app, e164: str) -> tuple[str | None, int]:
    """What the caller cache holds for a number, and its time to live in seconds."""
    hotline = app.extensions["hotline"]
    key = hotline.caller_cache.key(e164)
    return hotline.redis.get(key), hotline.redis.ttl(key)


def _ms_wang(session) -> Patient:
    patient = session.scalar(select(Patient).where(Patient.mrn == "M00000001"))
    assert patient is not None
    return patient


# ---- minimum necessary ------------------------------------------------------------------------


def test_no_surname_is_kept_in_redis_when_greeting_by_name_is_off(dial, app):
    """With greet_known_callers off the call never says a surname, so the hotline has no
    purpose for keeping one: only the language to answer in is needed."""
    hotline = app.extensions["hotline"]
    dialogue = hotline.settings.dialogue.model_copy(update={"greet_known_callers": False})
    hotline.settings = hotline.settings.model_copy(update={"dialogue": dialogue})
    assert "王女士" not in dial(MS_WANG).take_text()
    kept, _ = _kept(app, MS_WANG_E164)
    assert kept is not None
    assert "王" not in kept and "Wang" not in kept, kept


# ---- savepoints: SQLAlchemy runs after_commit on a RELEASE, after_rollback on a ROLLBACK TO -----


def test_a_rename_before_a_savepoint_rolled_back_is_still_forgotten(dial, app):
    """A savepoint rolled back (records.booking, the waitlist, the calls use them) keeps the
    numbers noted before it: the change made before it commits, and is forgotten."""
    assert dial(MS_WANG).take_text().startswith("王女士您好")
    with app.extensions["hotline"].sessions.begin() as session:
        patient = _ms_wang(session)
        patient.family_name_zh, patient.sex = "汪", "M"
        session.flush()
        session.begin_nested().rollback()  # e.g. a booking that lost its race, in the same unit of work
    assert dial(MS_WANG).take_text().startswith("汪先生您好")


def test_a_savepoint_released_forgets_nothing_before_the_commit(dial, app):
    """A savepoint released runs SQLAlchemy's after_commit: the numbers are forgotten at the
    outer transaction's commit, not before it (a call meanwhile caches the old greeting)."""
    assert dial(MS_WANG).take_text().startswith("王女士您好")
    with app.extensions["hotline"].sessions.begin() as session:
        with session.begin_nested():
            patient = _ms_wang(session)
            patient.family_name_zh, patient.sex = "汪", "M"
        # not committed yet: a call now is still greeted by the old name, and caches it
        assert dial(MS_WANG).take_text().startswith("王女士您好")
    assert dial(MS_WANG).take_text().startswith("汪先生您好")


# ---- what the cache rewrites without reading ------------------------------------------------------


def test_files_kept_for_a_file_that_is_gone_are_not_kept_again(dial, app):
    """A kept match naming one file, without its greeting (kept by the release before, or
    its greeting read found no file), is read afresh, files and all: were the greeting read
    alone and the match kept again, a number calling at least every ten minutes would name
    a deleted file for ever."""
    hotline = app.extensions["hotline"]
    with hotline.sessions() as session:
        gone = (session.scalar(select(Patient.id).order_by(Patient.id.desc())) or 0) + 1000
    hotline.redis.set(hotline.caller_cache.key(UNKNOWN), str(gone), ex=30)
    dial(UNKNOWN).take_text()
    kept, ttl = _kept(app, UNKNOWN)
    assert not (kept is not None and kept.split("\n")[0] == str(gone) and ttl > 30), (kept, ttl)


def test_a_match_kept_without_its_greeting_is_not_renewed_unread(dial, app):
    """The same for a file that exists: a match read up to 600 s ago (here: one the database
    no longer has, the number given up around the listener) is not kept 600 s more with the
    greeting it lacked: a stale match lasts 10 minutes at most, not 20."""
    hotline = app.extensions["hotline"]
    with hotline.sessions() as session:
        ms_wang = _ms_wang(session).id
    hotline.redis.set(hotline.caller_cache.key(UNKNOWN), str(ms_wang), ex=30)  # not her number
    dial(UNKNOWN).take_text()
    kept, ttl = _kept(app, UNKNOWN)
    assert not (kept is not None and kept.split("\n")[0] == str(ms_wang) and ttl > 30), (kept, ttl)


# ---- paths looked at that hold -------------------------------------------------------------------


def test_a_family_number_left_to_one_file_greets_that_file(dial, app):
    assert dial(FAMILY).take_text().startswith("您好，欢迎致电")
    with app.extensions["hotline"].sessions.begin() as session:
        zhang_li = session.scalar(select(Patient).where(Patient.mrn == "M00000004"))
        zhang_li.phones = [phone for phone in zhang_li.phones if phone.e164 != "+8613700001111"]
    assert dial(FAMILY).take_text().startswith("张先生您好")


def test_a_number_given_to_a_second_file_is_no_longer_greeted_by_name(dial, app):
    assert dial(MS_WANG).take_text().startswith("王女士您好")
    assert dial(MS_WANG).take_text().startswith("王女士您好")  # from the cache, greeting and all
    with app.extensions["hotline"].sessions.begin() as session:
        zhang_li = session.scalar(select(Patient).where(Patient.mrn == "M00000004"))
        zhang_li.phones.append(PatientPhone(e164=MS_WANG_E164))
    assert dial(MS_WANG).take_text().startswith("您好，欢迎致电")


def test_a_redis_that_lost_its_data_greets_from_the_database(dial, app):
    assert dial(MS_WANG).take_text().startswith("王女士您好")
    hotline = app.extensions["hotline"]
    hotline.redis.delete(hotline.caller_cache.key(MS_WANG_E164))
    assert dial(MS_WANG).take_text().startswith("王女士您好")


def test_a_kept_greeting_that_is_a_four_letter_string_is_not_a_greeting():
    """json.loads of a string gives a str, and Greeting(*"abcd") takes its letters."""
    from records.patients import CallerCache

    found = CallerCache.decode('7\n"abcd"')
    assert found is not None
    assert found.greeting is None, found.greeting


def test_forget_logs_no_number(app, caplog):
    from records.patients import CallerCache

    broken = CallerCache(redis_lib.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2), "x:")
    broken.forget({MS_WANG_E164})
    assert caplog.records and MS_WANG_E164 not in caplog.text and "38000" not in caplog.text


# ---- a read racing a change ------------------------------------------------------------------------


def test_a_greeting_read_before_a_rename_is_not_kept_after_it(dial, app, monkeypatch):
    """A call reads the file, a rename commits (and forgets the number), then the call's round
    trip keeps what it read: the old name, for the next ten minutes, unless what forgetting
    leaves in its place (a short-lived mark) keeps the late write out."""
    import ivr.webhooks

    hotline = app.extensions["hotline"]
    hotline.redis.delete(hotline.caller_cache.key(MS_WANG_E164))
    read_first = ivr.webhooks.greeting_of

    def read_then_renamed(engine, patient_id):
        greeting = read_first(engine, patient_id)
        with hotline.sessions.begin() as session:  # the desk renames the file meanwhile
            patient = _ms_wang(session)
            patient.family_name_zh, patient.sex = "汪", "M"
        return greeting

    monkeypatch.setattr(ivr.webhooks, "greeting_of", read_then_renamed)
    assert dial(MS_WANG).take_text().startswith("王女士您好")  # read before the rename: fair
    monkeypatch.setattr(ivr.webhooks, "greeting_of", read_first)
    assert dial(MS_WANG).take_text().startswith("汪先生您好")
    assert dial(MS_WANG).take_text().startswith("汪先生您好")  # read from the file while the mark lasts


def _read_by_the_release_before(raw: str) -> tuple[int, ...] | str:
    """How a process of the release before the mark (rolling upgrade, rollback) takes what a
    number's key holds: files ('3,17'), then the greeting on a second line, any value a match
    (it knew no mark); and one file without its greeting is read afresh ('read')."""
    files, _, greeting = raw.partition("\n")
    ids = tuple(int(part) for part in files.split(",") if part.isdigit())
    return "read" if len(ids) == 1 and not greeting else ids


def test_the_mark_a_change_leaves_sends_the_release_before_to_the_file_not_to_no_file(dial, app):
    """During a rolling upgrade a call answered by the release before read the mark as a
    match naming no file: Ms Wang, renamed, called as a stranger for a minute (no greeting,
    her call's record and screen pop without her file)."""
    assert dial(MS_WANG).take_text().startswith("王女士您好")
    with app.extensions["hotline"].sessions.begin() as session:
        _ms_wang(session).family_name_zh = "汪"
    kept, ttl = _kept(app, MS_WANG_E164)
    assert kept is not None and 0 < ttl <= 60  # the mark
    assert _read_by_the_release_before(kept) == "read"
    assert dial(MS_WANG).take_text().startswith("汪女士您好")  # and this release reads the file too
    assert _kept(app, MS_WANG_E164)[0] == kept


def test_an_import_forgets_every_number_it_changed_in_slices(app):
    """An import commits all of its patients' numbers at once: each one marked, the last
    slice's too (they are sent 10,000 at a time)."""
    hotline = app.extensions["hotline"]
    numbers = {f"+86139{n:08d}" for n in range(20_001)}
    hotline.caller_cache.forget(numbers)
    keys = [hotline.caller_cache.key(number) for number in sorted(numbers)]
    assert set(hotline.redis.mget(keys)) == {hotline.caller_cache.CHANGED}
    assert 0 < hotline.redis.ttl(keys[-1]) <= hotline.caller_cache.HOLD_SECONDS
    hotline.redis.delete(*keys)
