joulebench validate --calibration h200-transformers-eager-bfloat16.yaml --db h200-transformers-eager-bfloat16.db --db h200-transformers-eager-bfloat16-session1.db --json
