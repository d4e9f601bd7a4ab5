# photobot: every command a developer or CI needs.
GO          ?= go
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
MINIO       ?= github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c

.PHONY: run serve test check tools package

## run: the bot on this machine (long polling, ./data); needs TG_BOT_TOKEN, REPLICATE_API_TOKEN, REPLICATE_MODEL
run:
	$(GO) run ./cmd/photobot run

## serve: both webhooks over HTTP on $$PORT
serve:
	$(GO) run ./cmd/photobot serve

## test: every test, with the race detector, against a real MinIO (installed on first use)
test:
	$(GO) test -race -count=1 ./...

## check: formatting, vet and staticcheck
check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

## tools: install the MinIO test server (the tests also do it when missing) and Terraform for fmt checks
tools:
	$(GO) install $(MINIO)
	command -v terraform >/dev/null || $(GO) install github.com/hashicorp/terraform@v1.5.7

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

.PHONY: deploy destroy deploy-dry-run

## deploy: everything on Yandex Cloud (README.md, "Deploy to Yandex Cloud"); needs yc, terraform, go, TG_BOT_TOKEN, REPLICATE_API_TOKEN
deploy:
	./deploy/deploy.sh deploy

## destroy: delete the Telegram webhook, then everything deploy made
destroy:
	./deploy/deploy.sh destroy

## deploy-dry-run: print every command of a deploy, secrets masked; needs no tool or credentials
deploy-dry-run:
	DRY_RUN=1 ./deploy/deploy.sh deploy

.PHONY: fuzz

FUZZTIME ?= 20s

## fuzz: every fuzz target for $(FUZZTIME) each (their seed corpora, in testdata/fuzz, run with make test)
fuzz:
	$(GO) test -run='^$$' -fuzz='^FuzzTelegramWebhook$$' -fuzztime=$(FUZZTIME) ./httpapi
	$(GO) test -run='^$$' -fuzz='^FuzzReplicateWebhook$$' -fuzztime=$(FUZZTIME) ./httpapi
	$(GO) test -run='^$$' -fuzz='^FuzzVerify$$' -fuzztime=$(FUZZTIME) ./replicate
	$(GO) test -run='^$$' -fuzz='^FuzzValidID$$' -fuzztime=$(FUZZTIME) ./replicate
	$(GO) test -run='^$$' -fuzz='^FuzzLoad$$' -fuzztime=$(FUZZTIME) ./config
