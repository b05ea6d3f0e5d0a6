"""The engine behind ``manage.py perfaudit audit`` and its output formats."""
