package eval

import (
	"github.com/expr-lang/expr/vm"

	"github.com/synclang/synclang/connectors/connector"
)

// A Machine evaluates compiled expressions one after another, reusing one
// expr VM: expr.Run allocates a new VM (its stack and scopes) for every
// call, which the engine, evaluating every map of every record, cannot
// afford. A Machine is not safe for concurrent use; give each goroutine
// its own. The zero value is ready to use.
type Machine struct {
	vm vm.VM
}

// Run evaluates p in env and converts the result to the canonical value of
// type t (nil stays nil; "" keeps the result as it is). A result that does
// not fit t is a *ValueError; any other error is the expression's own
// (expr's *file.Error, with the position inside the expression).
func (m *Machine) Run(p *vm.Program, env map[string]any, t connector.Type) (any, error) {
	out, err := m.vm.Run(p, env)
	if err != nil {
		return nil, nilHint(err)
	}
	if t == "" {
		return out, nil
	}
	v, err := connector.Canonical(t, out)
	if err != nil {
		return nil, &ValueError{Type: t, Err: err}
	}
	return v, nil
}

// ValueError is an expression's result that does not fit the type asked
// for: the expression ran, and its value is what is wrong (a user fixes the
// data or the conversion, not the syntax).
type ValueError struct {
	Type connector.Type
	// Err says why, without the word "result": "…" (connector.Canonical).
	Err error
}

func (e *ValueError) Error() string { return "result " + e.Err.Error() }

func (e *ValueError) Unwrap() error { return e.Err }
