#!/usr/bin/env bash
# Runs every fuzz target of the project for FUZZTIME each (default 10s):
# the decoders of outside input — order JSON, the SQS message body (SNS
# envelope or raw), the edge (every service's wire decoding), the SQS Query
# form and JSON bodies, the SNS Query form, SNS filter policies, and
# CloudFormation templates. CI runs it briefly; run it longer on demand:
#   FUZZTIME=10m scripts/fuzz.sh
set -euo pipefail
cd "$(dirname "$0")/.."
time=${FUZZTIME:-10s}
targets=(
	"FuzzDecode ."
	"FuzzDecodeBody ./handler"
	"FuzzEdge ./cloud"
	"FuzzQueryForm ./cloud/sqs"
	"FuzzJSONRequest ./cloud/sqs"
	"FuzzQuery ./cloud/sns"
	"FuzzPolicy ./cloud/sns/filterpolicy"
	"FuzzParse ./internal/cfntemplate"
	"FuzzRequests ./cloud/dynamodb/engine"
)
for t in "${targets[@]}"; do
	set -- $t
	echo "fuzz: $1 ($2) for $time"
	# A short minimisation keeps a bounded run bounded. A passing run shows
	# its last lines; a failing one all of them (the failing input, or why
	# a worker stopped).
	if out=$(go test -run='^$' -fuzz="^$1\$" -fuzztime="$time" -fuzzminimizetime=5s "$2" 2>&1); then
		printf '%s\n' "$out" | tail -3
	else
		printf '%s\n' "$out"
		exit 1
	fi
done
