"""The drift engine: reference profiles, count-once drift over time windows, decisions.

Modules (import them directly; this package imports nothing heavy by itself):

- ``windows``      window specs (``1d``, ``6h``, ``7d``, ``5000rows``, none) → UTC windows
- ``profile``      :class:`ReferenceProfile`: bins, vocabularies, counts, JSON, digest
- ``counting``     one pass in numpy: features × windows × bins counts
- ``sql_counts``   the same counts from one SQLAlchemy Core statement run in the database
- ``statistics``   PSI, Jensen–Shannon, chi-square, binned KS, exact KS, Wasserstein
- ``kstwo``        the KS p-value (``scipy.stats.kstwo.sf``) without importing ``scipy.stats``
- ``decide``       ok / watch / drift / insufficient; Holm (or other) correction
- ``multivariate`` PCA reconstruction error with a threshold learned from the reference
- ``reference``    :class:`PreparedReference`: a reference made ready once for many analyses
- ``analysis``     :func:`analyze_drift`, :func:`analyze_drift_sql` → :class:`DriftResult`;
                   :func:`prepare_reference`
- ``sources``      reading ``SRC`` that may not be telemetry (a reference of features only)
"""
