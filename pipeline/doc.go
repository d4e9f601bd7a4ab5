// Package pipeline is the core of a Telegram bot that processes photos with
// a Replicate model. intake.go tells what happens when a photo arrives,
// delivery.go what happens when the model is done; everything else
// (HTTP webhooks, long polling, Yandex Cloud Functions, S3, a local
// directory) is a thin adapter around those two files.
package pipeline
