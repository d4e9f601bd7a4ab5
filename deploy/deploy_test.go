// Tests of the Yandex Cloud deployment (deploy/, a module of its own so
// that its test dependencies stay out of the functions' go.mod): the API
// Gateway spec, the Terraform configuration and deploy.sh. The yandex
// provider cannot be downloaded here, so `terraform validate` is out of
// reach; instead these tests parse the .tf files and check them against the
// providers' real schema (schema_test.go: types, arguments, blocks,
// references), plus what validate would not: that the functions get every
// variable photobot needs, secrets only from Lockbox, the bucket's lifecycle
// rules equal to the Go code's, IAM scoped to single resources, and the
// gateway's routes wired to the right functions. script_test.go runs
// deploy.sh, dry and against a fake cloud.
package deploy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/photobot/photobot/config"
	"github.com/photobot/photobot/httpapi"
	"github.com/photobot/photobot/pipeline"
)

// Names the functions must get from Lockbox, never as plain environment.
var secretNames = []string{
	"TG_BOT_TOKEN", "REPLICATE_API_TOKEN", "TG_WEBHOOK_SECRET",
	"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "REPLICATE_WEBHOOK_SECRET",
}

// --- the parsed configuration -----------------------------------------------

type tfConfig struct {
	src       map[string][]byte // file name -> contents
	files     map[string]*hclsyntax.Body
	resources map[string]*hclsyntax.Block // "type.name"
	order     []string                    // resource addresses in file order
	data      map[string]*hclsyntax.Block // data sources, "type.name"
	dataOrder []string
	variables map[string]*hclsyntax.Block
	locals    map[string]*hclsyntax.Attribute
	outputs   map[string]*hclsyntax.Block
	providers []*hclsyntax.Block
	terraform []*hclsyntax.Block
}

