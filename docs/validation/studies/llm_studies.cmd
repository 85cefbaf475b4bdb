# card: one NVIDIA H200 (device kind nvidia-h200), 2026-12-03, 79.02 W and 40 C at the call's start;
# torch 2.11.0+cu130 and transformers 5.17 from the image; bitsandbytes 0.50.2 (CUDA 13 kernels) and
# torchao 0.18.0 carried: rm -rf .whl && python3 scripts/prepare_device_wheels.py --studies
# device call (carry .whl, timeout_s 600; wall 520.8 s):
source scripts/device_env.sh && python3 -m joulebench --version && python3 -m joulebench study precision --help >/dev/null && python3 scripts/measure_llm_studies.py --budget-s 540
# result: the thank-you part used 510.8 s and was interrupted at 4 of its 9 designed points (stored in
# llm_studies.db); the later parts got no time (the script then gave each 1 s; it now skips them)
