package deploy_test

// Most of what `terraform validate` checks, against the providers' real
// schema (testdata/provider-schema.json, see testdata/README.md): resource
// and data source types, arguments, nested blocks (dynamic ones too),
// required ones, deprecations, nesting limits, literal types, meta-arguments
// and the attributes references read.

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// The JSON of `terraform providers schema -json`.
type schemaFile struct {
	FormatVersion   string `json:"format_version"`
	ProviderSchemas map[string]struct {
		Provider          schemaOf            `json:"provider"`
		ResourceSchemas   map[string]schemaOf `json:"resource_schemas"`
		DataSourceSchemas map[string]schemaOf `json:"data_source_schemas"`
	} `json:"provider_schemas"`
}

type schemaOf struct {
	Block schemaBlock `json:"block"`
}

type schemaBlock struct {
	Attributes map[string]*schemaAttribute `json:"attributes"`
	BlockTypes map[string]*schemaBlockType `json:"block_types"`
	Deprecated bool                        `json:"deprecated"`
}

type schemaAttribute struct {
	Type       cty.Type        `json:"type"`
	NestedType json.RawMessage `json:"nested_type"`
	Required   bool            `json:"required"`
	Optional   bool            `json:"optional"`
	Computed   bool            `json:"computed"`
	Sensitive  bool            `json:"sensitive"`
	Deprecated bool            `json:"deprecated"`
}

type schemaBlockType struct {
	NestingMode string      `json:"nesting_mode"`
	Block       schemaBlock `json:"block"`
	MinItems    int         `json:"min_items"`
	MaxItems    int         `json:"max_items"`
}

// providerSchemas is the schema file, by local provider name (yandex,
// random: the part of a type's name before the first _).
type providerSchemas struct {
	source    map[string]string // local name -> registry.terraform.io/<namespace>/<name>
	provider  map[string]*schemaBlock
	resources map[string]*schemaBlock
	data      map[string]*schemaBlock
}

var (
	schemasOnce sync.Once
	schemas     *providerSchemas
	schemasErr  error
)

func loadSchemas(t *testing.T) *providerSchemas {
	t.Helper()
	schemasOnce.Do(func() {
		data, err := os.ReadFile("testdata/provider-schema.json")
		if err != nil {
			schemasErr = err
			return
		}
		var f schemaFile
		if err := json.Unmarshal(data, &f); err != nil {
			schemasErr = fmt.Errorf("testdata/provider-schema.json: %w", err)
			return
		}
		s := &providerSchemas{
			source: map[string]string{}, provider: map[string]*schemaBlock{},
			resources: map[string]*schemaBlock{}, data: map[string]*schemaBlock{},
		}
		for addr, p := range f.ProviderSchemas {
			local := addr[strings.LastIndex(addr, "/")+1:]
			s.source[local] = addr
			s.provider[local] = &p.Provider.Block
			for typ, r := range p.ResourceSchemas {
				s.resources[typ] = &r.Block
			}
			for typ, d := range p.DataSourceSchemas {
				s.data[typ] = &d.Block
			}
		}
		schemas = s
	})
	if schemasErr != nil {
		t.Fatal(schemasErr)
	}
	if len(schemas.resources["yandex_function"].Attributes) == 0 || schemas.resources["random_id"] == nil {
		t.Fatal("testdata/provider-schema.json lacks yandex_function or random_id")
	}
	return schemas
}

// Provider arguments that would put credentials into the configuration:
// they come from the environment (YC_TOKEN, YC_SERVICE_ACCOUNT_KEY_FILE).
var providerCredentials = []string{
	"token", "service_account_key_file", "storage_access_key", "storage_secret_key",
	"ymq_access_key", "ymq_secret_key", "shared_credentials_file", "profile",
}

// problems collects what a check found, each with its place in the source.
type problems []string

func (p *problems) add(r hcl.Range, format string, args ...any) {
	*p = append(*p, fmt.Sprintf("%s: %s", r, fmt.Sprintf(format, args...)))
}

