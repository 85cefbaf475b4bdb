joulebench predict video wan2.1-t2v-1.3b --height 720 --width 1280 --frames 81 --steps 50 --cfg --gpu h100-sxm --dtype bf16 --json > predict_wan13b_720x1280_81f_50steps.json
