# orderflow — build, test and package.
# `make test` is the README's test command and what CI runs (.ci/run).

GO ?= go
DIST := dist
# staticcheck, pinned: a new release brings new checks, which should arrive
# in a commit of their own rather than fail an unrelated change.
STATICCHECK_VERSION := v0.8.2

.PHONY: test test-deps fmt-check vet lint staticcheck cfn-lint hygiene bootstrap zip bench fuzz reliability clean

## test-deps: the clients we did not write, for the cross-client tests (AWS CLI v2, AWS SDK for JavaScript v3)
test-deps:
	@scripts/test-deps.sh

## test: everything CI checks — formatting, vet, what git tracks, lint, the test clients, the whole test suite, and the Lambda cross-compile
test: fmt-check vet hygiene lint test-deps
	$(GO) test ./...
	$(MAKE) --no-print-directory bootstrap

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

## lint: staticcheck over the module, cfn-lint over the deployed template
lint: staticcheck cfn-lint

# go run fetches and builds the pinned version through the module proxy
# the first time; later runs use the build cache.
staticcheck:
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

# cfn-lint is a Python tool (pip install cfn-lint). Without it a developer's
# machine skips the check with a message; CI (CI set) fails.
cfn-lint:
	@if cfn-lint --version >/dev/null 2>&1; then \
		echo "cfn-lint $$(cfn-lint --version | sed 's/^cfn-lint //') deploy/template.yaml"; \
		cfn-lint deploy/template.yaml; \
	elif [ -n "$${CI:-}" ]; then \
		echo "cfn-lint: not installed, and CI needs it (pip install cfn-lint)" >&2; exit 1; \
	else \
		echo "cfn-lint: not installed; skipping the template check (pip install cfn-lint; CI runs it)" >&2; \
	fi

## hygiene: no file over 1 MiB and no compiled binary tracked by git, but those .ci/hygiene-allow names with a reason
# Outside a git checkout (a source archive) there is nothing tracked to check.
hygiene:
	@if git rev-parse --git-dir >/dev/null 2>&1 || [ -n "$${CI:-}" ]; then \
		echo "$(GO) run ./tools/hygiene"; $(GO) run ./tools/hygiene; \
	else \
		echo "hygiene: not a git checkout; skipping the check of tracked files" >&2; \
	fi

## bootstrap: ProcessOrderFunction's binary for provided.al2023 on arm64
bootstrap:
	mkdir -p $(DIST)
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w' \
		-o $(DIST)/bootstrap ./cmd/bootstrap

## zip: the deployment package, dist/ProcessOrderFunction.zip
zip: bootstrap
	$(GO) run ./tools/lambdazip -o $(DIST)/ProcessOrderFunction.zip $(DIST)/bootstrap

## bench: the function's per-record CPU cost, and the embedded cloud's SQS and SNS→SQS throughput and latency
bench:
	$(GO) test -run='^$$' -bench=. -count=5 ./dynamodb/ ./handler/
	$(GO) test -run='^$$' -bench=. -benchtime=1s -count=5 ./cloud/sqs/
	$(GO) test -run='^$$' -bench=SNSToSQS -benchtime=2000x -count=5 ./cloud/

## fuzz: every fuzz target for FUZZTIME each (default 10s; CI runs it)
fuzz:
	@scripts/fuzz.sh

## reliability: the reliability suite at its larger size (100,000 orders, 5 seeds per fault, …), the model-based crash tests of SQS, SNS and DynamoDB for CRASHTIME each (default 10m), and the edge's limits at the issue's sizes (500 slow 16 MiB uploads, a million bogus operation names)
CRASHTIME ?= 10m
reliability:
	$(GO) test -run . -v -timeout 2h ./reliability/ -args \
		-reliability.orders=100000 -reliability.fault-orders=5000 -reliability.seeds=5 \
		-reliability.version-orders=5000 -reliability.kills=50
	$(GO) test -run 'RandomOperationsAgreeWithAModel|TheTablesMatchAModel' -v -timeout 2h ./cloud/sqs/ ./cloud/sns/ ./cloud/dynamodb/ -args -crash.duration=$(CRASHTIME)
	$(GO) test -run 'TestUpStaysUnderItsMemoryCeiling|TestUpMemoryStaysFlat|TestTheJournalRotatesWhileIdle' -v -timeout 1h ./cmd/orderflow/ -args \
		-limits.uploads=500 -limits.upload-for=30s -limits.names=1000000 -limits.name-bytes=1024

clean:
	rm -rf $(DIST)
