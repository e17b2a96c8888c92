"""Reference profiles: bins, vocabularies, missing, JSON round trip, digest."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

from watchkeeper.core.drift.counting import bin_categorical, bin_numeric
from watchkeeper.core.drift.errors import DriftError
from watchkeeper.core.drift.profile import ReferenceProfile, build_profile
from watchkeeper.core.evidence import digest


def _reference(n: int = 10_000, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    x[:100] = np.nan
    cats = rng.choice(["a", "b", "c", "d"], n, p=[0.4, 0.3, 0.2, 0.1]).astype(object)
    cats[:50] = None
    return pa.table({"x": x, "city": pa.array(cats.tolist()), "k": rng.integers(0, 3, n)})


def test_numerical_bins_are_reference_deciles_with_open_edges() -> None:
    p = build_profile(_reference(), bins=10)
    x = p.feature("x")
    assert x.kind == "numerical" and len(x.edges) == 9 and x.n_bins == 11
    assert x.missing == 100 and x.missing_rate == pytest.approx(0.01)
    assert max(x.counts[:-1]) - min(x.counts[:-1]) <= 2  # equal-mass bins
    b = bin_numeric(np.asarray(x.edges), np.array([-np.inf, -1e300, 1e300, np.inf, np.nan]))
    assert b.tolist() == [0, 0, 9, 9, 10]
    assert x.labels[0].startswith("(-inf") and x.labels[-1] == "missing"


def test_categorical_top_k_other_unseen_missing() -> None:
    p = build_profile(_reference(), max_categories=2, categorical=["k"])
    c = p.feature("city")
    assert c.categories == ("a", "b") and set(c.other) == {"c", "d"}
    assert c.labels[-3:] == ("other", "unseen", "missing")
    assert c.missing == 50 and c.cardinality == 4 and not c.high_cardinality
    codes = bin_categorical(c, pa.array(["a", "b", "c", "zzz", None]))
    assert codes.tolist() == [0, 1, 2, 3, 4]
    assert p.feature("k").kind == "categorical"
    assert p.feature("k").categories == tuple(
        sorted(
            p.feature("k").categories,
            key=lambda v: -p.feature("k").counts[p.feature("k").categories.index(v)],
        )
    )


def test_json_round_trip_and_digest() -> None:
    p = build_profile(_reference())
    text = p.to_json()
    back = ReferenceProfile.from_json(text)
    assert back == p and back.digest == p.digest
    assert p.digest == digest({k: v for k, v in json.loads(text).items() if k != "digest"})
    assert p.digest.startswith("sha256:")
    # Same data in another row order: same profile.
    t = _reference()
    shuffled = t.take(pa.array(np.random.default_rng(1).permutation(t.num_rows)))
    assert build_profile(shuffled).digest == p.digest
    # Other data: another digest.
    assert build_profile(_reference(seed=2)).digest != p.digest


def test_tampered_profile_is_refused() -> None:
    d = json.loads(build_profile(_reference()).to_json())
    d["features"][0]["counts"][0] += 1
    with pytest.raises(DriftError, match="digest mismatch"):
        ReferenceProfile.from_dict(d)
    with pytest.raises(DriftError, match="not JSON"):
        ReferenceProfile.from_json("{")
    with pytest.raises(DriftError):
        ReferenceProfile.from_dict({"format": 1})


def test_high_cardinality_and_truncated_vocabulary() -> None:
    n = 100_000
    ids = pa.array([f"m{i}" for i in range(n)])
    p = build_profile({"merchant": ids}, high_cardinality=100, vocabulary_limit=1000)
    f = p.feature("merchant")
    assert f.high_cardinality and f.cardinality == n
    assert len(f.categories) == 50 and len(f.categories) + len(f.other) == 1000
    assert not f.vocabulary_complete
    # Outside the stored vocabulary: "other", since unseen cannot be told apart.
    assert bin_categorical(f, pa.array(["never-seen"])).tolist() == [50]


def test_integer_categories_survive_json() -> None:
    p = build_profile({"k": np.array([1, 2, 2, 3, 3, 3])}, categorical=["k"])
    back = ReferenceProfile.from_json(p.to_json())
    assert back.feature("k").categories == (3, 2, 1)
    assert bin_categorical(back.feature("k"), pa.array([3, 9])).tolist() == [0, 4]
