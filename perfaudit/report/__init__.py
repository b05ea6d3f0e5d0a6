"""The engine behind ``manage.py perfaudit report``: the hotspot inventory
read from JSONL files, EXPLAIN of its shapes, and the output formats."""
