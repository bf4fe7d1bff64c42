"""The rehearsal's CPU accounting (``tests/ha/cpu.py``) on real processes: a group counts what its
processes used between samples, once, also when a process ends and its parent takes its seconds."""

import subprocess
import sys

from tests.ha.cpu import Group, ProcessCpu, descendants, process_table

# a parent whose child burns 0.2 s of CPU, says so, burns 0.2 s more and ends (the parent reaps it,
# and with it its 0.4 s); the parent says so and waits for its input to close
FAMILY = """
import subprocess, sys
child = subprocess.Popen([sys.executable, "-c", '''
import sys, time
def burn(until):
    while time.process_time() < until:
        pass
burn(0.2)
print("half", flush=True)
sys.stdin.readline()
burn(0.4)
'''], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
assert child.stdout.readline() == b"half\\n"
print("half", flush=True)
sys.stdin.readline()
child.stdin.write(b"go\\n")
child.stdin.flush()
child.wait()
print("reaped", flush=True)
sys.stdin.readline()
"""


def test_a_reaped_childs_seconds_count_once() -> None:
    family = subprocess.Popen([sys.executable, "-c", FAMILY], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert family.stdin is not None and family.stdout is not None
    try:
        assert family.stdout.readline() == b"half\n"
        assert len(descendants(process_table(), [family.pid])) == 2
        cpu = ProcessCpu(lambda: [Group("family", [family.pid])])  # first sample: 0.2 s already burnt
        family.stdin.write(b"go\n")
        family.stdin.flush()
        assert family.stdout.readline() == b"reaped\n"
        seconds = cpu.stop()["family"]
    finally:
        family.kill()
        family.wait()
    # the second 0.2 s of the child (and a little of the parent's); counting the child's seconds
    # again when they move into its parent's would give about 0.4 s
    assert 0.18 <= seconds < 0.3, seconds
