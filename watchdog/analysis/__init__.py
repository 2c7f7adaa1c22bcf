"""Stage 3, analysis: outages from the journal, attribution against the controls, SLA figures, calendars.

Pure functions of journal data; may import the journal and the shared ground, never the agent or documents.
"""