func loadTerraform(t *testing.T) *tfConfig {
	t.Helper()
	paths, err := filepath.Glob("terraform/*.tf")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no deploy/terraform/*.tf: %v", err)
	}
	files := map[string][]byte{}
	for _, path := range paths {
		if files[path], err = os.ReadFile(path); err != nil {
			t.Fatal(err)
		}
	}
	c, problems := parseTerraform(files)
	if c == nil {
		t.Fatalf("deploy/terraform does not parse:\n%s", strings.Join(problems, "\n"))
	}
	for _, p := range problems {
		t.Error(p)
	}
	return c
}

// parseTerraform parses the files (name -> source) of one module. It
// returns nil when one does not parse.
func parseTerraform(files map[string][]byte) (*tfConfig, []string) {
	c := &tfConfig{
		src: map[string][]byte{}, files: map[string]*hclsyntax.Body{},
		resources: map[string]*hclsyntax.Block{}, data: map[string]*hclsyntax.Block{},
		variables: map[string]*hclsyntax.Block{},
		locals:    map[string]*hclsyntax.Attribute{}, outputs: map[string]*hclsyntax.Block{},
	}
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	p := hclparse.NewParser()
	for _, path := range slices.Sorted(maps.Keys(files)) {
		f, diags := p.ParseHCL(files[path], path)
		if diags.HasErrors() {
			return nil, []string{fmt.Sprintf("%s does not parse: %s", path, diags.Error())}
		}
		body := f.Body.(*hclsyntax.Body)
		c.src[path] = f.Bytes
		c.files[path] = body
		for name := range body.Attributes {
			bad("%s: top-level attribute %q", path, name)
		}
		for _, b := range body.Blocks {
			switch b.Type {
			case "resource", "data":
				addr := b.Labels[0] + "." + b.Labels[1]
				m, order := c.resources, &c.order
				if b.Type == "data" {
					m, order = c.data, &c.dataOrder
				}
				if _, dup := m[addr]; dup {
					bad("%s: %s %s declared twice", path, b.Type, addr)
				}
				m[addr] = b
				*order = append(*order, addr)
			case "variable":
				c.variables[b.Labels[0]] = b
			case "output":
				c.outputs[b.Labels[0]] = b
			case "locals":
				for name, a := range b.Body.Attributes {
					if _, dup := c.locals[name]; dup {
						bad("%s: local %s declared twice", path, name)
					}
					c.locals[name] = a
				}
			case "provider":
				c.providers = append(c.providers, b)
			case "terraform":
				c.terraform = append(c.terraform, b)
			default:
				// modules, moved, import, check...: not used; the schema check would need to know them.
				bad("%s: unexpected top-level block %s %v", path, b.Type, b.Labels)
			}
		}
	}
	return c, problems
}

// text is the source of expr, as written.
func (c *tfConfig) text(expr hcl.Expression) string {
	if expr == nil {
		return "<missing>"
	}
	r := expr.Range()
	return string(c.src[r.Filename][r.Start.Byte:r.End.Byte])
}

// resourcesOf returns the resources of type typ, in file order.
func (c *tfConfig) resourcesOf(typ string) []*hclsyntax.Block {
	var out []*hclsyntax.Block
	for _, addr := range c.order {
		if b := c.resources[addr]; b.Labels[0] == typ {
			out = append(out, b)
		}
	}
	return out
}

func attr(b *hclsyntax.Block, name string) hclsyntax.Expression {
	if a, ok := b.Body.Attributes[name]; ok {
		return a.Expr
	}
	return nil
}

func blocks(b *hclsyntax.Block, typ string) []*hclsyntax.Block {
	var out []*hclsyntax.Block
	for _, nb := range b.Body.Blocks {
		if nb.Type == typ {
			out = append(out, nb)
		}
	}
	return out
}

// literal evaluates an expression without variables: a string, number or
// bool literal (or a template of literals).
func literal(expr hcl.Expression) (cty.Value, bool) {
	if expr == nil {
		return cty.NilVal, false
	}
	v, diags := expr.Value(nil)
	if diags.HasErrors() || !v.IsWhollyKnown() || v.IsNull() {
		return cty.NilVal, false
	}
	return v, true
}

func literalString(expr hcl.Expression) (string, bool) {
	v, ok := literal(expr)
	if !ok || v.Type() != cty.String {
		return "", false
	}
	return v.AsString(), true
}

func literalInt(expr hcl.Expression) (int64, bool) {
	v, ok := literal(expr)
	if !ok || v.Type() != cty.Number {
		return 0, false
	}
	n, acc := v.AsBigFloat().Int64()
	return n, acc == 0
}

// stringLiterals returns every string literal inside expr.
func stringLiterals(expr hcl.Expression) []string {
	var out []string
	if expr == nil {
		return nil
	}
	hclsyntax.VisitAll(expr.(hclsyntax.Node), func(n hclsyntax.Node) hcl.Diagnostics {
		if l, ok := n.(*hclsyntax.LiteralValueExpr); ok && l.Val.Type() == cty.String {
			out = append(out, l.Val.AsString())
		}
		return nil
	})
	return out
}

// resultStrings returns the string values expr may have: a literal, or the
// literal results of a conditional (cond ? null : "A" gives A).
func resultStrings(expr hcl.Expression) []string {
	if c, ok := expr.(*hclsyntax.ConditionalExpr); ok {
		return append(resultStrings(c.TrueResult), resultStrings(c.FalseResult)...)
	}
	if s, ok := literalString(expr); ok {
		return []string{s}
	}
	return nil
}

// tupleStrings returns the string elements of every tuple in expr
// (cond ? [] : ["A"] gives A).
func tupleStrings(expr hcl.Expression) []string {
	var out []string
	hclsyntax.VisitAll(expr.(hclsyntax.Node), func(n hclsyntax.Node) hcl.Diagnostics {
		if tup, ok := n.(*hclsyntax.TupleConsExpr); ok {
			for _, e := range tup.Exprs {
				if s, ok := literalString(e); ok {
					out = append(out, s)
				}
			}
		}
		return nil
	})
	return out
}

// ref is a reference a.b.c as names (indexes dropped).
type ref []string

func (r ref) String() string { return strings.Join(r, ".") }

func refOf(t hcl.Traversal) ref {
	r := ref{t.RootName()}
	for _, step := range t[1:] {
		if a, ok := step.(hcl.TraverseAttr); ok {
			r = append(r, a.Name)
		}
	}
	return r
}

// refs returns the references made inside expr, without the iteration
// variables of for expressions and dynamic blocks.
func refs(expr hcl.Expression) []ref {
	if expr == nil {
		return nil
	}
	var out []ref
	for _, tr := range expr.Variables() {
		out = append(out, refOf(tr))
	}
	return out
}

// refsDeep is refs, following local.* to the locals' expressions.
func (c *tfConfig) refsDeep(expr hcl.Expression) []ref {
	var out []ref
	seen := map[string]bool{}
	var walk func(hcl.Expression)
	walk = func(e hcl.Expression) {
		for _, r := range refs(e) {
			out = append(out, r)
			if r[0] == "local" && len(r) > 1 && !seen[r[1]] {
				seen[r[1]] = true
				if l, ok := c.locals[r[1]]; ok {
					walk(l.Expr)
				}
			}
		}
	}
	walk(expr)
	return out
}

// refTo reports whether expr is exactly (or, with inside, contains) a
// reference starting with prefix, e.g. yandex_lockbox_secret.main.id.
func hasRef(expr hcl.Expression, prefix ...string) bool {
	for _, r := range refs(expr) {
		if len(r) >= len(prefix) && slices.Equal(r[:len(prefix)], prefix) {
			return true
		}
	}
	return false
}

// refTarget returns the resource address "type.name" expr refers to through
// the given attribute (e.g. id), when expr is just that reference.
func refTarget(expr hcl.Expression, typ, attribute string) (string, bool) {
	e, ok := expr.(*hclsyntax.ScopeTraversalExpr)
	if !ok {
		return "", false
	}
	r := refOf(e.Traversal)
	if len(r) != 3 || r[0] != typ || r[2] != attribute {
		return "", false
	}
	return r[0] + "." + r[1], true
}

// objectKeys returns the keys of every object constructor in expr,
// following local.* references (for merge(...), conditionals and the like).
func (c *tfConfig) objectKeys(expr hcl.Expression) map[string]hcl.Expression {
	keys := map[string]hcl.Expression{}
	if expr == nil {
		return keys
	}
	seen := map[string]bool{}
	var walk func(hcl.Expression)
	walk = func(e hcl.Expression) {
		hclsyntax.VisitAll(e.(hclsyntax.Node), func(n hclsyntax.Node) hcl.Diagnostics {
			switch n := n.(type) {
			case *hclsyntax.ObjectConsExpr:
				for _, item := range n.Items {
					k := hcl.ExprAsKeyword(item.KeyExpr)
					if k == "" {
						k, _ = literalString(item.KeyExpr)
					}
					keys[k] = item.ValueExpr
				}
			case *hclsyntax.ScopeTraversalExpr:
				r := refOf(n.Traversal)
				if r[0] == "local" && len(r) == 2 && !seen[r[1]] {
					seen[r[1]] = true
					if l, ok := c.locals[r[1]]; ok {
						walk(l.Expr)
					}
				}
			}
			return nil
		})
	}
	walk(expr)
	return keys
}

// --- Terraform: variables ----------------------------------------------------

func TestTerraformVariables(t *testing.T) {
	c := loadTerraform(t)
	for name, v := range c.variables {
		if d, ok := literalString(attr(v, "description")); !ok || d == "" {
			t.Errorf("variable %s has no description", name)
		}
	}
	sensitive := []string{"tg_bot_token", "replicate_api_token", "replicate_webhook_secret", "tg_webhook_secret"}
	for _, name := range sensitive {
		v := c.variables[name]
		if v == nil {
			t.Errorf("variable %s is missing", name)
			continue
		}
		if s, ok := literal(attr(v, "sensitive")); !ok || s != cty.True {
			t.Errorf("variable %s must be sensitive = true", name)
		}
	}
	required := map[string]bool{"folder_id": true, "tg_bot_token": true, "replicate_api_token": true}
	wantDefaults := map[string]any{
		"zone": "ru-central1-a", "name_prefix": "photobot", "bucket_name": "", "cloud_id": "",
		"replicate_input": `{"scale": 2}`, "replicate_image_field": "image", "replicate_webhook_secret": "",
		"tg_webhook_secret": "", "public_url": "", "log_level": "info",
		"effects": "", "result_as": "", "default_effect": "", "bot_about": "",
		"handler_memory": int64(128), "handler_timeout": int64(30), "callback_memory": int64(128), "callback_timeout": int64(30),
	}
	for name, v := range c.variables {
		def := attr(v, "default")
		if required[name] {
			if def != nil {
				t.Errorf("variable %s is required and must have no default", name)
			}
			continue
		}
		if def == nil {
			t.Errorf("variable %s has no default", name)
			continue
		}
		want, ok := wantDefaults[name]
		if !ok {
			continue
		}
		switch w := want.(type) {
		case string:
			if got, ok := literalString(def); !ok || got != w {
				t.Errorf("variable %s: default %s, want %q", name, c.text(def), w)
			}
		case int64:
			if got, ok := literalInt(def); !ok || got != w {
				t.Errorf("variable %s: default %s, want %d", name, c.text(def), w)
			}
		}
	}
	for name := range wantDefaults {
		if c.variables[name] == nil {
			t.Errorf("variable %s is missing", name)
		}
	}
	if m, ok := literalString(attr(c.variables["replicate_model"], "default")); !ok || !strings.HasPrefix(m, "nightmareai/real-esrgan:") {
		t.Errorf("replicate_model default %q", m)
	}
	for _, p := range c.providers {
		if !hasRef(attr(p, "folder_id"), "var", "folder_id") {
			t.Errorf("provider yandex: folder_id must be var.folder_id")
		}
	}
}

// --- Terraform: the functions --------------------------------------------------

// function is what the test learned about one yandex_function.
type function struct {
	addr   string
	block  *hclsyntax.Block
	zip    string               // the zip's path as written (after local.*)
	env    map[string]bool      // plain environment
	secret map[string][2]string // env name -> version resource address, Lockbox key
}

func (c *tfConfig) functions(t *testing.T) map[string]*function {
	t.Helper()
	fns := map[string]*function{}
	for _, b := range c.resourcesOf("yandex_function") {
		f := &function{addr: "yandex_function." + b.Labels[1], block: b, env: map[string]bool{}, secret: map[string][2]string{}}
		contents := blocks(b, "content")
		if len(contents) != 1 {
			t.Errorf("%s: want one content block (zip_filename), found %d", f.addr, len(contents))
			continue
		}
		zipExpr := attr(contents[0], "zip_filename")
		f.zip = strings.Trim(c.resolveText(zipExpr), `"`)
		switch {
		case strings.HasSuffix(f.zip, "dist/fn-handler.zip"):
			fns["fn-handler"] = f
		case strings.HasSuffix(f.zip, "dist/fn-callback.zip"):
			fns["fn-callback"] = f
		default:
			t.Errorf("%s: zip %q is neither dist/fn-handler.zip nor dist/fn-callback.zip", f.addr, f.zip)
			continue
		}
		// user_hash = filesha256(<the same zip>)
		uh, ok := attr(b, "user_hash").(*hclsyntax.FunctionCallExpr)
		if !ok || uh.Name != "filesha256" || len(uh.Args) != 1 || c.text(uh.Args[0]) != c.text(zipExpr) {
			t.Errorf("%s: user_hash must be filesha256(%s), is %s", f.addr, c.text(zipExpr), c.text(attr(b, "user_hash")))
		}
		for k := range c.objectKeys(attr(b, "environment")) {
			f.env[k] = true
		}
		for _, s := range blocks(b, "secrets") {
			c.addSecret(t, f, s.Body, nil)
		}
		for _, d := range blocks(b, "dynamic") {
			if d.Labels[0] != "secrets" {
				continue
			}
			for _, content := range d.Body.Blocks {
				c.addSecret(t, f, content.Body, d)
			}
		}
	}
	return fns
}

// resolveText is the source of expr, with a local.* reference replaced by
// the local's source (once).
func (c *tfConfig) resolveText(expr hcl.Expression) string {
	if e, ok := expr.(*hclsyntax.ScopeTraversalExpr); ok {
		if r := refOf(e.Traversal); r[0] == "local" && len(r) == 2 && c.locals[r[1]] != nil {
			return c.text(c.locals[r[1]].Expr)
		}
	}
	return c.text(expr)
}

// addSecret records one secrets block and checks it reads an entry that the
// referenced Lockbox version really has.
func (c *tfConfig) addSecret(t *testing.T, f *function, body *hclsyntax.Body, dynamic *hclsyntax.Block) {
	t.Helper()
	get := func(name string) hclsyntax.Expression {
		if a, ok := body.Attributes[name]; ok {
			return a.Expr
		}
		t.Errorf("%s: secrets block without %s", f.addr, name)
		return nil
	}
	idExpr, verExpr, keyExpr, envExpr := get("id"), get("version_id"), get("key"), get("environment_variable")
	if idExpr == nil || verExpr == nil || keyExpr == nil || envExpr == nil {
		return
	}
	secretAddr, ok := refTarget(idExpr, "yandex_lockbox_secret", "id")
	if !ok {
		t.Errorf("%s: secrets.id must be a yandex_lockbox_secret's id, is %s", f.addr, c.text(idExpr))
		return
	}
	// Names: literals, or (dynamic) the iterator's value over for_each's literals.
	var names, keys []string
	if dynamic != nil {
		iter := dynamic.Labels[0]
		if c.text(envExpr) != iter+".value" || c.text(keyExpr) != iter+".value" {
			t.Errorf("%s: dynamic secrets: key and environment_variable must be %s.value", f.addr, iter)
			return
		}
		names = tupleStrings(dynamic.Body.Attributes["for_each"].Expr)
		keys = names
	} else {
		n, ok1 := literalString(envExpr)
		k, ok2 := literalString(keyExpr)
		if !ok1 || !ok2 {
			t.Errorf("%s: secrets key and environment_variable must be literals", f.addr)
			return
		}
		names, keys = []string{n}, []string{k}
	}
	version, entries := c.lockboxVersion(t, verExpr, secretAddr)
	for i, name := range names {
		if !slices.Contains(entries, keys[i]) {
			t.Errorf("%s: %s reads key %q of %s, which writes only %v", f.addr, name, keys[i], version, entries)
		}
		if _, dup := f.secret[name]; dup {
			t.Errorf("%s: %s from two secrets blocks", f.addr, name)
		}
		f.secret[name] = [2]string{version, keys[i]}
	}
}

// lockboxVersion returns the resource a version_id expression refers to and
// the entry keys that resource writes into secretAddr.
func (c *tfConfig) lockboxVersion(t *testing.T, verExpr hcl.Expression, secretAddr string) (string, []string) {
	t.Helper()
	if addr, ok := refTarget(verExpr, "yandex_lockbox_secret_version_hashed", "id"); ok {
		b := c.resources[addr]
		if s, _ := refTarget(attr(b, "secret_id"), "yandex_lockbox_secret", "id"); s != secretAddr {
			t.Errorf("%s writes into %s, the function reads %s", addr, c.text(attr(b, "secret_id")), secretAddr)
		}
		var keys []string
		for i := 1; i <= 10; i++ {
			keys = append(keys, resultStrings(attr(b, fmt.Sprintf("key_%d", i)))...)
		}
		return addr, keys
	}
	if addr, ok := refTarget(verExpr, "yandex_lockbox_secret_version", "id"); ok {
		var keys []string
		for _, e := range blocks(c.resources[addr], "entries") {
			keys = append(keys, stringLiterals(attr(e, "key"))...)
		}
		return addr, keys
	}
	if addr, ok := refTarget(verExpr, "yandex_iam_service_account_static_access_key", "output_to_lockbox_version_id"); ok {
		out := blocks(c.resources[addr], "output_to_lockbox")
		if len(out) != 1 {
			t.Errorf("%s: no output_to_lockbox block", addr)
			return addr, nil
		}
		if s, _ := refTarget(attr(out[0], "secret_id"), "yandex_lockbox_secret", "id"); s != secretAddr {
			t.Errorf("%s writes into %s, the function reads %s", addr, c.text(attr(out[0], "secret_id")), secretAddr)
		}
		return addr, append(stringLiterals(attr(out[0], "entry_for_access_key")), stringLiterals(attr(out[0], "entry_for_secret_key"))...)
	}
	t.Errorf("secrets.version_id %s is not a Lockbox version made here", c.text(verExpr))
	return "", nil
}

func TestFunctionsRuntimeAndPackage(t *testing.T) {
	c := loadTerraform(t)
	fns := c.functions(t)
	if len(fns) != 2 || len(c.resourcesOf("yandex_function")) != 2 {
		t.Fatalf("want exactly fn-handler and fn-callback, found %d yandex_function resources", len(c.resourcesOf("yandex_function")))
	}
	wantVars := map[string][2]string{"fn-handler": {"handler_memory", "handler_timeout"}, "fn-callback": {"callback_memory", "callback_timeout"}}
	for name, f := range fns {
		if got, _ := literalString(attr(f.block, "runtime")); got != "golang123" {
			t.Errorf("%s: runtime %q, want golang123 (Go 1.23.9)", name, got)
		}
		if got, _ := literalString(attr(f.block, "entrypoint")); got != "index.Handler" {
			t.Errorf("%s: entrypoint %q, want index.Handler", name, got)
		}
		if n := c.text(attr(f.block, "name")); !strings.Contains(n, name) {
			t.Errorf("%s: name %s should contain %q", name, n, name)
		}
		if !hasRef(attr(f.block, "memory"), "var", wantVars[name][0]) {
			t.Errorf("%s: memory must be var.%s", name, wantVars[name][0])
		}
		if !hasRef(attr(f.block, "execution_timeout"), "var", wantVars[name][1]) {
			t.Errorf("%s: execution_timeout must come from var.%s", name, wantVars[name][1])
		}
		if _, ok := refTarget(attr(f.block, "service_account_id"), "yandex_iam_service_account", "id"); !ok {
			t.Errorf("%s: service_account_id must be a service account made here", name)
		}
	}
}

func TestFunctionsGetEveryRequiredVariable(t *testing.T) {
	c := loadTerraform(t)
	fns := c.functions(t)
	if fns["fn-handler"] == nil || fns["fn-callback"] == nil {
		t.Fatal("want fn-handler and fn-callback")
	}
	// Each function reads its own mode's configuration (yc/entry.go).
	modes := map[string]config.Mode{"fn-handler": config.Serve, "fn-callback": config.Callback}
	if len(config.Required(config.Serve)) < 8 {
		t.Fatalf("config.Required(Serve) = %v: fewer than expected", config.Required(config.Serve))
	}
	known := map[string]bool{}
	for _, v := range config.Vars {
		known[v.Name] = true
	}
	for name, f := range fns {
		required := config.Required(modes[name])
		for _, v := range required {
			if !f.env[v] && f.secret[v] == [2]string{} {
				t.Errorf("%s does not get %s (neither environment nor a secrets block)", name, v)
			}
		}
		for _, v := range secretNames {
			if f.env[v] {
				t.Errorf("%s gets the secret %s as plain environment; it must come from Lockbox", name, v)
			}
			if slices.Contains(required, v) && f.secret[v] == [2]string{} {
				t.Errorf("%s: %s must come from Lockbox (a secrets block)", name, v)
			}
		}
		if f.secret["REPLICATE_WEBHOOK_SECRET"] == [2]string{} {
			t.Errorf("%s: REPLICATE_WEBHOOK_SECRET (when given) must come from Lockbox", name)
		}
		for v := range f.env {
			if !known[v] {
				t.Errorf("%s: environment %s is not a variable photobot reads (config.Vars)", name, v)
			}
		}
		for v := range f.secret {
			if !known[v] {
				t.Errorf("%s: secret %s is not a variable photobot reads (config.Vars)", name, v)
			}
		}
		for _, v := range []string{"S3_ENDPOINT_URL", "S3_REGION", "REPLICATE_INPUT", "REPLICATE_IMAGE_FIELD", "LOG_LEVEL", "PUBLIC_URL"} {
			if !f.env[v] {
				t.Errorf("%s: plain environment lacks %s", name, v)
			}
		}
	}
	// fn-callback serves no Telegram webhook: the secret that
	// authenticates Telegram is not in its environment.
	if f := fns["fn-callback"]; f.env["TG_WEBHOOK_SECRET"] || f.secret["TG_WEBHOOK_SECRET"] != [2]string{} {
		t.Errorf("fn-callback gets TG_WEBHOOK_SECRET, which it never uses")
	}
	if fns["fn-handler"].secret["TG_WEBHOOK_SECRET"] == [2]string{} {
		t.Errorf("fn-handler does not get TG_WEBHOOK_SECRET from Lockbox")
	}
	// The plain values that must be exact.
	env := c.objectKeys(attr(fns["fn-handler"].block, "environment"))
	if got, _ := literalString(env["S3_ENDPOINT_URL"]); got != "https://storage.yandexcloud.net" {
		t.Errorf("S3_ENDPOINT_URL = %q", got)
	}
	if got, _ := literalString(env["S3_REGION"]); got != "ru-central1" {
		t.Errorf("S3_REGION = %q", got)
	}
	if !hasRef(env["S3_BUCKET"], "yandex_storage_bucket", "main", "bucket") {
		t.Errorf("S3_BUCKET must be the bucket made here, is %s", c.text(env["S3_BUCKET"]))
	}
	if !slices.ContainsFunc(c.refsDeep(env["PUBLIC_URL"]), func(r ref) bool { return r.String() == "var.public_url" }) {
		t.Errorf("PUBLIC_URL must come from var.public_url, is %s", c.text(env["PUBLIC_URL"]))
	}
}

// var.extra_environment lets an operator set the other plain settings (access
// list, limits...): its validation names only variables photobot reads,
// none of them secret or set elsewhere.
func TestExtraEnvironmentNames(t *testing.T) {
	c := loadTerraform(t)
	v := c.variables["extra_environment"]
	if v == nil {
		t.Fatal("variable extra_environment is missing")
	}
	var names []string
	for _, val := range blocks(v, "validation") {
		names = append(names, tupleStrings(attr(val, "condition"))...)
	}
	if len(names) == 0 {
		t.Fatal("extra_environment: no validation listing the allowed names")
	}
	known := map[string]bool{}
	for _, cv := range config.Vars {
		known[cv.Name] = true
	}
	fns := c.functions(t)
	for _, name := range names {
		if !known[name] {
			t.Errorf("extra_environment allows %s, which photobot does not read", name)
		}
		if slices.Contains(secretNames, name) {
			t.Errorf("extra_environment allows the secret %s", name)
		}
		if f := fns["fn-handler"]; f != nil && f.env[name] {
			t.Errorf("extra_environment allows %s, which Terraform already sets", name)
		}
	}
	for _, want := range []string{"ALLOWED_USERS", "DAILY_LIMIT_PER_USER", "MAX_ACTIVE_PER_USER", "REPLICATE_PROMPT_FIELD"} {
		if !slices.Contains(names, want) {
			t.Errorf("extra_environment should allow %s", want)
		}
	}
	// These have their own variables (optionalSettings), which deploy.sh sets.
	for env := range optionalSettings {
		if slices.Contains(names, env) {
			t.Errorf("extra_environment allows %s, which has its own variable", env)
		}
	}
	for _, f := range fns {
		if !slices.ContainsFunc(c.refsDeep(attr(f.block, "environment")), func(r ref) bool { return r.String() == "var.extra_environment" }) {
			t.Errorf("%s: environment does not include var.extra_environment", f.addr)
		}
	}
}

// optionalSettings are the settings of both functions with a Terraform
// variable of their own each, set only when not empty (so that photobot's
// defaults apply otherwise): environment name -> variable.
var optionalSettings = map[string]string{
	"EFFECTS":        "effects",
	"RESULT_AS":      "result_as",
	"DEFAULT_EFFECT": "default_effect",
	"BOT_ABOUT":      "bot_about",
}

func TestOptionalSettingsOnlyWhenSet(t *testing.T) {
	c := loadTerraform(t)
	fns := c.functions(t)
	for env, name := range optionalSettings {
		v := c.variables[name]
		if v == nil {
			t.Errorf("variable %s (%s) is missing", name, env)
			continue
		}
		if typ := c.text(attr(v, "type")); typ != "string" {
			t.Errorf("variable %s: type %s, want string", name, typ)
		}
		if def, ok := literalString(attr(v, "default")); !ok || def != "" {
			t.Errorf("variable %s: default must be \"\" (not set)", name)
		}
		for fn, f := range fns {
			if !f.env[env] {
				t.Errorf("%s does not get %s", fn, env)
			}
		}
		// var.X == "" ? {} : { ENV = var.X }, somewhere in the environment's locals.
		found := false
		for _, l := range c.locals {
			hclsyntax.VisitAll(l.Expr, func(n hclsyntax.Node) hcl.Diagnostics {
				cond, ok := n.(*hclsyntax.ConditionalExpr)
				if !ok || c.text(cond.Condition) != "var."+name+` == ""` {
					return nil
				}
				empty, ok1 := cond.TrueResult.(*hclsyntax.ObjectConsExpr)
				set, ok2 := cond.FalseResult.(*hclsyntax.ObjectConsExpr)
				if ok1 && ok2 && len(empty.Items) == 0 && len(set.Items) == 1 &&
					hcl.ExprAsKeyword(set.Items[0].KeyExpr) == env && c.text(set.Items[0].ValueExpr) == "var."+name {
					found = true
				}
				return nil
			})
		}
		if !found {
			t.Errorf("%s must be set only when given: var.%s == \"\" ? {} : { %s = var.%s }", env, name, env, name)
		}
	}
}

// Every variable photobot reads can be given to the functions (by its own
// Terraform variable, from Lockbox, or through extra_environment), or is
// meaningless there.
func TestEveryPhotobotVariableCanBeDeployed(t *testing.T) {
	c := loadTerraform(t)
	fns := c.functions(t)
	f := fns["fn-handler"]
	if f == nil {
		t.Fatal("no fn-handler")
	}
	var extra []string
	for _, val := range blocks(c.variables["extra_environment"], "validation") {
		extra = append(extra, tupleStrings(attr(val, "condition"))...)
	}
	notInFunctions := map[string]string{
		"PORT":         "photobot serve's port; the functions take requests without one",
		"DATA_DIR":     "photobot run's local storage; the functions use the bucket",
		"EFFECTS_FILE": "a path on the deploying machine: deploy.sh passes the file's content as EFFECTS",
	}
	for _, v := range config.Vars {
		_, local := notInFunctions[v.Name]
		if !f.env[v.Name] && f.secret[v.Name] == [2]string{} && !slices.Contains(extra, v.Name) && !local {
			t.Errorf("photobot reads %s, which a deployment cannot set: give it a Terraform variable (and deploy.sh a way to pass it), or allow it in extra_environment", v.Name)
		}
	}
}

// The settings deploy.sh reads with terraform console before the first
// apply (local.settings_encoded) must not depend on anything created: only
// variables and other such locals.
func TestSettingsKnownBeforeApply(t *testing.T) {
	c := loadTerraform(t)
	enc := c.locals["settings_encoded"]
	if enc == nil {
		t.Fatal("local settings_encoded is missing (deploy.sh reads it with terraform console)")
	}
	for _, r := range c.refsDeep(enc.Expr) {
		if r[0] != "var" && r[0] != "local" {
			t.Errorf("local.settings_encoded depends on %s, unknown before the first apply", r)
		}
	}
	// The functions' environment is the settings plus what exists only
	// after an apply.
	settings := c.objectKeys(c.locals["settings_environment"].Expr)
	for k := range c.objectKeys(c.locals["function_environment"].Expr) {
		if _, ok := settings[k]; !ok && k != "S3_BUCKET" && k != "PUBLIC_URL" {
			t.Errorf("%s is in function_environment but not in settings_environment: the preflight and the 4 KB estimate would miss it", k)
		}
	}
}

// The variables' validations, run by Terraform itself: a plan of
// variables.tf alone needs no provider.
func TestTerraformVariableValidations(t *testing.T) {
	tf := tool(t, "terraform")
	dir := t.TempDir()
	data, err := os.ReadFile("terraform/variables.tf")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "variables.tf"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	plan := func(vars map[string]string) (string, error) {
		cmd := exec.Command(tf, "plan", "-input=false", "-no-color", "-lock=false")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "TF_CLI_CONFIG_FILE="+os.DevNull, "CHECKPOINT_DISABLE=1", "TF_IN_AUTOMATION=1")
		for k, v := range map[string]string{"folder_id": "b1gfolder", "tg_bot_token": "123:abc", "replicate_api_token": "r8_x"} {
			cmd.Env = append(cmd.Env, "TF_VAR_"+k+"="+v)
		}
		for k, v := range vars {
			cmd.Env = append(cmd.Env, "TF_VAR_"+k+"="+v)
		}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	good := map[string]string{
		"effects":        "[{\"id\": \"upscale\", \"model\": \"nightmareai/real-esrgan\"},\n {\"id\": \"cartoon\", \"title\": {\"ru\": \"Мульт\"}}]",
		"result_as":      "both",
		"default_effect": "upscale",
		"bot_about":      "It's a bot.\nSecond line: \"quoted\", $HOME, 100%",
		"handler_memory": "128",
	}
	if out, err := plan(good); err != nil {
		t.Errorf("valid settings refused: %v\n%s", err, out)
	}
	if out, err := plan(nil); err != nil {
		t.Errorf("the defaults refused: %v\n%s", err, out)
	}
	bad := map[string]string{
		"effects":         `{"id": "upscale"}`,
		"result_as":       "photos",
		"default_effect":  "Up Scale",
		"callback_memory": "100",
	}
	out, err := plan(bad)
	if err == nil {
		t.Fatalf("invalid settings accepted:\n%s", out)
	}
	for name := range bad {
		if !strings.Contains(out, "var."+name) {
			t.Errorf("no validation error for %s = %q:\n%s", name, bad[name], out)
		}
	}
}

// --- Terraform: bucket, IAM, gateway, outputs --------------------------------

func TestBucketLifecycleEqualsGoCode(t *testing.T) {
	c := loadTerraform(t)
	buckets := c.resourcesOf("yandex_storage_bucket")
	if len(buckets) != 1 {
		t.Fatalf("want one bucket, found %d", len(buckets))
	}
	type rule struct {
		ID, Prefix string
		Days       int64
	}
	var got []rule
	for _, lr := range blocks(buckets[0], "lifecycle_rule") {
		var r rule
		var ok bool
		if r.ID, ok = literalString(attr(lr, "id")); !ok {
			t.Errorf("%s: lifecycle_rule id must be a literal", lr.Range())
		}
		if e, _ := literal(attr(lr, "enabled")); e != cty.True {
			t.Errorf("lifecycle_rule %s: enabled must be true", r.ID)
		}
		// filter { prefix }: what photobot setup writes (Filter.Prefix), so
		// Terraform and setup do not undo each other.
		filters := blocks(lr, "filter")
		if len(filters) != 1 || attr(lr, "prefix") != nil {
			t.Errorf("lifecycle_rule %s: use one filter { prefix = ... } block, as photobot setup does", r.ID)
		} else if r.Prefix, ok = literalString(attr(filters[0], "prefix")); !ok {
			t.Errorf("lifecycle_rule %s: filter.prefix must be a literal", r.ID)
		}
		exp := blocks(lr, "expiration")
		if len(exp) != 1 {
			t.Errorf("lifecycle_rule %s: want one expiration block", r.ID)
		} else if r.Days, ok = literalInt(attr(exp[0], "days")); !ok {
			t.Errorf("lifecycle_rule %s: expiration.days must be a literal", r.ID)
		}
		got = append(got, r)
	}
	var want []rule
	for _, r := range pipeline.LifecycleRules {
		want = append(want, rule{r.ID, r.Prefix, int64(r.Days)})
	}
	// In the same order too: photobot setup rewrites the whole list, and the
	// provider compares lists, so another order would show as a change on
	// every plan.
	key := func(rs []rule) []string {
		var out []string
		for _, r := range rs {
			out = append(out, fmt.Sprintf("%s %s %dd", r.ID, r.Prefix, r.Days))
		}
		return out
	}
	if g, w := key(got), key(want); !slices.Equal(g, w) {
		t.Errorf("bucket lifecycle rules differ from pipeline.LifecycleRules (same rules, same order)\n terraform: %v\n go:        %v", g, w)
	}
	// Balances, payments and paid-for photos are kept for good: no rule
	// of the bucket may reach them.
	for _, r := range got {
		for _, kept := range pipeline.KeptPrefixes {
			if strings.HasPrefix(kept, r.Prefix) || strings.HasPrefix(r.Prefix, kept) {
				t.Errorf("lifecycle_rule %s (prefix %q) would expire %s, which is kept for good", r.ID, r.Prefix, kept)
			}
		}
	}
}

// memberOf returns the service accounts named in a member or members
// argument ("serviceAccount:${yandex_iam_service_account.X.id}").
func memberAccounts(expr hcl.Expression) []string {
	var out []string
	for _, r := range refs(expr) {
		if len(r) == 3 && r[0] == "yandex_iam_service_account" && r[2] == "id" {
			out = append(out, r[0]+"."+r[1])
		}
	}
	return out
}

func TestIAMIsScopedToSingleResources(t *testing.T) {
	c := loadTerraform(t)
	for _, body := range c.files {
		hclsyntax.VisitAll(body, func(n hclsyntax.Node) hcl.Diagnostics {
			if l, ok := n.(*hclsyntax.LiteralValueExpr); ok && l.Val.Type() == cty.String &&
				strings.HasPrefix(l.Val.AsString(), "system:all") {
				t.Errorf("%s: %q: nothing here is public", l.SrcRange, l.Val.AsString())
			}
			return nil
		})
	}
	for _, typ := range []string{"yandex_resourcemanager_folder_iam_member", "yandex_resourcemanager_folder_iam_binding"} {
		for _, b := range c.resourcesOf(typ) {
			t.Errorf("%s.%s: a folder-wide role; grant it on the one resource instead", typ, b.Labels[1])
		}
	}
	fns := c.functions(t)
	if len(fns) != 2 {
		t.Fatal("want fn-handler and fn-callback")
	}
	accounts := map[string]string{} // function → the account it runs as
	for name, f := range fns {
		accounts[name], _ = refTarget(attr(f.block, "service_account_id"), "yandex_iam_service_account", "id")
	}
	if accounts["fn-handler"] == accounts["fn-callback"] {
		t.Errorf("the functions share the account %s; give each its own", accounts["fn-handler"])
	}
	for name, f := range fns {
		c.checkFunctionRights(t, f, accounts[name], fns)
	}

	// The gateway's account may invoke both functions, and is not theirs.
	gwSA := c.gatewayAccount(t)
	if gwSA == accounts["fn-handler"] || gwSA == accounts["fn-callback"] {
		t.Errorf("the gateway and a function share %s; give the gateway its own account", gwSA)
	}
	for name, f := range fns {
		ok := false
		for _, typ := range []string{"yandex_function_iam_binding", "yandex_function_iam_member"} {
			for _, b := range c.resourcesOf(typ) {
				fn, _ := refTarget(attr(b, "function_id"), "yandex_function", "id")
				members := attr(b, "members")
				if members == nil {
					members = attr(b, "member")
				}
				if role, _ := literalString(attr(b, "role")); role == "functions.functionInvoker" && fn == f.addr &&
					slices.Contains(memberAccounts(members), gwSA) {
					ok = true
				}
			}
		}
		if !ok {
			t.Errorf("%s: the gateway's account %s needs functions.functionInvoker on it", name, gwSA)
		}
	}
}

// checkFunctionRights: the function's account sa has storage.editor on the
// bucket (not the folder), and lockbox.payloadViewer on the secrets the
// function reads and on no secret only another function reads.
func (c *tfConfig) checkFunctionRights(t *testing.T, f *function, sa string, fns map[string]*function) {
	t.Helper()
	found := false
	for _, b := range c.resourcesOf("yandex_storage_bucket_iam_binding") {
		if role, _ := literalString(attr(b, "role")); role == "storage.editor" &&
			hasRef(attr(b, "bucket"), "yandex_storage_bucket", "main", "bucket") &&
			slices.Contains(memberAccounts(attr(b, "members")), sa) {
			found = true
		}
	}
	if !found {
		t.Errorf("%s needs storage.editor on yandex_storage_bucket.main (yandex_storage_bucket_iam_binding)", sa)
	}
	own := secretsOf(f)
	for _, b := range c.resourcesOf("yandex_lockbox_secret_iam_member") {
		secret, _ := refTarget(attr(b, "secret_id"), "yandex_lockbox_secret", "id")
		if role, _ := literalString(attr(b, "role")); role != "lockbox.payloadViewer" ||
			!slices.Contains(memberAccounts(attr(b, "member")), sa) {
			continue
		}
		if !own[secret] {
			t.Errorf("%s may read %s, which %s does not read", sa, secret, f.addr)
			continue
		}
		delete(own, secret)
		if !slices.ContainsFunc(refs(attr(f.block, "depends_on")), func(r ref) bool {
			return r.String() == "yandex_lockbox_secret_iam_member."+b.Labels[1]
		}) {
			t.Errorf("%s must depend on %s (a version with secrets needs the role first)", f.addr, b.Labels[1])
		}
	}
	for secret := range own {
		t.Errorf("%s needs lockbox.payloadViewer on %s (yandex_lockbox_secret_iam_member)", sa, secret)
	}
	for _, other := range fns {
		for secret := range secretsOf(other) {
			if other != f && secretsOf(f)[secret] {
				t.Errorf("%s and %s read the same secret %s; give each its own", f.addr, other.addr, secret)
			}
		}
	}
}

// secretsOf lists the Lockbox secrets a function reads.
func secretsOf(f *function) map[string]bool {
	out := map[string]bool{}
	for _, s := range blocks(f.block, "secrets") {
		addr, _ := refTarget(attr(s, "id"), "yandex_lockbox_secret", "id")
		out[addr] = true
	}
	for _, d := range blocks(f.block, "dynamic") {
		for _, content := range d.Body.Blocks {
			if a, ok := content.Body.Attributes["id"]; ok {
				addr, _ := refTarget(a.Expr, "yandex_lockbox_secret", "id")
				out[addr] = true
			}
		}
	}
	return out
}

// gateway returns the API gateway and the arguments of its templatefile().
func (c *tfConfig) gateway(t *testing.T) (*hclsyntax.Block, map[string]hcl.Expression) {
	t.Helper()
	gws := c.resourcesOf("yandex_api_gateway")
	if len(gws) != 1 {
		t.Fatalf("want one yandex_api_gateway, found %d", len(gws))
	}
	call, ok := attr(gws[0], "spec").(*hclsyntax.FunctionCallExpr)
	if !ok || call.Name != "templatefile" || len(call.Args) != 2 {
		t.Fatalf("the gateway's spec must be templatefile(<deploy/openapi.yaml>, {...}), is %s", c.text(attr(gws[0], "spec")))
	}
	if path := c.text(call.Args[0]); path != `"${path.module}/../openapi.yaml"` {
		t.Errorf("the gateway's spec reads %s, want deploy/openapi.yaml (\"${path.module}/../openapi.yaml\")", path)
	}
	return gws[0], c.objectKeys(call.Args[1])
}

func (c *tfConfig) gatewayAccount(t *testing.T) string {
	t.Helper()
	_, vars := c.gateway(t)
	sa, ok := refTarget(vars["invoker_sa_id"], "yandex_iam_service_account", "id")
	if !ok {
		t.Errorf("templatefile: invoker_sa_id must be a service account's id")
	}
	return sa
}

var placeholderRe = regexp.MustCompile(`\$\{([A-Za-z0-9_]+)\}`)

func TestGatewayTemplateMatchesSpec(t *testing.T) {
	c := loadTerraform(t)
	spec, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	placeholders := map[string]bool{}
	for _, m := range placeholderRe.FindAllStringSubmatch(string(spec), -1) {
		placeholders[m[1]] = true
	}
	_, vars := c.gateway(t)
	for name := range placeholders {
		if vars[name] == nil {
			t.Errorf("openapi.yaml uses ${%s}, which templatefile() does not set", name)
		}
	}
	for name := range vars {
		if !placeholders[name] {
			t.Errorf("templatefile() sets %s, which openapi.yaml does not use", name)
		}
	}
	// Nothing else templatefile() would interpret.
	rest := placeholderRe.ReplaceAllString(string(spec), "")
	if strings.Contains(rest, "${") || strings.Contains(rest, "%{") {
		t.Errorf("openapi.yaml holds a ${ or %%{ sequence besides the placeholders")
	}
	fns := c.functions(t)
	for placeholder, fn := range map[string]string{"fn_handler_id": "fn-handler", "fn_callback_id": "fn-callback"} {
		addr, ok := refTarget(vars[placeholder], "yandex_function", "id")
		if !ok || fns[fn] == nil || addr != fns[fn].addr {
			t.Errorf("templatefile: %s = %s, want the id of %s", placeholder, c.text(vars[placeholder]), fn)
		}
	}
}

func TestOutputs(t *testing.T) {
	c := loadTerraform(t)
	for _, name := range []string{
		"gateway_url", "public_url", "telegram_webhook_url", "bucket", "fn_handler_id", "fn_callback_id",
		"lockbox_secret_id", "lockbox_tokens_version_id", "lockbox_s3_key_version_id", "setup_environment", "folder_id",
		"fn_handler_name", "fn_callback_name",
	} {
		if c.outputs[name] == nil {
			t.Errorf("output %s is missing (deploy.sh reads it)", name)
		}
	}
	s := loadSchemas(t)
	secretRef := func(r ref) bool {
		if sensitiveRef(s, r) {
			return true
		}
		switch {
		case r[0] == "var" && len(r) > 1:
			if v := c.variables[r[1]]; v != nil {
				s, _ := literal(attr(v, "sensitive"))
				return s == cty.True
			}
		case r[0] == "random_password":
			return true
		case r[0] == "yandex_lockbox_secret_version", r[0] == "yandex_lockbox_secret_version_hashed":
			return len(r) < 3 || r[2] != "id"
		case r[0] == "yandex_iam_service_account_static_access_key":
			return len(r) < 3 || r[2] == "access_key" || r[2] == "secret_key" || r[2] == "encrypted_secret_key"
		}
		return false
	}
	for name, o := range c.outputs {
		if d, ok := literalString(attr(o, "description")); !ok || d == "" {
			t.Errorf("output %s has no description", name)
		}
		for _, r := range c.refsDeep(attr(o, "value")) {
			if secretRef(r) {
				t.Errorf("output %s reveals %s: nothing secret in outputs", name, r)
			}
		}
	}
	gw := attr(c.outputs["gateway_url"], "value")
	if !strings.HasPrefix(c.text(gw), `"https://${yandex_api_gateway.`) || !strings.HasSuffix(c.text(gw), `.domain}"`) {
		t.Errorf("gateway_url = %s, want \"https://${yandex_api_gateway.<name>.domain}\"", c.text(gw))
	}
	if wh := c.text(attr(c.outputs["telegram_webhook_url"], "value")); !strings.HasSuffix(wh, httpapi.TelegramPath+`"`) {
		t.Errorf("telegram_webhook_url = %s, want it to end in %s", wh, httpapi.TelegramPath)
	}
}

// terraform fmt, when a terraform binary is at hand (CI has one).
func TestTerraformFmt(t *testing.T) {
	tf := tool(t, "terraform")
	cmd := exec.Command(tf, "fmt", "-check", "-recursive", "-diff", "terraform")
	cmd.Env = append(os.Environ(), "TF_CLI_CONFIG_FILE="+os.DevNull, "CHECKPOINT_DISABLE=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("terraform fmt -check: %v\n%s", err, out)
	}
}

// --- the API Gateway spec ------------------------------------------------------

func loadSpec(t *testing.T, data []byte) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(data)
	if err != nil {
		t.Fatalf("openapi.yaml does not load: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.yaml is not valid OpenAPI: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.0") {
		t.Errorf("openapi: %q, want 3.0.x (what API Gateway reads)", doc.OpenAPI)
	}
	return doc
}

func checkRoutes(t *testing.T, doc *openapi3.T, want map[string]string) {
	t.Helper()
	paths := doc.Paths.Map()
	if len(paths) != len(want) {
		t.Errorf("spec has %d paths, want exactly %d", len(paths), len(want))
	}
	for path, functionID := range want {
		item := paths[path]
		if item == nil {
			t.Errorf("spec has no %s", path)
			continue
		}
		ops := item.Operations()
		if len(ops) != 1 || item.Post == nil {
			t.Errorf("%s: want only POST, have %d operations", path, len(ops))
			continue
		}
		integ, ok := item.Post.Extensions["x-yc-apigateway-integration"].(map[string]any)
		if !ok {
			t.Errorf("POST %s has no x-yc-apigateway-integration", path)
			continue
		}
		for k, w := range map[string]string{
			"type": "cloud_functions", "function_id": functionID, "tag": "$latest", "payload_format_version": "1.0",
		} {
			if got, _ := integ[k].(string); got != w {
				t.Errorf("POST %s: %s = %v, want %q", path, k, integ[k], w)
			}
		}
		if sa, _ := integ["service_account_id"].(string); sa == "" {
			t.Errorf("POST %s: no service_account_id: the functions are not public", path)
		}
	}
}

// requiredHeaders are the headers each route's sender always sends: the
// gateway refuses a request lacking one before a function is billed.
var requiredHeaders = map[string][]string{
	httpapi.TelegramPath:  {"X-Telegram-Bot-Api-Secret-Token"},
	httpapi.ReplicatePath: {"webhook-id", "webhook-timestamp", "webhook-signature"},
}

// checkValidators checks each route declares its required headers and turns
// on the gateway's parameter validation with validate (the placeholder, or
// its rendered value).
func checkValidators(t *testing.T, doc *openapi3.T, validate any) {
	t.Helper()
	for path, names := range requiredHeaders {
		item := doc.Paths.Map()[path]
		if item == nil || item.Post == nil {
			t.Errorf("spec has no POST %s", path)
			continue
		}
		declared := map[string]bool{}
		for _, p := range item.Post.Parameters {
			if p.Value != nil && p.Value.In == "header" && p.Value.Required {
				declared[p.Value.Name] = true
			}
		}
		for _, name := range names {
			if !declared[name] {
				t.Errorf("POST %s: header %s is not declared (in: header, required: true)", path, name)
			}
		}
		v, ok := item.Post.Extensions["x-yc-apigateway-validator"].(map[string]any)
		if !ok {
			t.Errorf("POST %s has no x-yc-apigateway-validator", path)
			continue
		}
		if got := v["validateRequestParameters"]; got != validate {
			t.Errorf("POST %s: validateRequestParameters = %v, want %v", path, got, validate)
		}
	}
}

func TestOpenAPISpec(t *testing.T) {
	data, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	doc := loadSpec(t, data)
	checkRoutes(t, doc, map[string]string{
		httpapi.TelegramPath:  "${fn_handler_id}",
		httpapi.ReplicatePath: "${fn_callback_id}",
	})
	for path, item := range doc.Paths.Map() {
		integ := item.Post.Extensions["x-yc-apigateway-integration"].(map[string]any)
		if integ["service_account_id"] != "${invoker_sa_id}" {
			t.Errorf("POST %s: service_account_id = %v, want ${invoker_sa_id}", path, integ["service_account_id"])
		}
	}
	checkValidators(t, doc, "${validate_headers}")
}

// The spec as the gateway gets it: rendered by Terraform's own
// templatefile() (when a terraform binary is at hand) and still valid.
func TestOpenAPISpecRendered(t *testing.T) {
	tf := tool(t, "terraform")
	dir := t.TempDir()
	data, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "openapi.yaml"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, validate := range []bool{true, false} {
		doc := renderSpec(t, tf, dir, validate)
		checkRoutes(t, doc, map[string]string{httpapi.TelegramPath: "d4eHANDLER", httpapi.ReplicatePath: "d4eCALLBACK"})
		checkValidators(t, doc, validate)
	}
}

// renderSpec renders dir/openapi.yaml with Terraform's templatefile().
func renderSpec(t *testing.T, tf, dir string, validate bool) *openapi3.T {
	t.Helper()
	cmd := exec.Command(tf, "console")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TF_CLI_CONFIG_FILE="+os.DevNull, "CHECKPOINT_DISABLE=1")
	cmd.Stdin = strings.NewReader(fmt.Sprintf(`jsonencode(templatefile("openapi.yaml", {fn_handler_id = "d4eHANDLER", fn_callback_id = "d4eCALLBACK", invoker_sa_id = "ajeGATEWAY", validate_headers = %t}))`+"\n", validate))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("terraform console: %v\n%s", err, out)
	}
	// console prints the JSON text as a quoted HCL string.
	var rendered string
	expr, diags := hclsyntax.ParseExpression([]byte(strings.TrimSpace(string(out))), "console", hcl.InitialPos)
	if !diags.HasErrors() {
		if s, ok := literalString(expr); ok {
			_ = json.Unmarshal([]byte(s), &rendered)
		}
	}
	if rendered == "" {
		t.Fatalf("cannot read terraform console's output: %s", out)
	}
	if strings.Contains(rendered, "${") {
		t.Errorf("rendered spec still holds ${...}")
	}
	return loadSpec(t, []byte(rendered))
}
