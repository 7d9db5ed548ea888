#!/usr/bin/env python3
"""cputime.py OUT COMMAND...: runs COMMAND and writes "user_s sys_s max_rss_kb" to OUT.

GNU time prints CPU seconds with two decimals, which is too coarse for runs of a tenth of a
second divided by a thousand log files; the kernel's rusage of the child is exact to the
microsecond. Exits with the command's status (128 + N for signal N).
"""
import resource
import subprocess
import sys

status = subprocess.call(sys.argv[2:])
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(sys.argv[1], "w") as out:
    out.write(f"{usage.ru_utime:.6f} {usage.ru_stime:.6f} {usage.ru_maxrss}\n")
sys.exit(128 - status if status < 0 else status)
