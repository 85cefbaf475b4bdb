"""What runs under the meters: LLM phases, diffusion steps, serving engines. Workloads return
results; they never write to the store (the experiments Runner does)."""
