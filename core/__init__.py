"""Watchkeeper's core: everything that computes, reads or writes data. Never imports Qt."""
