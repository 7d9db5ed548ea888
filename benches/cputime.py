#!/usr/bin/env python3
"""cputime.py OUT COMMAND...: runs COMMAND and writes "user_s sys_s" to OUT.

GNU time prints CPU seconds with two decimals, which is too coarse for runs of a tenth of a
second divided by a thousand log files; the kernel's rusage of the child (and of what it
waited for) is exact to the microsecond. Peak RSS is not taken from here: a child forked from
Python reports Python's own pages as its peak. Exits with the command's status (128 + N for
signal N).
"""
import resource
import subprocess
import sys

# What this process's children used before (a launcher such as a pyenv shim waits for its own
# helpers in this process before it becomes Python) is not the command's.
before = resource.getrusage(resource.RUSAGE_CHILDREN)
status = subprocess.call(sys.argv[2:])
after = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(sys.argv[1], "w") as out:
    out.write(
        f"{after.ru_utime - before.ru_utime:.6f} {after.ru_stime - before.ru_stime:.6f}\n"
    )
sys.exit(128 - status if status < 0 else status)