// didYouMean suggests the closest of names, when one is close: a few
// letters apart, or the name is part of it (domain_name, bucket_domain_name).
func didYouMean(name string, names []string) string {
	best, bestD := "", len(name)/3+2
	for _, n := range names {
		if d := editDistance(name, n); d < bestD {
			best, bestD = n, d
		}
	}
	if best == "" && len(name) >= 4 {
		for _, n := range names {
			if strings.Contains(n, name) && (best == "" || len(n) < len(best)) {
				best = n
			}
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

func keysOf[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// checkSchema checks every resource, data source and provider block of c
// against the providers' schema.
func checkSchema(c *tfConfig, s *providerSchemas) problems {
	var p problems
	declared := c.requiredProviders(&p)
	for local, source := range declared {
		if want, ok := s.source[local]; !ok {
			p.add(c.terraform[0].Range(), "required_providers: %s has no schema in testdata/provider-schema.json", local)
		} else if "registry.terraform.io/"+strings.TrimPrefix(source, "registry.terraform.io/") != want {
			p.add(c.terraform[0].Range(), "required_providers: %s = %q, the schema is of %s", local, source, want)
		}
	}
	for _, kind := range []string{"resource", "data"} {
		blocks, types, order := c.resources, s.resources, c.order
		if kind == "data" {
			blocks, types, order = c.data, s.data, c.dataOrder
		}
		for _, addr := range order {
			b := blocks[addr]
			typ := b.Labels[0]
			where := kind + " " + addr
			local, _, _ := strings.Cut(typ, "_")
			if _, ok := declared[local]; !ok {
				p.add(b.LabelRanges[0], "%s: provider %q is not in terraform { required_providers }", where, local)
			}
			sb, ok := types[typ]
			if !ok {
				p.add(b.LabelRanges[0], "unknown %s type %q%s", kind, typ, didYouMean(typ, keysOf(types)))
				continue
			}
			if sb.Deprecated {
				p.add(b.LabelRanges[0], "%s: type %s is deprecated", where, typ)
			}
			c.checkMeta(&p, where, kind, b, sb)
			c.checkBody(&p, where, b.Body, sb, true)
		}
	}
	for _, pb := range c.providers {
		local := pb.Labels[0]
		sb, ok := s.provider[local]
		if !ok {
			p.add(pb.LabelRanges[0], "provider %q has no schema", local)
			continue
		}
		where := "provider " + local
		for name, a := range pb.Body.Attributes {
			if name == "alias" {
				continue
			}
			if slices.Contains(providerCredentials, name) {
				p.add(a.SrcRange, "%s: %s is a credential: it comes from the environment (YC_TOKEN, YC_SERVICE_ACCOUNT_KEY_FILE), never from the configuration", where, name)
			}
		}
		body := *pb.Body
		body.Attributes = hclsyntax.Attributes{}
		for name, a := range pb.Body.Attributes {
			if name != "alias" {
				body.Attributes[name] = a
			}
		}
		c.checkBody(&p, where, &body, sb, false)
	}
	return p
}

// requiredProviders returns terraform { required_providers { name = { source } } }.
func (c *tfConfig) requiredProviders(p *problems) map[string]string {
	out := map[string]string{}
	for _, tb := range c.terraform {
		for _, rp := range tb.Body.Blocks {
			if rp.Type != "required_providers" {
				continue
			}
			for name, a := range rp.Body.Attributes {
				obj, ok := a.Expr.(*hclsyntax.ObjectConsExpr)
				if !ok {
					p.add(a.SrcRange, "required_providers: %s must be { source = ..., version = ... }", name)
					continue
				}
				for _, item := range obj.Items {
					if hcl.ExprAsKeyword(item.KeyExpr) == "source" {
						out[name], _ = literalString(item.ValueExpr)
					}
				}
				if out[name] == "" {
					p.add(a.SrcRange, "required_providers: %s has no source", name)
				}
			}
		}
	}
	return out
}

// Meta-arguments of resource and data blocks, which no schema lists.
var metaArguments = []string{"count", "for_each", "depends_on", "provider"}

// checkMeta checks the meta-arguments and the lifecycle block of a resource
// or data block.
func (c *tfConfig) checkMeta(p *problems, where, kind string, b *hclsyntax.Block, sb *schemaBlock) {
	attrs := b.Body.Attributes
	if attrs["count"] != nil && attrs["for_each"] != nil {
		p.add(attrs["for_each"].SrcRange, "%s: count and for_each together", where)
	}
	if a := attrs["provider"]; a != nil {
		local, _, _ := strings.Cut(b.Labels[0], "_")
		tr, diags := hcl.AbsTraversalForExpr(a.Expr)
		if diags.HasErrors() || tr.RootName() != local {
			p.add(a.SrcRange, "%s: provider = %s, want %s or %s.<alias>", where, c.text(a.Expr), local, local)
		}
	}
	if a := attrs["depends_on"]; a != nil {
		if _, ok := a.Expr.(*hclsyntax.TupleConsExpr); !ok {
			p.add(a.SrcRange, "%s: depends_on must be a list of resources", where)
		}
	}
	for _, lb := range b.Body.Blocks {
		if lb.Type != "lifecycle" {
			continue
		}
		allowed := []string{"create_before_destroy", "prevent_destroy", "ignore_changes", "replace_triggered_by"}
		if kind == "data" {
			allowed = nil
		}
		for name, a := range lb.Body.Attributes {
			if !slices.Contains(allowed, name) {
				p.add(a.SrcRange, "%s: unknown lifecycle argument %q%s", where, name, didYouMean(name, allowed))
				continue
			}
			switch name {
			case "create_before_destroy", "prevent_destroy":
				if v, ok := literal(a.Expr); !ok || v.Type() != cty.Bool {
					p.add(a.SrcRange, "%s: lifecycle.%s must be true or false", where, name)
				}
			case "ignore_changes":
				if hcl.ExprAsKeyword(a.Expr) == "all" {
					continue
				}
				tup, ok := a.Expr.(*hclsyntax.TupleConsExpr)
				if !ok {
					p.add(a.SrcRange, "%s: lifecycle.ignore_changes must be a list of arguments or all", where)
					continue
				}
				for _, e := range tup.Exprs {
					tr, diags := hcl.RelTraversalForExpr(e)
					if diags.HasErrors() || len(tr) == 0 {
						p.add(e.Range(), "%s: lifecycle.ignore_changes: %s is not an argument name", where, c.text(e))
						continue
					}
					var name string
					switch step := tr[0].(type) {
					case hcl.TraverseAttr:
						name = step.Name
					case hcl.TraverseRoot:
						name = step.Name
					}
					if sb.Attributes[name] == nil && sb.BlockTypes[name] == nil {
						p.add(e.Range(), "%s: lifecycle.ignore_changes: no argument %q%s", where, name, didYouMean(name, append(keysOf(sb.Attributes), keysOf(sb.BlockTypes)...)))
					}
				}
			}
		}
		for _, cb := range lb.Body.Blocks {
			if cb.Type != "precondition" && cb.Type != "postcondition" {
				p.add(cb.Range(), "%s: unknown lifecycle block %q", where, cb.Type)
				continue
			}
			for _, need := range []string{"condition", "error_message"} {
				if cb.Body.Attributes[need] == nil {
					p.add(cb.Range(), "%s: lifecycle %s without %s", where, cb.Type, need)
				}
			}
		}
	}
}

// checkBody checks the arguments and blocks of body against sb. top: the
// body of a resource or data block itself, where meta-arguments and the
// lifecycle block may be.
func (c *tfConfig) checkBody(p *problems, where string, body *hclsyntax.Body, sb *schemaBlock, top bool) {
	names := append(keysOf(sb.Attributes), keysOf(sb.BlockTypes)...)
	for _, name := range keysOf(body.Attributes) {
		a := body.Attributes[name]
		if top && slices.Contains(metaArguments, name) {
			continue
		}
		sa := sb.Attributes[name]
		if sa == nil {
			if sb.BlockTypes[name] != nil {
				p.add(a.SrcRange, "%s: %q is a block: write %s { ... }, not %s = ...", where, name, name, name)
			} else {
				p.add(a.SrcRange, "%s: unknown argument %q%s", where, name, didYouMean(name, names))
			}
			continue
		}
		if sa.Computed && !sa.Optional && !sa.Required {
			p.add(a.SrcRange, "%s: %q is read-only (computed by the provider)", where, name)
		}
		if sa.Deprecated {
			p.add(a.SrcRange, "%s: %q is deprecated", where, name)
		}
		if sa.NestedType == nil && sa.Type != cty.NilType {
			c.checkType(p, where, name, a.Expr, sa.Type)
		}
	}
	for _, name := range keysOf(sb.Attributes) {
		if sb.Attributes[name].Required && body.Attributes[name] == nil {
			p.add(body.SrcRange, "%s: missing required argument %q", where, name)
		}
	}
	count := map[string]int{}
	dynamic := map[string]bool{}
	for _, nb := range body.Blocks {
		typ := nb.Type
		switch {
		case top && typ == "lifecycle":
			continue // checkMeta
		case top && (typ == "provisioner" || typ == "connection"):
			p.add(nb.Range(), "%s: %s blocks are not checked here (none are needed: extend the test if that changes)", where, typ)
			continue
		case typ == "dynamic":
			if len(nb.Labels) != 1 {
				p.add(nb.Range(), "%s: dynamic needs one label, the block's type", where)
				continue
			}
			typ = nb.Labels[0]
		}
		bt := sb.BlockTypes[typ]
		if bt == nil {
			switch {
			case sb.Attributes[typ] != nil:
				p.add(nb.Range(), "%s: %q is an argument: write %s = ..., not a block", where, typ, typ)
			case nb.Type == "dynamic":
				p.add(nb.LabelRanges[0], "%s: unknown block %q (dynamic)%s", where, typ, didYouMean(typ, keysOf(sb.BlockTypes)))
			default:
				p.add(nb.TypeRange, "%s: unknown block %q%s", where, typ, didYouMean(typ, names))
			}
			continue
		}
		if bt.Block.Deprecated {
			p.add(nb.Range(), "%s: block %q is deprecated", where, typ)
		}
		if nb.Type == "dynamic" {
			dynamic[typ] = true
			c.checkDynamic(p, where+": dynamic "+typ, nb, &bt.Block)
			continue
		}
		if len(nb.Labels) > 0 {
			p.add(nb.Range(), "%s: block %q takes no labels", where, typ)
		}
		count[typ]++
		c.checkBody(p, where+": "+typ, nb.Body, &bt.Block, false)
	}
	for _, typ := range keysOf(sb.BlockTypes) {
		bt := sb.BlockTypes[typ]
		n, limit := count[typ], bt.MaxItems
		if bt.NestingMode == "single" || bt.NestingMode == "group" {
			limit = 1
		}
		if limit > 0 && n > limit {
			p.add(body.SrcRange, "%s: at most %d %q block(s), found %d", where, limit, typ, n)
		}
		if bt.MinItems > 0 && n < bt.MinItems && !dynamic[typ] {
			p.add(body.SrcRange, "%s: at least %d %q block(s) required, found %d", where, bt.MinItems, typ, n)
		}
	}
}

// checkDynamic checks dynamic "x" { for_each, iterator, labels, content { ... } }.
func (c *tfConfig) checkDynamic(p *problems, where string, d *hclsyntax.Block, sb *schemaBlock) {
	for name, a := range d.Body.Attributes {
		if name != "for_each" && name != "iterator" && name != "labels" {
			p.add(a.SrcRange, "%s: unexpected %q (for_each, iterator, labels and content only)", where, name)
		}
	}
	if d.Body.Attributes["for_each"] == nil {
		p.add(d.Range(), "%s: no for_each", where)
	}
	contents := 0
	for _, cb := range d.Body.Blocks {
		if cb.Type != "content" {
			p.add(cb.Range(), "%s: unexpected block %q (content only)", where, cb.Type)
			continue
		}
		contents++
		c.checkBody(p, where, cb.Body, sb, false)
	}
	if contents != 1 {
		p.add(d.Range(), "%s: want one content block, found %d", where, contents)
	}
}

// checkType checks what can be checked of a value's type without running
// Terraform: a literal must convert to the argument's type, and so must the
// declared type of a variable used as the whole value.
func (c *tfConfig) checkType(p *problems, where, name string, expr hclsyntax.Expression, want cty.Type) {
	if len(expr.Variables()) == 0 {
		v, diags := expr.Value(nil)
		if diags.HasErrors() || !v.IsWhollyKnown() {
			return // function calls and the like
		}
		if _, err := convert.Convert(v, want); err != nil {
			p.add(expr.Range(), "%s: %q = %s: %v (want %s)", where, name, c.text(expr), err, want.FriendlyName())
		}
		return
	}
	st, ok := expr.(*hclsyntax.ScopeTraversalExpr)
	if !ok {
		return
	}
	r := refOf(st.Traversal)
	if len(r) != 2 || r[0] != "var" || c.variables[r[1]] == nil {
		return
	}
	te := attr(c.variables[r[1]], "type")
	if te == nil {
		return
	}
	got, diags := typeexpr.TypeConstraint(te)
	if diags.HasErrors() || got == cty.DynamicPseudoType || got.Equals(want) {
		return
	}
	if convert.GetConversionUnsafe(got, want) == nil {
		p.add(expr.Range(), "%s: %q = var.%s: a %s cannot be a %s", where, name, r[1], got.FriendlyName(), want.FriendlyName())
	}
}

// schemaPath reports whether the attribute path (names, indexes dropped)
// exists under sb: attributes, nested blocks and their attributes. It
// returns the first name that does not.
func schemaPath(sb *schemaBlock, path []string) (string, bool) {
	if len(path) == 0 {
		return "", true
	}
	if sb.Attributes[path[0]] != nil {
		return "", true // inside an attribute's value: its type, not checked
	}
	if bt := sb.BlockTypes[path[0]]; bt != nil {
		return schemaPath(&bt.Block, path[1:])
	}
	return path[0], false
}

// checkReferences: every var.*, local.*, data.* and resource reference
// names something declared, and reads an attribute its type has (as
// terraform validate would).
func checkReferences(c *tfConfig, s *providerSchemas) problems {
	var p problems
	iterators := map[string]bool{}
	var all []hcl.Expression
	var collect func(b *hclsyntax.Body, blockType string)
	collect = func(b *hclsyntax.Body, blockType string) {
		for name, a := range b.Attributes {
			switch {
			case blockType == "variable" && name == "type": // type = string: a type, not a reference
			case blockType == "lifecycle" && name == "ignore_changes": // argument names, checked by checkMeta
			case (blockType == "resource" || blockType == "data") && name == "provider": // a provider, checked by checkMeta
			default:
				all = append(all, a.Expr)
			}
		}
		for _, nb := range b.Blocks {
			if nb.Type == "dynamic" {
				iterators[nb.Labels[0]] = true
				if it := nb.Body.Attributes["iterator"]; it != nil {
					iterators[hcl.ExprAsKeyword(it.Expr)] = true
				}
			}
			collect(nb.Body, nb.Type)
		}
	}
	for _, path := range keysOf(c.files) {
		for _, b := range c.files[path].Blocks {
			collect(b.Body, b.Type)
		}
	}
	for _, expr := range all {
		for _, tr := range expr.Variables() {
			r := refOf(tr)
			rng := tr.SourceRange()
			switch {
			case r[0] == "var":
				if len(r) < 2 || c.variables[r[1]] == nil {
					p.add(rng, "%s: no such variable%s", r, didYouMean(at(r, 1), keysOf(c.variables)))
				}
			case r[0] == "local":
				if len(r) < 2 || c.locals[r[1]] == nil {
					p.add(rng, "%s: no such local%s", r, didYouMean(at(r, 1), keysOf(c.locals)))
				}
			case r[0] == "path", r[0] == "terraform", r[0] == "count", r[0] == "each", r[0] == "self", iterators[r[0]]:
			case r[0] == "data":
				if len(r) < 3 || c.data[r[1]+"."+r[2]] == nil {
					p.add(rng, "%s: no such data source", r)
					continue
				}
				if sb := s.data[r[1]]; sb != nil {
					if bad, ok := schemaPath(sb, r[3:]); !ok {
						p.add(rng, "%s: data source %s has no attribute %q", r, r[1], bad)
					}
				}
			default:
				if len(r) < 2 || c.resources[r[0]+"."+r[1]] == nil {
					p.add(rng, "%s: no such resource", r)
					continue
				}
				if sb := s.resources[r[0]]; sb != nil {
					if bad, ok := schemaPath(sb, r[2:]); !ok {
						all := append(keysOf(sb.Attributes), keysOf(sb.BlockTypes)...)
						p.add(rng, "%s: %s has no attribute %q%s", r, r[0], bad, didYouMean(bad, all))
					}
				}
			}
		}
	}
	return p
}

func at(r ref, i int) string {
	if i < len(r) {
		return r[i]
	}
	return ""
}

// sensitiveRef reports whether r reads an attribute the schema marks
// sensitive.
func sensitiveRef(s *providerSchemas, r ref) bool {
	var sb *schemaBlock
	path := []string(nil)
	switch {
	case r[0] == "data" && len(r) >= 4:
		sb, path = s.data[r[1]], r[3:]
	case len(r) >= 3:
		sb, path = s.resources[r[0]], r[2:]
	}
	for sb != nil && len(path) > 0 {
		if a := sb.Attributes[path[0]]; a != nil {
			return a.Sensitive
		}
		bt := sb.BlockTypes[path[0]]
		if bt == nil {
			return false
		}
		sb, path = &bt.Block, path[1:]
	}
	return false
}

// --- the tests ---------------------------------------------------------------

func TestTerraformMatchesProviderSchema(t *testing.T) {
	c := loadTerraform(t)
	s := loadSchemas(t)
	for _, p := range checkSchema(c, s) {
		t.Error(p)
	}
	if len(c.providers) != 1 || c.providers[0].Labels[0] != "yandex" {
		t.Errorf("want one provider \"yandex\" block (random needs no configuration), found %d", len(c.providers))
	}
}

func TestTerraformReferencesResolve(t *testing.T) {
	c := loadTerraform(t)
	for _, p := range checkReferences(c, loadSchemas(t)) {
		t.Error(p)
	}
}

// The schema check must catch what it is for: each snippet below is the
// valid one with one mistake, and must give exactly the problems listed.
func TestSchemaCheckCatchesMistakes(t *testing.T) {
	const valid = `
terraform {
  required_providers {
    yandex = { source = "yandex-cloud/yandex", version = ">= 0.145.0" }
    random = { source = "hashicorp/random" }
  }
}

provider "yandex" {
  folder_id = var.folder_id
}

variable "folder_id" {
  type = string
}

variable "memory" {
  type    = number
  default = 128
}

variable "labels" {
  type    = map(string)
  default = {}
}

resource "random_id" "suffix" {
  byte_length = 4
}

resource "yandex_function" "f" {
  count      = 1
  provider   = yandex
  name       = "f-${random_id.suffix.hex}"
  runtime    = "golang123"
  entrypoint = "index.Handler"
  memory     = var.memory
  user_hash  = "h"
  labels     = var.labels

  content {
    zip_filename = "f.zip"
  }

  dynamic "secrets" {
    for_each = ["A", "B"]
    content {
      id                   = "e6q"
      version_id           = "e6v"
      key                  = secrets.value
      environment_variable = secrets.value
    }
  }

  lifecycle {
    create_before_destroy = true
    ignore_changes        = [description]
  }

  depends_on = [random_id.suffix]
}

resource "yandex_storage_bucket" "b" {
  bucket = "b"
  lifecycle_rule {
    enabled = true
    filter {
      prefix = "tasks/"
    }
    expiration {
      days = 1
    }
  }
}

data "yandex_function" "existing" {
  name = "other"
}

output "version" {
  value = "${yandex_function.f[0].version} ${yandex_function.f[0].content[0].zip_filename} ${data.yandex_function.existing.memory} ${yandex_storage_bucket.b.bucket_domain_name}"
}
`
	cases := []struct {
		name, old, new string
		want           []string // substrings, one per problem
	}{
		{"valid", "", "", nil},
		{"typo in an argument", "  memory     = var.memory\n", "  memroy     = var.memory\n",
			[]string{`unknown argument "memroy" (did you mean "memory"?)`, `missing required argument "memory"`}},
		{"unknown resource type", `resource "yandex_storage_bucket" "b"`, `resource "yandex_storage_bukket" "b"`,
			[]string{`unknown resource type "yandex_storage_bukket" (did you mean "yandex_storage_bucket"?)`, `yandex_storage_bucket.b.bucket_domain_name: no such resource`}},
		{"unknown data source type", `data "yandex_function" "existing"`, `data "yandex_fnction" "existing"`,
			[]string{`unknown data type "yandex_fnction" (did you mean "yandex_function"?)`, `no such data source`}},
		{"missing required argument", "  runtime    = \"golang123\"\n", "",
			[]string{`missing required argument "runtime"`}},
		{"deprecated argument", "  bucket = \"b\"\n", "  bucket = \"b\"\n  acl    = \"private\"\n",
			[]string{`"acl" is deprecated`}},
		{"deprecated nested argument", "      prefix = \"tasks/\"\n    }\n", "    }\n    prefix = \"tasks/\"\n",
			[]string{`lifecycle_rule: "prefix" is deprecated`}},
		{"too many blocks", "  content {\n    zip_filename = \"f.zip\"\n  }\n", "  content {\n    zip_filename = \"f.zip\"\n  }\n  content {\n    zip_filename = \"g.zip\"\n  }\n",
			[]string{`at most 1 "content" block(s), found 2`}},
		{"too few blocks", "  bucket = \"b\"\n", "  bucket = \"b\"\n  server_side_encryption_configuration {\n  }\n",
			[]string{`at least 1 "rule" block(s) required, found 0`}},
		{"unknown block", "  content {\n", "  contents {\n",
			[]string{`unknown block "contents" (did you mean "content"?)`}},
		{"unknown dynamic block", `dynamic "secrets"`, `dynamic "secret"`,
			[]string{`unknown block "secret" (dynamic) (did you mean "secrets"?)`, `secrets.value: no such resource`, `secrets.value: no such resource`}},
		{"typo inside a dynamic block", "      version_id           = \"e6v\"\n", "      version              = \"e6v\"\n",
			[]string{`unknown argument "version"`, `missing required argument "version_id"`}},
		{"block written as an argument", "  content {\n    zip_filename = \"f.zip\"\n  }\n", "  content = { zip_filename = \"f.zip\" }\n",
			[]string{`"content" is a block`}},
		{"argument written as a block", "  labels     = var.labels\n", "  labels {\n  }\n",
			[]string{`"labels" is an argument`}},
		{"read-only attribute", "  user_hash  = \"h\"\n", "  user_hash  = \"h\"\n  created_at = \"now\"\n",
			[]string{`"created_at" is read-only`}},
		{"literal of the wrong type", "  memory     = var.memory\n", "  memory     = \"lots\"\n",
			[]string{`"memory" = "lots": a number is required`}},
		{"variable of the wrong type", "  memory     = var.memory\n", "  memory     = var.labels\n",
			[]string{`"memory" = var.labels: a map of string cannot be a number`}},
		{"reference to a missing attribute", "${yandex_storage_bucket.b.bucket_domain_name}", "${yandex_storage_bucket.b.domain_name}",
			[]string{`yandex_storage_bucket has no attribute "domain_name" (did you mean "bucket_domain_name"?)`}},
		{"reference into a nested block", "content[0].zip_filename", "content[0].zip_file",
			[]string{`yandex_function has no attribute "zip_file"`}},
		{"reference to a missing data attribute", "existing.memory", "existing.memroy",
			[]string{`data source yandex_function has no attribute "memroy"`}},
		{"reference to a missing variable", "memory     = var.memory", "memory     = var.memroy",
			[]string{`var.memroy: no such variable (did you mean "memory"?)`}},
		{"unknown lifecycle argument", "    create_before_destroy = true\n", "    create_before = true\n",
			[]string{`unknown lifecycle argument "create_before" (did you mean "create_before_destroy"?)`}},
		{"ignore_changes of a missing argument", "ignore_changes        = [description]", "ignore_changes        = [descripton]",
			[]string{`lifecycle.ignore_changes: no argument "descripton" (did you mean "description"?)`}},
		{"count and for_each", "  count      = 1\n", "  count      = 1\n  for_each   = toset([\"a\"])\n",
			[]string{`count and for_each together`}},
		{"provider of another type", "  provider   = yandex\n", "  provider   = random\n",
			[]string{`provider = random, want yandex or yandex.<alias>`}},
		{"credentials in the provider block", "  folder_id = var.folder_id\n", "  folder_id = var.folder_id\n  token     = \"t1.x\"\n",
			[]string{`token is a credential`}},
		{"provider not required", "    random = { source = \"hashicorp/random\" }\n", "",
			[]string{`provider "random" is not in terraform { required_providers }`}},
	}
	s := loadSchemas(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := valid
			if tc.old != "" {
				if !strings.Contains(src, tc.old) {
					t.Fatalf("the valid snippet has no %q", tc.old)
				}
				src = strings.Replace(src, tc.old, tc.new, 1)
			}
			c, parseProblems := parseTerraform(map[string][]byte{"snippet.tf": []byte(src)})
			if len(parseProblems) > 0 {
				t.Fatalf("snippet does not parse: %v", parseProblems)
			}
			got := append(checkSchema(c, s), checkReferences(c, s)...)
			left := slices.Clone(got)
			for _, w := range tc.want {
				i := slices.IndexFunc(left, func(p string) bool { return strings.Contains(p, w) })
				if i < 0 {
					t.Errorf("no problem says %q; got:\n  %s", w, strings.Join(got, "\n  "))
					continue
				}
				left = slices.Delete(left, i, i+1)
			}
			for _, p := range left {
				t.Errorf("unexpected problem: %s", p)
			}
		})
	}
}
