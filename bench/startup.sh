#!/bin/bash
# Usage: bench/startup.sh target/release/officecomms
# start-up time: from exec to first successful /healthz, on an empty data dir and on an existing one
BIN=$1
for kind in fresh existing; do
  for i in 1 2 3 4 5; do
    [ "$kind" = fresh ] && rm -rf /tmp/oc-measure
    start=$(date +%s%N)
    $BIN serve --data-dir /tmp/oc-measure --bind 127.0.0.1:18099 >/dev/null 2>&1 &
    pid=$!
    until curl -sf http://127.0.0.1:18099/healthz >/dev/null; do sleep 0.005; done
    end=$(date +%s%N)
    echo "$kind run $i: $(( (end-start)/1000000 )) ms"
    if [ $i = 5 ]; then sleep 2; echo "idle RSS: $(grep VmRSS /proc/$pid/status)"; fi
    kill $pid; wait $pid 2>/dev/null
  done
done
