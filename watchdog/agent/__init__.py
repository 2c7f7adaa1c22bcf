"""Stage 1, the agent: schedule probes, journal every result first, detect outages, fan out to sinks.

May import the shared ground (config, model, probe, units, errors, timefmt), ``probes`` and the journal;
never the analysis, documents or any output (``watchdog.outputs`` wires the sinks in from above).
"""
