"""Prompt sources: conversation files, the study's "thank you" builder, synthetic length laws."""
