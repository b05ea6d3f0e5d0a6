"""The web side: the middleware, its per-view store, the JSONL sink.

Nothing here analyses a recording: every module formats the
:class:`~perfaudit.detect.analysis.Analysis` of one request.
"""
