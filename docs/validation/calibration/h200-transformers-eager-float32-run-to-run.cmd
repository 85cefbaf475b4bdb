joulebench validate --calibration h200-transformers-eager-float32.yaml --db h200-transformers-eager-float32.db --db h200-transformers-eager-float32-session1.db --json
