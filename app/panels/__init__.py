"""The workbench's panels: each wires a core analysis to widgets through a Qt-free state.

- ``state``       plain state objects (no Qt): what a panel shows and what the user chose
- ``analyses``    the work a panel hands to the TaskRunner (no Qt): spec → core → result
- ``portfolio``   the left dock: models, versions, alias badges, health lights
- ``drift``       the drift heat map and the distribution of the selected cell
- ``performance`` the metric timeline with estimated values and label coverage
- ``overview``    health, alerts and label coverage of every model; the planted events
"""
