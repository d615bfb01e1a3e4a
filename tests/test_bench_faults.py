"""bench/faults.py's counting: what it calls complete, missing, incomplete, doubled and
reconstructed, and which fault a call is counted under (pure functions, no servers)."""

from bench.faults import Fault, Kept, Placed, has_gap, placed_calls, tally, verdict, why_incomplete

EPOCH = 1_765_000_000_000  # an epoch in ms, as the pipeline branch numbers events


def placed(sid="CA1", status="completed", started=100.0, ended=110.0, inputs=2, errors=False):
    return Placed(sid, status, started, ended, inputs, errors)


def kept(status="completed", ended=True, menu_path="main>departments", sequences=(1, 2, 3, 4), inputs=2, twice=0,
         reconstructed=None):  # fmt: skip
    return Kept(status, ended, menu_path, tuple(sequences), inputs, twice, reconstructed)


def test_a_call_with_one_whole_record_is_complete():
    assert verdict(placed(), [kept()]) == ("complete", [])


def test_no_record_is_missing_and_two_records_or_an_event_twice_are_doubled():
    assert verdict(placed(), []) == ("missing", [])
    assert verdict(placed(), [kept(), kept()]) == ("doubled", [])
    assert verdict(placed(), [kept(twice=1)]) == ("doubled", [])


def test_a_record_without_the_final_status_or_its_last_keys_is_incomplete_and_says_why():
    assert why_incomplete(placed(), kept(status="in-progress", ended=False)) == ["status not final", "no end"]
    assert why_incomplete(placed(inputs=3), kept(inputs=2)) == ["keys or speech answered but not kept"]
    assert why_incomplete(placed(), kept(sequences=(), menu_path="", inputs=2)) == ["no events", "no menu path"]
    assert why_incomplete(placed(status="busy"), kept()) == ["other final status"]


def test_gaps_are_found_in_both_numberings_and_spooled_numbers_are_left_alone():
    assert not has_gap([1, 2, 3])
    assert has_gap([1, 2, 4])
    assert not has_gap([1, 2, 1_000_000_000 + 700, 1_000_000_000 + 701])  # spooled: numbers of their own
    # A new epoch after Redis lost the call's keys starts its positions at 1 again.
    assert not has_gap([EPOCH * 1_000_000 + 1, EPOCH * 1_000_000 + 2, (EPOCH + 9) * 1_000_000 + 1])
    assert has_gap([EPOCH * 1_000_000 + 1, EPOCH * 1_000_000 + 3])
    assert verdict(placed(), [kept(sequences=(1, 3, 4))]) == ("incomplete", ["gap in events"])


def test_calls_count_under_each_fault_they_were_in_progress_during_and_once_in_the_total():
    faults = [Fault("worker-kill", 100.0, 100.1), Fault("db-cut", 130.0, 140.0)]
    calls = [
        placed("CA1", started=95, ended=101),  # during the kill
        placed("CA2", started=104, ended=112),  # 5 s after the kill still counts
        placed("CA3", started=112, ended=120),  # between the two
        placed("CA4", started=99, ended=131),  # during both
        placed("CA5", started=144, ended=150),  # within 5 s of the cut's end
    ]
    records = {"CA1": [kept()], "CA2": [kept(status="in-progress")], "CA4": [kept(reconstructed=True)],
               "CA5": [kept(inputs=0)]}  # fmt: skip
    out = tally(calls, records, faults)
    assert (out["worker-kill"].placed, out["worker-kill"].complete, out["worker-kill"].incomplete) == (3, 2, 1)
    assert (out["db-cut"].placed, out["db-cut"].incomplete, out["db-cut"].reconstructed) == (2, 1, 1)
    assert (out["no fault"].placed, out["no fault"].missing) == (1, 1)
    total = out["total"]
    assert (total.placed, total.complete, total.missing, total.incomplete, total.doubled) == (5, 2, 1, 2, 0)
    assert total.reconstructed == 1 and total.incomplete_not_reconstructed == 2
    assert total.reasons == {"status not final": 1, "keys or speech answered but not kept": 1}


def test_placed_calls_count_the_keys_and_speech_the_app_answered():
    outcome = {"sid": "CA1", "status": "completed", "started": 1.0, "ended": 9.0, "problems": [],
               "timings": [("/ivr/voice", 0.01, 200, False), ("/ivr/main/menu", 0.01, 200, True),
                           ("/ivr/main/menu", 0.01, 500, True), ("/ivr/status", 0.01, 204, False)]}  # fmt: skip
    crashed = {"sid": None, "status": "?", "started": 1.0, "ended": 1.0, "problems": ["crashed"], "timings": []}
    assert placed_calls([outcome, crashed]) == [Placed("CA1", "completed", 1.0, 9.0, 1, False, ("/ivr/main/menu",))]
