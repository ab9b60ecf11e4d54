"""The review queue's HTTP face: ``api`` (/v1/review/*, reviewer tokens), ``pages`` (/review, server-rendered,
``templates/`` and ``static/`` beside it) and ``session`` (the reviewers' signed cookie and CSRF checks).
"""
