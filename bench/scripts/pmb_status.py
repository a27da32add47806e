"""pmb_status.py -- what the Python side of the benchmarks reads about its
own process, shared by the scripts here (the C workers' twin is
bench/common/worker_status.c). The scripts run as `python3 bench/scripts/X.py`,
so this directory is on sys.path."""


def peak_rss_kb():
    """VmHWM of this process in KiB, or -1 when /proc says nothing."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return -1
