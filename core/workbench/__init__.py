"""The workbench's analyses of a model from its monitor spec — no Qt.

What the window's views and the command line share: from *where the evidence comes from*
(:mod:`.evidence`: a live workspace folder, or an opened offline bundle) to frozen results
the views draw.

* :mod:`.common` — the read lock and the entry's spec;
* :mod:`.portfolio` — :class:`Portfolio`, :class:`ModelEntry`, :func:`load_portfolio`;
* :mod:`.analyses` — drift and performance of one model version (and the window they use);
* :mod:`.health` — the one health definition: the lights and ``watchkeeper check``;
* :mod:`.slices` — slices, worst slices and the slice workbook;
* :mod:`.challenger` — the promotion gate and champion vs challenger;
* :mod:`.evidence` — :class:`WorkspaceEvidence` and :class:`BundleEvidence`;
* :mod:`.records` — a bundle's governance records as the store's record types.

Every long function takes ``progress(fraction, message)`` and ``cancelled()`` (the window's
TaskRunner passes them) and checks them between stages, raising
:class:`~watchkeeper.core.progress.Cancelled`; nothing here imports Qt.
"""
