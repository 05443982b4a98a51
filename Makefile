# orderflow — build, test and package.
# `make` (or `make help`) lists the targets, from the `## target: description`
# comments below. `make test` is the README's test command and what CI runs
# (.ci/run, after `make deps`); `make check` is the quick loop while editing.

GO ?= go
DIST := dist
# staticcheck, pinned: a new release brings new checks, which should arrive
# in a commit of their own rather than fail an unrelated change.
STATICCHECK_VERSION := v0.8.2

.PHONY: help check test install deps test-deps fmt-check vet lint staticcheck cfn-lint hygiene bootstrap zip bench fuzz reliability clean

# help is the first target, so it is what `make` with no target runs: it
# prints each `## target: description` line of this file, in file order.
## help: this list (what make with no target prints)
help:
	@echo 'Usage: make TARGET, one of:'
	@awk '/^## [a-z0-9-]+: / { name = substr($$2, 1, length($$2) - 1); sub(/^## [a-z0-9-]+: /, ""); printf "  %-12s %s\n", name, $$0 }' Makefile

## check: the quick loop while editing: gofmt, go vet, and go test -short ./..., which skips the slow tests (each says why; make test runs them)
check: fmt-check vet
	$(GO) test -short ./...

## test: everything CI checks: formatting, vet, what git tracks, lint, the whole test suite with the slow tests, and the Lambda cross-compile; installs nothing (make deps does)
test: fmt-check vet hygiene lint
	$(GO) test ./...
	$(MAKE) --no-print-directory bootstrap

## install: go install ./cmd/orderflow, without cgo (a static binary: no dynamic loader or libc at each start); says where the binary went and whether that directory is on PATH
install:
	CGO_ENABLED=0 $(GO) install ./cmd/orderflow
	@bin=$$($(GO) env GOBIN); \
	if [ -z "$$bin" ]; then gopath=$$($(GO) env GOPATH); bin="$${gopath%%:*}/bin"; fi; \
	echo "Installed orderflow as $$bin/orderflow."; \
	case ":$$PATH:" in \
	*":$$bin:"*) ;; \
	*) echo "$$bin is not on your PATH: add it (export PATH=\"\$$PATH:$$bin\") to run orderflow by name.";; \
	esac

## deps: the clients the cross-client tests drive, installed if missing: the AWS CLI v2 (Debian's awscli, apt-get as root or with sudo), the AWS SDK for JavaScript v3 (npm ci), and chromium for the web console's browser tests (Debian's chromium, apt-get); needs the network
deps:
	@scripts/deps.sh

## test-deps: the old name of deps
test-deps: deps

## fmt-check: the files gofmt would change, if any (then it fails)
fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

## vet: go vet ./...
vet:
	$(GO) vet ./...

## lint: staticcheck over the module, cfn-lint over the deployed template
lint: staticcheck cfn-lint

## staticcheck: staticcheck at the version the Makefile pins (STATICCHECK_VERSION), over the module
# go run fetches and builds the pinned version through the module proxy
# the first time; later runs use the build cache.
staticcheck:
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

## cfn-lint: cfn-lint over deploy/template.yaml (skips without cfn-lint, except in CI)
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

## clean: deletes dist/
clean:
	rm -rf $(DIST)
