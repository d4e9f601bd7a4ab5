# photobot: every command a developer or CI needs.
GO          ?= go
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
MINIO       ?= github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c
TERRAFORM   ?= github.com/hashicorp/terraform@v1.5.7
GOBIN       := $(shell $(GO) env GOPATH)/bin

.PHONY: help run serve test check tools package

# A bare `make` lists the targets rather than starting anything.
.DEFAULT_GOAL := help

## help: this list of targets (from their `## target: text` comments)
help:
	@awk '/^## [a-z-]+:/ { sub(/^## /, ""); i = index($$0, ":"); t = substr($$0, i + 2); gsub(/\$$\$$/, "$$", t); \
		printf "  %-15s %s\n", substr($$0, 1, i - 1), t }' $(MAKEFILE_LIST)

## run: the bot on this machine (long polling, ./data); needs TG_BOT_TOKEN, REPLICATE_API_TOKEN, REPLICATE_MODEL (or EFFECTS)
run:
	$(GO) run ./cmd/photobot run

## serve: both webhooks over HTTP on $$PORT
serve:
	$(GO) run ./cmd/photobot serve

## test: the test tools (once), then every test of both modules with the race detector, against a real MinIO
# Four test binaries at once, and four parallel tests in each, even on two
# cores (the defaults would be two): most tests wait (on MinIO, the fakes,
# redeliveries, a crashed claim going stale) more than they compute.
test: tools
	@$(GO) test -race -count=1 -p 4 -parallel 4 ./... & root=$$!; \
	(cd deploy && $(GO) test -race -count=1 -parallel 4 ./...); deploy=$$?; \
	wait $$root; root=$$?; \
	if [ $$root -ne 0 ] || [ $$deploy -ne 0 ]; then echo "make test: FAILED"; exit 1; fi

## check: formatting, vet and staticcheck (both modules)
check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	cd deploy && $(GO) vet ./...
	cd deploy && $(GO) run $(STATICCHECK) ./...

## tools: install what the tests need and the machine lacks: MinIO (a real S3 server, ~3 min the first time) and Terraform (for fmt checks)
tools:
	@if PATH="$(GOBIN):$$PATH" command -v minio >/dev/null; then echo "tools: minio found"; else \
		echo "tools: installing MinIO ($(MINIO)), about 3 minutes the first time; the packages compile below"; \
		$(GO) install -v $(MINIO) 2>&1 | awk '{ n++; if (n % 25 == 0) printf "  %d packages... %s\n", n, $$0 } END { printf "  %d packages built\n", n }'; \
		PATH="$(GOBIN):$$PATH" command -v minio >/dev/null || { echo "tools: MinIO did not install"; exit 1; }; fi
	@if PATH="$(GOBIN):$$PATH" command -v terraform >/dev/null; then echo "tools: terraform found"; else \
		echo "tools: installing Terraform ($(TERRAFORM)), about a minute"; $(GO) install $(TERRAFORM); fi

## package: dist/fn-handler.zip and dist/fn-callback.zip for Yandex Cloud Functions
package:
	$(GO) run ./cmd/ycpack -o dist

.PHONY: bench load

## bench: measure serve against the performance targets (cold start, round trips, CPU, memory, throughput) and print a table; Linux, ~2 min
bench:
	$(GO) run ./bench

## load: 1000 photos from 100 chats, 32 at a time, through serve; every photo must get exactly one result
load:
	$(GO) run ./bench -load -photos 1000 -chats 100 -concurrency 32

.PHONY: deploy destroy deploy-dry-run doctor

## deploy: everything on Yandex Cloud (README.md, "Deploy to Yandex Cloud"); needs yc, terraform, go, TG_BOT_TOKEN, REPLICATE_API_TOKEN
deploy:
	./deploy/deploy.sh deploy

## destroy: delete the Telegram webhook, then everything deploy made
destroy:
	./deploy/deploy.sh destroy

## deploy-dry-run: print every command of a deploy, secrets masked; needs no tool or credentials
deploy-dry-run:
	DRY_RUN=1 ./deploy/deploy.sh deploy

## doctor: photobot doctor with the deployed environment (Terraform outputs, Lockbox); changes nothing
doctor:
	./deploy/deploy.sh doctor

.PHONY: fuzz

FUZZTIME ?= 20s

## fuzz: every fuzz target for FUZZTIME (default 20s) each (their seed corpora, in testdata/fuzz, run with make test)
fuzz:
	$(GO) test -run='^$$' -fuzz='^FuzzTelegramWebhook$$' -fuzztime=$(FUZZTIME) ./httpapi
	$(GO) test -run='^$$' -fuzz='^FuzzReplicateWebhook$$' -fuzztime=$(FUZZTIME) ./httpapi
	$(GO) test -run='^$$' -fuzz='^FuzzVerify$$' -fuzztime=$(FUZZTIME) ./replicate
	$(GO) test -run='^$$' -fuzz='^FuzzValidID$$' -fuzztime=$(FUZZTIME) ./replicate
	$(GO) test -run='^$$' -fuzz='^FuzzLoad$$' -fuzztime=$(FUZZTIME) ./config
