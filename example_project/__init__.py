"""perfaudit's example project: an events platform with the classic problems.

See docs/example.md. ``manage.py`` runs from this folder; the settings
module is ``example_project.settings``.
"""
