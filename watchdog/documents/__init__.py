"""Stage 4, documents: SLA reports, evidence packs and their verifier, complaint letters, compensation rules.

Templates, word files and rule files live beside the code; may import analysis, the journal and the shared
ground, never the agent or an output.
"""
