package lsp

import (
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzEdits applies a sequence of edits taken from the input to an open
// example and asks for every feature at positions taken from it. The
// server must answer each request (an error for a bad position is fine,
// a lost connection is not), keep the buffer the client has, and publish
// the diagnostics of the last version.
func FuzzEdits(f *testing.F) {
	f.Add([]byte("\x05\x02\x00\x03xyz\x01\x10\x04\x00"))
	f.Add([]byte("\x0e\x0b\x00\x00custom[\"\x02\x0e\x0c\x00"))
	f.Add([]byte("\xff\xff\xff\xff\x00\x00\x00\x00\x00\x00\x00\x00"))
	f.Add([]byte("\x12\x00\x40\x00}\x00\x00\x00\x00é😀\r\n\x00"))
	seed := readExample(f, "contacts.sync")
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, "contacts.sync")
		writeFiles(t, dir, map[string]string{"contacts.sync": seed})
		c := startServer(t, Options{})
		c.initialize(dir)
		c.open(path, seed)
		model := seed
		ver := 1
		for step := 0; len(data) >= 5 && step < 8; step++ {
			line, char, n, op := int(data[0]), int(data[1]), int(data[2]), data[3]
			k := min(int(data[4]), len(data)-5)
			// JSON carries text as UTF-8: the client sends what it can encode.
			insert := strings.ToValidUTF8(string(data[5:5+k]), "?")
			data = data[5+k:]
			tx := newText(model, false)
			start := Position{Line: line % (len(tx.lines) + 1), Character: char}
			end := tx.position(0)
			if off, err := tx.offset(start); err == nil {
				end = tx.position(off + n)
			}
			ver++
			change := contentChange{Range: &Range{Start: start, End: end}, Text: insert}
			c.change(path, ver, change)
			if next, err := tx.apply(change); err == nil {
				model = next
			} else {
				ver-- // the server refuses it too and keeps its buffer and version
			}
			checkRoundTrip(t, newText(model, false))
			params := posParams(path, start)
			var err error
			switch op % 7 {
			case 0:
				err = c.call("textDocument/hover", params, nil)
			case 1:
				err = c.call("textDocument/completion", params, nil)
			case 2:
				err = c.call("textDocument/definition", params, nil)
			case 3:
				params["context"] = map[string]any{"includeDeclaration": true}
				err = c.call("textDocument/references", params, nil)
			case 4:
				err = c.call("textDocument/codeAction", map[string]any{"textDocument": params["textDocument"], "range": Range{Start: start, End: end}}, nil)
			case 5:
				err = c.call("textDocument/formatting", map[string]any{"textDocument": params["textDocument"]}, nil)
			case 6:
				err = c.call("textDocument/documentSymbol", map[string]any{"textDocument": params["textDocument"]}, nil)
			}
			if code := rpcCode(err); err != nil && code != -32602 && code != -32803 {
				t.Fatalf("step %d (op %d): %v", step, op%7, err)
			}
		}
		c.waitDiags(path, version(ver))
		var syms []documentSymbol
		if err := c.call("textDocument/documentSymbol", map[string]any{"textDocument": map[string]any{"uri": pathToURI(path)}}, &syms); err != nil {
			t.Fatalf("the server stopped answering: %v", err)
		}
	})
}

// checkRoundTrip: every character boundary converts to a position and back.
func checkRoundTrip(t *testing.T, tx *text) {
	t.Helper()
	for off := 0; off <= len(tx.src); off++ {
		if off < len(tx.src) && !utf8.RuneStart(tx.src[off]) {
			continue
		}
		if off > 0 && off < len(tx.src) && tx.src[off-1] == '\r' && tx.src[off] == '\n' {
			continue // between \r and \n: the end of the line
		}
		got, err := tx.offset(tx.position(off))
		if err != nil || got != off {
			t.Fatalf("offset %d → %+v → %d (%v) in %q", off, tx.position(off), got, err, tx.src)
		}
	}
}
