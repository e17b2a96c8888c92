"""The workbench's dialogs: sign-in/connection and the governance decisions.

A dialog collects what the user decides and hands the writing to the window's one
:class:`~watchkeeper.app.workers.TaskRunner`; it closes only when the write succeeded, and
shows a refusal in place (a banner inside the dialog), so nothing typed is lost.
"""
