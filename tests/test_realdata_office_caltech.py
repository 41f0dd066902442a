"""Office-Caltech-10 SURF, all 12 tasks: every shallow adapter beats the published 1-NN baseline.

The settings are the benchmark registry's (``domadapt.bench.methods``), so this test and the
committed table in ``benchmarks/office_caltech10/`` measure the same thing. The baseline is the
NN row of Long et al. (ICCV 2013), which ``tests/test_datasets.py`` reproduces exactly.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.neighbors import KNeighborsClassifier

from domadapt import config_context
from domadapt.bench.methods import get_method
from domadapt.bench.reference import reference_table
from domadapt.datasets import OFFICE_CALTECH10_TASKS, office_caltech10_task

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

METHODS = ["CORAL", "SA", "TCA", "JDA", "OT-EMD"]


@pytest.fixture(scope="module")
def tasks(data_root):
    return [office_caltech10_task(*t.split("→"), data_root=data_root) for t in OFFICE_CALTECH10_TASKS]


@pytest.mark.parametrize("method", METHODS)
def test_beats_published_nn_baseline_on_12_task_average(method, tasks):
    published_nn = reference_table("office_caltech10_surf", "NN")["NN"]
    baseline = np.mean([published_nn[t.name] for t in tasks])
    spec = get_method(method)
    accs = []
    with config_context(report_discrepancy=False):
        for t in tasks:
            adapter = spec.build(KNeighborsClassifier(1), random_state=0, device="cpu")
            X_s, y_s, X_t, y_t = t.arrays()
            accs.append(100 * adapter.fit(X_s, y_s, X_t).score(X_t, y_t))
    assert np.mean(accs) > baseline + 1.0, (method, dict(zip([t.name for t in tasks], accs)))
