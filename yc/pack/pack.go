// Package pack builds the zip archives Yandex Cloud Functions compile:
// the module's sources that the function needs, an index.go entry file at
// the root, go.mod without its go and toolchain lines, and go.sum.
//
// Yandex compiles the archive as a plugin; with a go line in go.mod every
// call crashes ("no plugin module data"), and without one the module's own
// files compile at -lang=go1.16. So each source file gets a
// `//go:build go1.23` constraint, which raises that file's language version
// back to the one it was written for.
package pack

import (
	"archive/zip"
	"bytes"
	"fmt"
	"go/build/constraint"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Function is one Cloud Function: its name and the yc function its
// Handler calls.
type Function struct {
	Name  string // fn-handler
	Entry string // Telegram
	Doc   string
}

// Functions are photobot's two functions.
var Functions = []Function{
	{Name: "fn-handler", Entry: "Telegram", Doc: "Telegram's webhook"},
	{Name: "fn-callback", Entry: "Replicate", Doc: "Replicate's webhook"},
}

// LanguageVersion is the Go version the sources are written for.
const LanguageVersion = "go1.23"

// Toolchain is the Go of Yandex's golang123 runtime: the archive is
// checked with it.
const Toolchain = "go1.23.9"

// epoch dates every file in the archive, so that the same sources give the
// same bytes.
var epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// Files returns the archive's files by path for fn, read from the module
// at dir.
func Files(dir string, fn Function) (map[string][]byte, error) {
	files := map[string][]byte{}
	cmd := exec.Command("go", "list", "-deps", "-tags", "ycf",
		"-f", "{{if .Module}}{{if .Module.Main}}{{.Dir}}|{{join .GoFiles \",\"}}{{end}}{{end}}", "./yc")
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("listing the function's packages: %w", err)
	}
	root, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkgDir, names, _ := strings.Cut(line, "|")
		rel, err := filepath.Rel(root, pkgDir)
		if err != nil || rel == "." {
			return nil, fmt.Errorf("package at %s: the module root must hold no package (index.go goes there)", pkgDir)
		}
		for _, name := range strings.Split(names, ",") {
			src, err := os.ReadFile(filepath.Join(pkgDir, name))
			if err != nil {
				return nil, err
			}
			src, err = withVersion(src)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", filepath.Join(rel, name), err)
			}
			files[filepath.ToSlash(filepath.Join(rel, name))] = src
		}
	}
	mod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return nil, err
	}
	files["go.mod"] = StripGoMod(mod)
	if files["go.sum"], err = os.ReadFile(filepath.Join(dir, "go.sum")); err != nil {
		return nil, err
	}
	files["index.go"] = []byte(fmt.Sprintf(indexGo, fn.Name, fn.Doc, fn.Entry))
	if files["go.mod"], files["go.sum"], err = tidy(files); err != nil {
		return nil, err
	}
	return files, nil
}

// tidy returns go.mod and go.sum cut down to what the function needs (the
// repository's tests need more), with every checksum the builder needs:
// without a go line go.mod is read with Go 1.16 rules, so the module graph
// is not pruned and the go command wants checksums the repository's pruned
// graph never reads. It uses the runtime's Go, and ends with the build's
// own module resolution, as the builder runs it ("installs dependencies":
// module mode mod, pinned by go.sum).
func tidy(files map[string][]byte) (mod, sum []byte, err error) {
	tmp, err := os.MkdirTemp("", "ycpack-")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(tmp)
	for name, data := range files {
		p := filepath.Join(tmp, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, nil, err
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return nil, nil, err
		}
	}
	run := func(args ...string) error {
		cmd := exec.Command("go", args...)
		cmd.Dir = tmp
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOTOOLCHAIN="+Toolchain)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	if err := run("mod", "tidy"); err != nil {
		return nil, nil, err
	}
	if mod, err = os.ReadFile(filepath.Join(tmp, "go.mod")); err != nil {
		return nil, nil, err
	}
	mod = StripGoMod(mod)
	if err := os.WriteFile(filepath.Join(tmp, "go.mod"), mod, 0o644); err != nil {
		return nil, nil, err
	}
	if err := run("build", "-n", "-buildmode=plugin", "-tags", "ycf", "."); err != nil {
		return nil, nil, fmt.Errorf("the archive does not build: %w", err)
	}
	sum, err = os.ReadFile(filepath.Join(tmp, "go.sum"))
	return mod, sum, err
}

const indexGo = `// Entry point of %[1]s (%[2]s), written by make package.
// Yandex Cloud Functions calls index.Handler with each API Gateway event.
package main

import (
	"context"

	"github.com/photobot/photobot/yc"
)

// Handler serves %[2]s.
func Handler(ctx context.Context, req *yc.Request) (*yc.Response, error) {
	return yc.%[3]s(ctx, req)
}
`

// StripGoMod drops the go and toolchain lines, which make every call of a
// Yandex Go function crash.
func StripGoMod(mod []byte) []byte {
	var out []string
	for _, line := range strings.Split(string(mod), "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "go ") || strings.HasPrefix(t, "toolchain ") {
			continue
		}
		out = append(out, line)
	}
	return []byte(strings.Join(out, "\n"))
}

// withVersion adds LanguageVersion to the file's build constraint.
func withVersion(src []byte) ([]byte, error) {
	lines := strings.SplitAfter(string(src), "\n")
	for i, l := range lines {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "package ") {
			break
		}
		if constraint.IsGoBuild(t) {
			expr, err := constraint.Parse(t)
			if err != nil {
				return nil, err
			}
			lines[i] = "//go:build " + LanguageVersion + " && (" + expr.String() + ")\n"
			return []byte(strings.Join(lines, "")), nil
		}
	}
	return append([]byte("//go:build "+LanguageVersion+"\n\n"), src...), nil
}

// Zip packs files reproducibly: sorted, with fixed times and modes.
func Zip(files map[string][]byte) ([]byte, error) {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, n := range names {
		h := &zip.FileHeader{Name: n, Method: zip.Deflate, Modified: epoch}
		h.SetMode(0o644)
		w, err := zw.CreateHeader(h)
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(files[n]); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
