"""The test cluster is real: it answers SQL and reports who is connected."""

import sqlalchemy as sa


def test_postgres_cluster_answers(postgres_url: str) -> None:
    engine = sa.create_engine(postgres_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("select current_user")).scalar() == "postgres"
        assert conn.execute(sa.text("show server_version_num")).scalar() >= "150000"
    engine.dispose()
