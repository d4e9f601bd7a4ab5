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
	none := func(string) string { return "" }
	if err := Main(context.Background(), []string{"frobnicate"}, none, &out, &errOut); exitCode(err) != 2 || !strings.Contains(errOut.String(), "photobot serve") {
		t.Errorf("unknown command: %v, %q", err, errOut.String())
	}
	if err := Main(context.Background(), []string{"help"}, none, &out, &errOut); err != nil {
		t.Errorf("help: %v", err)
	}
	// Someone holding only the binary learns every command in a line.
	for _, cmd := range []string{"run", "serve", "setup", "doctor"} {
		if !strings.Contains(out.String(), "photobot "+cmd+" ") {
			t.Errorf("usage does not list %s:\n%s", cmd, &out)
		}
	}
	if !strings.Contains(out.String(), "billed to your Replicate account") {
		t.Errorf("usage does not say who pays:\n%s", &out)
	}
}

// "photobot <command> -h" prints the command's usage and the variables
// it reads, and starts nothing, even with a complete environment.
func TestCommandHelp(t *testing.T) {
	full := map[string]string{"TG_BOT_TOKEN": "1:a", "REPLICATE_API_TOKEN": "r8", "REPLICATE_MODEL": "o/m",
		"TELEGRAM_API_URL": "http://127.0.0.1:1", "REPLICATE_API_URL": "http://127.0.0.1:1"}
	for cmd, want := range map[string][]string{
		"run":    {"Usage: photobot run", "-drop-webhook", "* TG_BOT_TOKEN", "DATA_DIR", "ALLOWED_USERS"},
		"serve":  {"Usage: photobot serve", "* PUBLIC_URL", "PORT", "* S3_BUCKET"},
		"setup":  {"Usage: photobot setup", "* TG_WEBHOOK_SECRET"},
		"doctor": {"Usage: photobot doctor", "-mode", "preflight"},
	} {
		var out, errOut bytes.Buffer
		err := Main(context.Background(), []string{cmd, "-h"}, func(k string) string { return full[k] }, &out, &errOut)
		if exitCode(err) != 0 {
			t.Errorf("%s -h: %v", cmd, err)
		}
		for _, w := range want {
			if !strings.Contains(errOut.String(), w) {
				t.Errorf("%s -h lacks %q:\n%s", cmd, w, &errOut)
			}
		}
		if cmd == "run" && strings.Contains(errOut.String(), "PUBLIC_URL") {
			t.Errorf("run -h lists PUBLIC_URL, which run does not read")
		}
		if strings.Contains(errOut.String(), "running as") || strings.Contains(errOut.String(), "FAIL") {
			t.Errorf("%s -h started the command:\n%s", cmd, &errOut)
		}
	}
	for _, args := range [][]string{{"run", "--verbose"}, {"serve", "-drop-webhook"}, {"setup", "extra"}, {"doctor", "-mode", "cloud"}} {
		var errOut bytes.Buffer
		err := Main(context.Background(), args, func(k string) string { return full[k] }, &bytes.Buffer{}, &errOut)
		if exitCode(err) != 2 {
			t.Errorf("%v: %v, want a usage error (exit 2)", args, err)
		}
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
