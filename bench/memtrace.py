"""What grows in a gunicorn worker: tracemalloc snapshots and the allocators' own counts,
taken inside each worker when the load asks for them (`bench/load.py --tracemalloc`).

Worker side: gunicorn.conf.py's post_fork calls `start_in_worker()` only when
HOTLINE_TRACEMALLOC names a folder.  A thread polls that folder for trigger files
(`trigger-<label>`, written by the load at chosen moments) and answers each with
`<pid>-<label>.snap` (a tracemalloc snapshot) and `<pid>-<label>.json` (RSS, the
Python-traced bytes, pymalloc's arenas, glibc malloc's arenas and heap).  A trigger file,
not a signal: gunicorn resets every worker signal after post_fork.

Load side: `report()` compares each worker's snapshots and writes bench/results/memory.md.
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import re
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

ENV = "HOTLINE_TRACEMALLOC"
FRAMES = 12  # enough to see which of the project's calls reached a library's allocation
TOP = 15


# ---- in the worker --------------------------------------------------------------------------------


def start_in_worker() -> None:
    """HOTLINE_TRACEMALLOC_FRAMES=0: only the allocators' counts (pymalloc tells its own only
    when tracemalloc is off, since tracemalloc wraps it)."""
    folder = os.environ.get(ENV)
    if not folder:
        return
    frames = int(os.environ.get(ENV + "_FRAMES", FRAMES))
    if frames:
        tracemalloc.start(frames)
    threading.Thread(target=_watch, args=(Path(folder),), daemon=True, name="memtrace").start()


def _watch(folder: Path) -> None:
    done: set[str] = set()
    while True:
        for trigger in sorted(folder.glob("trigger-*")):
            label = trigger.name.removeprefix("trigger-")
            if label not in done:
                done.add(label)
                _snapshot(folder, label)
        time.sleep(0.5)


def _snapshot(folder: Path, label: str) -> None:
    pid = os.getpid()
    facts = {"t": time.time(), "rss_kib": _status_kib("VmRSS"), "threads": threading.active_count()}
    facts["traced"], facts["traced_peak"] = tracemalloc.get_traced_memory()
    facts["tracemalloc_overhead"] = tracemalloc.get_tracemalloc_memory()
    facts["pymalloc"] = _pymalloc()
    facts["glibc"] = _glibc()
    facts["mappings"] = _mappings()
    facts["gc_collections"] = [generation["collections"] for generation in gc.get_stats()]
    facts["sqlalchemy_compiled_cache"] = _compiled_caches()
    # The workers' collector runs rarely (threshold 50,000, gunicorn.conf.py): without a
    # collection here the snapshot would count the cyclic garbage waiting for it as growth.
    gc.collect()
    facts["traced_after_gc"] = tracemalloc.get_traced_memory()[0]
    facts["pymalloc_after_gc"] = _pymalloc()
    if tracemalloc.is_tracing():
        tracemalloc.take_snapshot().dump(str(folder / f"{pid}-{label}.snap"))
    (folder / f"{pid}-{label}.json").write_text(json.dumps(facts))


def _compiled_caches() -> list[int]:
    """Entries in each engine's compiled-statement cache (an LRU of query_cache_size, 500)."""
    engine_type = getattr(sys.modules.get("sqlalchemy.engine.base"), "Engine", None)
    if engine_type is None:
        return []
    return [
        len(o._compiled_cache) for o in gc.get_objects() if type(o) is engine_type and o._compiled_cache is not None
    ]


