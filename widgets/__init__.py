"""Reusable Qt / pyqtgraph pieces that each show one ``core`` result well."""
