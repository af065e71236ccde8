"""Run a Python script or module in this process and, at exit, write its peak RSS to a JSON file.

    python bench/_peak.py REPORT.json script.py [args...]
    python bench/_peak.py REPORT.json -m module [args...]

The peak is VmHWM from /proc/self/status: the high-water mark of this process's own address space.
`ru_maxrss` (getrusage / os.wait4) is not used because Linux carries the parent's RSS at fork time
into the child's ru_maxrss across exec, so a small child of a large parent reports the parent's size.
Only this process is counted: run Dagster with the in-process executor so the step runs here.
"""

from __future__ import annotations

import atexit
import json
import runpy
import sys


def status_kib(field: str) -> int | None:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


def write_report(path: str) -> None:
    with open(path, "w") as out:
        json.dump({"peak_rss_kib": status_kib("VmHWM"), "final_rss_kib": status_kib("VmRSS")}, out)


def main() -> None:
    report, target = sys.argv[1], sys.argv[2:]
    atexit.register(write_report, report)
    if target[0] == "-m":
        sys.argv = [target[1], *target[2:]]
        runpy.run_module(target[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = list(target)
        runpy.run_path(target[0], run_name="__main__")


if __name__ == "__main__":
    main()
