#!/bin/sh
# A stand-in for your team's own script (stop-vm.sh, systemctl over ssh, your hypervisor's CLI):
# `vm.sh stop|start NAME`. Here it only records what it was asked in the run folder, so that
# the example runs anywhere; replace it with yours in a staging experiment.
set -eu
state="${HCHAOS_RUN_DIR:-.}/vm-state"
echo "$(date +%H:%M:%S) $1 $2 (${HCHAOS_ACTION:-by hand} of ${HCHAOS_FAULT:-no fault})" >> "$state"
echo "vm $2: $1 requested"
