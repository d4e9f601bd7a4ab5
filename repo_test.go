package photobot_test

import (
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// secretPaths are files an operator may keep in the working tree that must
// never reach git or a container image: environment files, Terraform's
// variables and state (the state holds the webhook secret), its provider
// cache, packages and the local bot's data.
var secretPaths = []string{
	"photobot.env", "deploy/photobot.env", ".env", ".env.local", "config/.env.production",
	"deploy/terraform/terraform.tfvars", "deploy/terraform/public_url.auto.tfvars",
	"deploy/terraform/terraform.tfstate", "deploy/terraform/terraform.tfstate.backup",
	"deploy/terraform/.terraform/providers/registry.terraform.io/x",
	"dist/fn-handler.zip", "data/images/input/1.jpg",
}

func TestIgnoreFilesKeepSecretsOut(t *testing.T) {
	docker := readPatterns(t, ".dockerignore")
	git := readPatterns(t, ".gitignore")
	for _, p := range secretPaths {
		if !dockerExcludes(docker, p) {
			t.Errorf(".dockerignore lets %s into the image (COPY . .)", p)
		}
		if !gitIgnores(git, p) {
			t.Errorf(".gitignore lets %s be committed", p)
		}
	}
}

// The image must still get what it is built from.
func TestDockerignoreKeepsTheSources(t *testing.T) {
	docker := readPatterns(t, ".dockerignore")
	n := 0
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		name := filepath.ToSlash(p)
		if d.IsDir() || !(strings.HasSuffix(name, ".go") || path.Base(name) == "go.mod" || path.Base(name) == "go.sum") {
			return nil
		}
		n++
		if dockerExcludes(docker, name) {
			t.Errorf(".dockerignore keeps %s out of the image's build", name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 50 {
		t.Fatalf("found only %d Go files: not run from the repository's root?", n)
	}
}

func TestDockerfileBaseImagesPinned(t *testing.T) {
	data, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	from := regexp.MustCompile(`(?m)^FROM\s+(\S+)`).FindAllStringSubmatch(string(data), -1)
	if len(from) == 0 {
		t.Fatal("Dockerfile: no FROM line")
	}
	digest := regexp.MustCompile(`^[^:@]+(:[\w.-]+)?@sha256:[0-9a-f]{64}$`)
	for _, m := range from {
		if !digest.MatchString(m[1]) {
			t.Errorf("Dockerfile: FROM %s is not pinned by digest (image:tag@sha256:…)", m[1])
		}
	}
}

func TestWorkflowsLeastPrivilegeAndPinned(t *testing.T) {
	files, err := filepath.Glob(".github/workflows/*.yml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no workflow found: %v", err)
	}
	uses := regexp.MustCompile(`(?m)^\s*(?:-\s+)?uses:\s*(\S+)`)
	pinned := regexp.MustCompile(`^[\w.-]+/[\w./-]+@[0-9a-f]{40}$`)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`(?m)^permissions:\s*\n\s+contents:\s*read\s*$`).Match(data) {
			t.Errorf("%s: no top-level `permissions: contents: read`", f)
		}
		for _, m := range uses.FindAllStringSubmatch(string(data), -1) {
			if !pinned.MatchString(m[1]) {
				t.Errorf("%s: uses %s, not pinned to a full commit SHA", f, m[1])
			}
		}
	}
}

func readPatterns(t *testing.T, name string) []string {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	return out
}

// dockerExcludes applies .dockerignore rules as Docker documents them: a
// pattern is matched against the path from the context's root (after
// path.Clean, so "dir/" is "dir"), "**" matches any number of directories,
// a match on a directory excludes everything under it, and the last
// matching pattern wins ("!" re-includes).
func dockerExcludes(patterns []string, p string) bool {
	excluded := false
	for _, pat := range patterns {
		neg := strings.HasPrefix(pat, "!")
		pat = path.Clean(strings.TrimPrefix(strings.TrimPrefix(pat, "!"), "/"))
		if matchesOrUnder(pat, p) {
			excluded = !neg
		}
	}
	return excluded
}

// gitIgnores applies the part of gitignore's rules these files use: a
// pattern with no slash but a trailing one matches at any depth; one with
// a slash is relative to the root; last match wins.
func gitIgnores(patterns []string, p string) bool {
	ignored := false
	for _, pat := range patterns {
		neg := strings.HasPrefix(pat, "!")
		pat = strings.TrimSuffix(strings.TrimPrefix(pat, "!"), "/")
		if strings.Contains(pat, "/") {
			pat = strings.TrimPrefix(pat, "/")
		} else {
			pat = "**/" + pat
		}
		if matchesOrUnder(pat, p) {
			ignored = !neg
		}
	}
	return ignored
}

// matchesOrUnder tells whether pattern matches p or one of its parents.
func matchesOrUnder(pattern, p string) bool {
	segs := strings.Split(p, "/")
	for i := len(segs); i > 0; i-- {
		if globMatch(strings.Split(pattern, "/"), segs[:i]) {
			return true
		}
	}
	return false
}

func globMatch(pat, segs []string) bool {
	if len(pat) == 0 {
		return len(segs) == 0
	}
	if pat[0] == "**" {
		for i := 0; i <= len(segs); i++ {
			if globMatch(pat[1:], segs[i:]) {
				return true
			}
		}
		return false
	}
	if len(segs) == 0 {
		return false
	}
	ok, err := path.Match(pat[0], segs[0])
	return err == nil && ok && globMatch(pat[1:], segs[1:])
}
