"""A prediction log from public data: scikit-learn's bundled Wisconsin breast-cancer table.

The table (569 rows, 30 numerical measurements, a 0/1 diagnosis) ships inside scikit-learn
(``sklearn/datasets/data/breast_cancer.csv``), so this runs offline. It has no times and no
scores, so this script adds what a prediction log has and the data lacks, and says so:

- ``scored_at``: one row every 4 hours from 2025-01-01, in the table's own row order;
- ``malignant_proba``: a logistic regression trained on a seeded random third of the rows,
  scoring every row (the label is scikit-learn's target with 1 = malignant);
- ``case_id``: the row number.

Usage: ``python docs/examples/breast_cancer_log.py OUT.csv``, then
``watchkeeper init --source OUT.csv --yes``.
"""

from __future__ import annotations

import datetime as dt
import sys

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def main(out: str) -> None:
    data = load_breast_cancer(as_frame=True)
    x = data.data
    y = 1 - data.target  # scikit-learn's 1 is benign; a screening model flags malignant
    rng = np.random.default_rng(0)
    train = rng.random(len(x)) < 1 / 3
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(x[train], y[train])
    log = pd.DataFrame({"case_id": np.arange(len(x))})
    start = dt.datetime(2025, 1, 1)
    log["scored_at"] = [start + dt.timedelta(hours=4 * i) for i in range(len(x))]
    log = pd.concat([log, x.rename(columns=lambda c: c.replace(" ", "_"))], axis=1)
    log["malignant_proba"] = model.predict_proba(x)[:, 1]
    log["diagnosis"] = y
    log.to_csv(out, index=False)


if __name__ == "__main__":
    main(sys.argv[1])
