# Source at the start of every device command: installs the carried wheels (folder $WHEELS, default .whl)
# into /tmp/site and puts them and this checkout's src/ first on the Python path.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "${WHEELS:-.whl}"/*.whl \
  || { echo "wheel install failed"; exit 1; }
export PYTHONPATH=/tmp/site:$PWD/src
export PATH=/tmp/site/bin:$PATH
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
mkdir -p /tmp/site/bin
printf '#!/bin/sh\nexec python3 -m joulebench "$@"\n' > /tmp/site/bin/joulebench && chmod +x /tmp/site/bin/joulebench
