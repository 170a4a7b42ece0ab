package ast

import (
	"strconv"
	"strings"
)

// Unquote returns the value of a string literal as written in a .sync file:
// "double quoted" with Go escapes, 'single quoted', or `raw`. A literal that
// cannot be unquoted (the lexer never produces one) is returned as is.
func Unquote(lit string) string {
	if len(lit) < 2 {
		return lit
	}
	switch lit[0] {
	case '"':
		if s, err := strconv.Unquote(lit); err == nil {
			return s
		}
	case '`':
		return lit[1 : len(lit)-1]
	case '\'':
		body := lit[1 : len(lit)-1]
		// Re-quote as a double-quoted literal: swap the escaped quotes.
		body = strings.ReplaceAll(body, `\'`, `'`)
		body = strings.ReplaceAll(body, `"`, `\"`)
		if s, err := strconv.Unquote(`"` + body + `"`); err == nil {
			return s
		}
	}
	return lit
}
