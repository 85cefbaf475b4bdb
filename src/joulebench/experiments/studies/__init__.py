"""Study presets: plan builders that reproduce the published study's sweeps (``commands/study`` runs them)."""
