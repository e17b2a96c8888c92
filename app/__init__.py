"""The application: entry points, main window, panels, dialogs and workers.

Importing this package must stay cheap: the CLI is timed cold, so Qt, mlflow, scipy and
SQLAlchemy are imported only inside the commands that need them.
"""
