"""The web pages: the learner's archive, the auditor's verification page and the institution console.

Server-rendered (Jinja2), Chinese first with an English switch, readable without JavaScript, and
served entirely by the service itself (no CDN, no external fonts).
"""