def _status_kib(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def _pymalloc() -> dict:
    """pymalloc's arenas (256 KiB each, mmapped) and their used and free blocks; only
    sys._debugmallocstats tells, and it writes to the C stderr, so fd 2 is lent to a file
    for the moment (a line another thread logs then is lost; this is a benchmark)."""
    with tempfile.TemporaryFile("w+") as out:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            os.dup2(out.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        out.seek(0)
        text = out.read()

    def number(name: str) -> int:
        found = re.search(r"^# " + re.escape(name) + r"\s*=\s*([\d,]+)", text, re.M)
        return int(found.group(1).replace(",", "")) if found else -1

    return {
        "arenas": number("arenas allocated current"),
        "arenas_highwater": number("arenas highwater mark"),
        "allocated_blocks_bytes": number("bytes in allocated blocks"),
        "available_blocks_bytes": number("bytes in available blocks"),
    }


def _mappings() -> dict[str, int]:
    """Resident KiB by kind of mapping: [heap] (glibc's main arena, brk), anonymous (pymalloc's
    1 MiB arenas, the threads' malloc arenas and stacks, malloc's mmapped blocks), files."""
    kinds: dict[str, int] = {}
    kind = "anon"
    for line in Path("/proc/self/smaps").read_text().splitlines():
        fields = line.split()
        if "-" in fields[0] and len(fields) >= 5:
            name = fields[5] if len(fields) > 5 else ""
            kind = "heap" if name == "[heap]" else "anon" if not name or name == "[stack]" else "file"
        elif fields[0] == "Rss:":
            kinds[kind] = kinds.get(kind, 0) + int(fields[1])
    return kinds


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]  # fmt: skip


def _glibc() -> dict:
    """glibc malloc (what C extensions, the interpreter's large objects and each thread's
    arena use): mallinfo2 summed over the arenas, and the arenas' count from malloc_info."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = _Mallinfo2
        info = libc.mallinfo2()
        xml = _malloc_info(libc)
    except (OSError, AttributeError):
        return {}
    return {"heap_bytes": info.arena, "mmapped_bytes": info.hblkhd, "in_use_bytes": info.uordblks,
            "free_bytes": info.fordblks, "arenas": len(re.findall(r"<heap nr=", xml))}  # fmt: skip


def _malloc_info(libc) -> str:
    buffer, size = ctypes.c_char_p(), ctypes.c_size_t()
    libc.open_memstream.restype = ctypes.c_void_p
    stream = libc.open_memstream(ctypes.byref(buffer), ctypes.byref(size))
    libc.malloc_info(0, ctypes.c_void_p(stream))
    libc.fclose(ctypes.c_void_p(stream))
    text = ctypes.string_at(buffer, size.value).decode()
    libc.free(buffer)
    return text


# ---- the report -----------------------------------------------------------------------------------


def trigger(folder: Path, label: str) -> None:
    (folder / f"trigger-{label}").write_text("")


def collect(folder: Path, labels: list[str]) -> dict[int, dict[str, dict]]:
    """{worker pid: {label: facts}} for the workers that answered every label."""
    found: dict[int, dict[str, dict]] = {}
    for facts in folder.glob("*-*.json"):
        pid, label = facts.stem.split("-", 1)
        found.setdefault(int(pid), {})[label] = json.loads(facts.read_text())
    return {pid: by for pid, by in sorted(found.items()) if all(label in by for label in labels)}


def _where(frame) -> str:
    return f"{_short(frame.filename)}:{frame.lineno}"


def _short(filename: str) -> str:
    for marker in ("site-packages/", "python3.11/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    root = str(Path(__file__).resolve().parent.parent) + "/"
    return filename.removeprefix(root)


def _package(filename: str) -> str:
    short = _short(filename)
    if short == filename:  # outside the venv and the standard library: <frozen ...>, <string>
        return short.split(":")[0]
    return short.split("/", 1)[0] if "/" in short else short


def compare(folder: Path, pid: int, before: str, after: str) -> dict:
    old = tracemalloc.Snapshot.load(str(folder / f"{pid}-{before}.snap"))
    new = tracemalloc.Snapshot.load(str(folder / f"{pid}-{after}.snap"))
    lines = new.compare_to(old, "lineno")
    packages: dict[str, int] = {}
    for stat in lines:
        name = _package(stat.traceback[0].filename)
        packages[name] = packages.get(name, 0) + stat.size_diff
    top_lines = sorted(lines, key=lambda s: -s.size_diff)[:TOP]
    by_trace = sorted(new.compare_to(old, "traceback"), key=lambda s: -s.size_diff)[:5]
    return {
        "traced_diff": sum(s.size_diff for s in lines),
        "packages": sorted(packages.items(), key=lambda kv: -kv[1])[:10],
        "lines": [(_where(s.traceback[0]), s.size_diff, s.count_diff, s.size) for s in top_lines],
        "tracebacks": [(s.size_diff, s.count_diff, [_where(f) for f in s.traceback if "/gunicorn/" not in f.filename])
                       for s in by_trace],
    }  # fmt: skip


def _mib(n: float) -> str:
    return f"{n / 1048576:+.2f}"


def _breakdown(pid: int, before: str, after: str, a: dict, b: dict) -> str:
    def kib(key: str) -> str:
        return _mib(1024 * (b["mappings"].get(key, 0) - a["mappings"].get(key, 0)))

    def glibc(f: dict) -> int:
        return f["glibc"].get("heap_bytes", 0) + f["glibc"].get("mmapped_bytes", 0)

    arenas = b["pymalloc"]["arenas"] - a["pymalloc"]["arenas"]
    used = b["pymalloc"]["allocated_blocks_bytes"] - a["pymalloc"]["allocated_blocks_bytes"]
    live = b["pymalloc_after_gc"]["allocated_blocks_bytes"] - a["pymalloc_after_gc"]["allocated_blocks_bytes"]
    pymalloc = f"{_mib(arenas * 1048576)} ({arenas:+d}, now {b['pymalloc']['arenas']}) | {_mib(used)} | {_mib(live)}"
    if b["pymalloc"]["arenas"] < 0:
        pymalloc = "? | ? | ?"
    return (f"| {pid} | {before} → {after} | {_mib(1024 * (b['rss_kib'] - a['rss_kib']))} | {kib('heap')} "
            f"| {kib('anon')} | {kib('file')} | {_mib(b['traced'] - a['traced'])} "
            f"| {_mib(b['traced_after_gc'] - a['traced_after_gc'])} "
            f"| {_mib(b['tracemalloc_overhead'] - a['tracemalloc_overhead'])} | {pymalloc} "
            f"| {_mib(glibc(b) - glibc(a))} ({b['glibc'].get('arenas', '?')}) "
            f"| {_mib(b['glibc'].get('in_use_bytes', 0) - a['glibc'].get('in_use_bytes', 0))} "
            f"| {_mib(b['glibc'].get('free_bytes', 0) - a['glibc'].get('free_bytes', 0))} |")  # fmt: skip


def report(folder: Path, windows: list[tuple[str, str]], detailed: list[tuple[str, str]], header: list[str]) -> str:
    """The RSS breakdown for every window, the growing allocations for the `detailed` ones."""
    labels = sorted({label for window in windows + detailed for label in window})
    workers = collect(folder, labels)
    lines = header + [""]
    if not workers:
        return "\n".join(lines + ["No worker answered every snapshot."]) + "\n"
    lines += ["## Where each worker's RSS went (MiB)", "",
              "RSS: the kernel's, split by mapping: [heap] (brk: glibc's main arena), anonymous (pymalloc's "
              "1 MiB arenas, the threads' malloc arenas and stacks, malloc's mmapped blocks), files (code, "
              "shared libraries). traced: live Python allocations tracemalloc sees (every PyMem/PyObject "
              "allocation, C extensions' included); tracemalloc: its own bookkeeping (absent without it); "
              "pymalloc: its arenas and the bytes of its blocks in use, counted only when tracemalloc is off; "
              "after gc: once gc.collect() has freed the cyclic garbage (the snapshot's time; every other column "
              "is before it); "
              "glibc: malloc's heaps (all arenas) and mmapped blocks, the part in use and the part free.", "",
              "| worker | window | RSS | [heap] | anon | files | traced | traced after gc | tracemalloc "
              "| pymalloc arenas | pymalloc in use | pymalloc in use after gc | glibc heaps+mmap (arenas now) "
              "| glibc in use | glibc free |",
              "| --- | --- | " + "---: | " * 13]  # fmt: skip
    for pid, by in workers.items():
        for before, after in windows:
            lines.append(_breakdown(pid, before, after, by[before], by[after]))
    lines += ["", "The collector's runs so far (generations 0, 1, 2) and the SQLAlchemy compiled-statement "
              "caches' entries, at each snapshot:", ""]  # fmt: skip
    for pid, by in workers.items():
        lines.append(f"- worker {pid}: " + "; ".join(
            f"{label} gc {by[label].get('gc_collections', '?')} cache {by[label].get('sqlalchemy_compiled_cache', '?')}"
            for label in sorted(by, key=lambda label: by[label]["t"])))  # fmt: skip
    if not list(folder.glob("*.snap")):
        return "\n".join(lines) + "\n"
    for before, after in detailed:
        lines += [
            "",
            f"## Python allocations that grew, {before} → {after} (live: each snapshot after gc.collect())",
            "",
        ]
        for pid in workers:
            diff = compare(folder, pid, before, after)
            lines += [f"### worker {pid}: traced {_mib(diff['traced_diff'])} MiB", "",
                      "By package (where the allocation was made): "
                      + ", ".join(f"{name} {_mib(size)}" for name, size in diff["packages"] if size), "",
                      "| line | grew KiB | blocks | now KiB |", "| --- | ---: | ---: | ---: |"]  # fmt: skip
            lines += [f"| {where} | {size / 1024:+.1f} | {count:+d} | {now / 1024:.1f} |"
                      for where, size, count, now in diff["lines"]]  # fmt: skip
            lines += [
                "",
                "Largest growing tracebacks (outermost first, the allocation last; gunicorn's frames left out):",
                "",
            ]
            for size, count, frames in diff["tracebacks"]:
                lines.append(f"- {size / 1024:+.1f} KiB in {count:+d} blocks: " + " → ".join(frames))
            lines.append("")
    return "\n".join(lines) + "\n"
