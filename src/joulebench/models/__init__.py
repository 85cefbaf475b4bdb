"""Model references and family tables shared by the predictor and the workloads."""
