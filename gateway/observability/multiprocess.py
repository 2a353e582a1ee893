"""The metrics directory of one ``accord serve --workers N`` run.

prometheus-client's multiprocess mode keeps each worker's samples in files of one
directory, named by ``PROMETHEUS_MULTIPROC_DIR`` when the worker starts, and a scrape
adds them up. The directory must start empty (files of an earlier run would be added
in) and must not be shared by two runs, so the supervisor makes a fresh one for its run,
names it to the workers it starts, and removes it when they have all stopped. A worker
that dies and is restarted leaves its files: its counts stay in the sums, as a counter's
must. Only a supervisor killed outright (SIGKILL) leaves its directory behind, under the
system's temporary directory (``TMPDIR``), named ``accord-metrics-*``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gateway.observability.metrics import MULTIPROC_ENV


@contextmanager
def run_directory() -> Iterator[Path]:
    """A fresh directory, in ``PROMETHEUS_MULTIPROC_DIR`` for the processes started
    inside the block (an earlier value is put back after), removed after the block."""
    path = Path(tempfile.mkdtemp(prefix="accord-metrics-"))
    earlier = os.environ.get(MULTIPROC_ENV)
    os.environ[MULTIPROC_ENV] = str(path)
    try:
        yield path
    finally:
        if earlier is None:
            os.environ.pop(MULTIPROC_ENV, None)
        else:
            os.environ[MULTIPROC_ENV] = earlier
        shutil.rmtree(path, ignore_errors=True)
