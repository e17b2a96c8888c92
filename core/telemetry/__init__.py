"""Telemetry: the prediction-event contract and the readers that honour it.

``contract`` says what a prediction event is and how a user's own columns map onto it;
``files`` reads Parquet and CSV with pyarrow, ``sql`` reads any SQLAlchemy database;
``open_source`` picks the reader from a location string (CONTRACT.md's ``SRC``).
"""
