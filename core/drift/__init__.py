"""The drift engine: reference profiles, count-once drift over time windows, decisions.

Modules (import them directly; this package imports nothing heavy by itself). Windows are
:mod:`watchkeeper.core.telemetry.windows`'s, shared with evaluation.

- ``profile``      :class:`ReferenceProfile`: bins, vocabularies, counts, JSON, digest
- ``reference``    the reference resolved for an analysis, or prepared once for many
                   (:func:`prepare_reference` → :class:`PreparedReference`)
- ``counting``     one pass in numpy: features × windows × bins counts
- ``sql_counts``   the same counts from one SQLAlchemy Core statement run in the database,
                   and the per-window sample the exact statistics need
- ``statistics``   PSI, Jensen–Shannon, chi-square, binned KS, exact KS, Wasserstein
- ``exact``        exact KS and Wasserstein per window, on every value or a seeded sample
- ``kstwo``        the KS p-value (``scipy.stats.kstwo.sf``) without importing ``scipy.stats``
- ``decide``       ok / watch / drift / insufficient; Holm (or other) correction
- ``multivariate`` PCA reconstruction error with a threshold learned from the reference
- ``derive``       counts and exact statistics → statistics and decisions → a result
- ``result``       :class:`DriftResult` and its parts, and their JSON
- ``engine``       :func:`analyze_drift`: the current data in memory
- ``engine_sql``   :func:`analyze_drift_sql`: the current data in a SQL table
- ``sources``      reading ``SRC`` that may not be telemetry (a reference of features only)
"""
