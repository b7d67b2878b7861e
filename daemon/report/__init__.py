"""The weekly maintenance report: gather a week from the store, render it, deliver it.

gather.py reads one ISO week into frozen data, render.py turns it into one
self-contained HTML page (and an email-safe summary), deliver.py archives and
sends it and holds the scheduled job, http.py serves the archive.
"""
