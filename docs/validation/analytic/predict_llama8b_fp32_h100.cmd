joulebench predict llm llama-3.1-8b --gpu h100-sxm --dtype fp32 --prompt-tokens 1200 --output-tokens 256 --batch 1 --explain --json > predict_llama8b_fp32_h100.json
