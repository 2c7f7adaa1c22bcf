"""``watchdog demo``: fake services on loopback and the real agent, then every document made from the run.

An application like the command line: it may import every stage.
"""
