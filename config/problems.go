package config

import (
	"fmt"
	"strings"
)

// Problem is one thing wrong with the configuration: a variable that is
// missing, or one whose value is malformed. The two call for different
// remedies (set it; correct it), so they are told apart.
type Problem struct {
	Var     string // the variable, or where in it ("EFFECTS \"a\"")
	Detail  string // what is wrong, never the value of a secret
	Missing bool
}

func (p Problem) String() string { return p.Var + ": " + p.Detail }

// Hint says what to do about the problem; where says where the variables
// are set ("in the environment photobot runs with").
func (p Problem) Hint(where string) string {
	name, _, _ := strings.Cut(p.Var, " ")
	name, _, _ = strings.Cut(name, "[")
	switch {
	case p.Missing:
		return "set it " + where
	case name == "EFFECTS" || name == "EFFECTS_FILE":
		return "correct the effects as said (README.md, Effects, lists every field)"
	}
	return "correct the value of " + name + " as said (README.md, Configuration, shows its form)"
}

// Error lists every problem of a configuration.
type Error struct {
	Problems []Problem
}

func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return "configuration is incomplete or malformed:\n  " + strings.Join(lines, "\n  ") +
		"\n(see the Configuration table in README.md)"
}

// Missing names the required variables that are unset.
func (e *Error) Missing() []string {
	var out []string
	for _, p := range e.Problems {
		if p.Missing {
			out = append(out, p.Var)
		}
	}
	return out
}

// problems collects what every section loader finds, so that Load reports
// all of them at once.
type problems struct {
	getenv func(string) string
	list   []Problem
}

// get is the variable's value, trimmed, or def when unset or blank.
func (p *problems) get(name, def string) string {
	if v := strings.TrimSpace(p.getenv(name)); v != "" {
		return v
	}
	return def
}

// need is a required variable's value; "" (and a problem) when unset.
func (p *problems) need(name string) string {
	v := p.get(name, "")
	if v == "" {
		p.list = append(p.list, Problem{Var: name, Detail: "missing; " + meaning(name), Missing: true})
	}
	return v
}

// bad records a malformed value of name.
func (p *problems) bad(name, format string, args ...any) {
	p.list = append(p.list, Problem{Var: name, Detail: fmt.Sprintf(format, args...)})
}
