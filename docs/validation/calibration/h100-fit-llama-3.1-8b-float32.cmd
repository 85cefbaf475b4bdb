joulebench fit --model llama-3.1-8b --dtype float32 --db h100-transformers-eager-float32.db --db h100-transformers-eager-float32-repeat.db --json
