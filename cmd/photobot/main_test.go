package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestMisconfigurationIsOneClearError(t *testing.T) {
	var out, errOut bytes.Buffer
	err := Main(context.Background(), []string{"serve"}, func(k string) string {
		return map[string]string{"PORT": "eighty", "TG_BOT_TOKEN": "123:abc"}[k]
	}, &out, &errOut)
	if err == nil {
		t.Fatal("serve started without configuration")
	}
	for _, name := range []string{"REPLICATE_API_TOKEN", "S3_BUCKET", "PUBLIC_URL", "TG_WEBHOOK_SECRET", "PORT"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
}

func TestUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := Main(context.Background(), []string{"frobnicate"}, func(string) string { return "" }, &out, &errOut); err == nil || !strings.Contains(errOut.String(), "photobot serve") {
		t.Errorf("unknown command: %v, %q", err, errOut.String())
	}
	if err := Main(context.Background(), []string{"help"}, func(string) string { return "" }, &out, &errOut); err != nil || !strings.Contains(out.String(), "photobot run") {
		t.Errorf("help: %v, %q", err, out.String())
	}
}

func TestServeShutsDownGracefully(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	vars := map[string]string{
		"TG_BOT_TOKEN": "1:a", "REPLICATE_API_TOKEN": "r8", "REPLICATE_MODEL": "o/m",
		"S3_BUCKET": "bkt", "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", "S3_ENDPOINT_URL": "http://127.0.0.1:1",
		"PUBLIC_URL": "https://example.com", "TG_WEBHOOK_SECRET": "x", "PORT": strconv.Itoa(port),
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var logs bytes.Buffer
	go func() {
		done <- Main(ctx, []string{"serve"}, func(k string) string { return vars[k] }, &bytes.Buffer{}, &logs)
	}()
	url := "http://127.0.0.1:" + strconv.Itoa(port) + "/healthz"
	var resp *http.Response
	var err error
	for i := 0; i < 100; i++ {
		if resp, err = http.Get(url); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()
	cancel() // what SIGTERM does
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve ended with %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("serve did not stop")
	}
}
