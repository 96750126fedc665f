"""What the python3 bench clients share (imported from beside them:
`python3 benches/X.py` puts benches/ on the module path)."""

import resource


def raise_nofile():
    """Raises the soft open-files limit to the hard one; returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def proc_mem(pid):
    """VmRSS and VmHWM of pid in KiB (None when unknown or unreadable)."""
    out = {"VmRSS": None, "VmHWM": None}
    if not pid:
        return out
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in out:
                    out[key] = int(value.split()[0])
    except OSError:
        pass
    return out
