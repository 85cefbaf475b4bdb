joulebench fit --model llama-3.1-8b --dtype bfloat16 --db h100-transformers-eager-bfloat16.db --db h100-transformers-eager-bfloat16-repeat.db --json
