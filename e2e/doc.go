// Package e2e proves the real parts together: photobot's webhooks served
// over HTTP as `photobot serve` serves them, against a real MinIO and the
// fakes of Telegram and Replicate (internal/testenv), and the fault matrix
// (every external call failing every way, through fault proxies). The
// core's own unit tests, in package pipeline, run against in-memory ports.
package e2e
