"""Stage 2, the journal: the tamper-evident SQLite store of results and events, its verifier, the contact log.

May import only the shared ground (model, errors); everything else reads and writes through it.
"""
