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

## tools: install the MinIO test server (the tests also do it when missing)
tools:
	$(GO) install $(MINIO)

## package: dist/fn-handler.zip and dist/fn-callback.zip for Yandex Cloud Functions
package:
	$(GO) run ./cmd/ycpack -o dist
