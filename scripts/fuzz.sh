#!/usr/bin/env bash
# Runs every fuzz target of the project for FUZZTIME each (default 10s):
# the decoders of outside input — order JSON, the SQS message body (SNS
# envelope or raw), the edge (every service's wire decoding), the SQS Query
# form and JSON bodies, the SNS Query form, SNS filter policies,
# CloudFormation templates, the DynamoDB engine's requests, its PutItem
# fast path and the conditions it evaluates on part of an item, and what
# the handler's raw-body shortcut stands on. CI runs it briefly; run it
# longer on demand:
#   FUZZTIME=10m scripts/fuzz.sh
set -euo pipefail
cd "$(dirname "$0")/.."
time=${FUZZTIME:-10s}
targets=(
	"FuzzDecode ."
	"FuzzDecodeBody ./handler"
	"FuzzRawBodiesHoldNoType ./handler"
	"FuzzEdge ./cloud"
	"FuzzQueryForm ./cloud/sqs"
	"FuzzJSONRequest ./cloud/sqs"
	"FuzzQuery ./cloud/sns"
	"FuzzPolicy ./cloud/sns/filterpolicy"
	"FuzzParse ./internal/cfntemplate"
	"FuzzRequests ./cloud/dynamodb/engine"
	"FuzzPutItemDecoder ./cloud/dynamodb/engine"
	"FuzzConditionOnNamedAttributes ./cloud/dynamodb/engine"
)
for t in "${targets[@]}"; do
	set -- $t
	echo "fuzz: $1 ($2) for $time"
	# A short minimisation keeps a bounded run bounded. A passing run shows
	# its last lines; a failing one all of them (the failing input, or why
	# a worker stopped).
	for attempt in 1 2; do
		if out=$(go test -run='^$' -fuzz="^$1\$" -fuzztime="$time" -fuzzminimizetime=5s "$2" 2>&1); then
			printf '%s\n' "$out" | tail -3
			break
		fi
		# Go's fuzzing coordinator sometimes ends a run that found
		# nothing with "context deadline exceeded" as the fuzz time runs
		# out (no failing input is written then): run such a target once
		# more. A failing input, or the same end twice, fails.
		if [ "$attempt" = 1 ] && printf '%s\n' "$out" | grep -q 'context deadline exceeded' &&
			! printf '%s\n' "$out" | grep -q 'Failing input written'; then
			printf '%s\n' "$out" | tail -4
			echo "fuzz: $1 ended with the fuzzing engine's deadline error and no failing input; running it once more"
			continue
		fi
		printf '%s\n' "$out"
		exit 1
	done
done
