package lsp

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/txtar"

	"github.com/synclang/synclang/lang"
	"github.com/synclang/synclang/lang/diag"
)

// TestDiagnosticsAreCheck holds the published diagnostics equal to what
// `synclang check DIR` prints, over every case of the checker's testdata:
// the LSP diagnostics are turned back into synclang diagnostics (ranges
// converted back from UTF-16 positions) and rendered by the same renderer.
func TestDiagnosticsAreCheck(t *testing.T) {
	cases, _ := filepath.Glob("../check/testdata/*.txtar")
	if len(cases) < 10 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, path := range cases {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txtar"), func(t *testing.T) {
			ar, err := txtar.ParseFile(path)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			files := map[string]string{}
			var open []string
			for _, f := range ar.Files {
				if strings.HasPrefix(f.Name, "out/") {
					continue
				}
				files[f.Name] = string(f.Data)
				if strings.HasSuffix(f.Name, ".sync") {
					open = append(open, f.Name)
				}
			}
			writeFiles(t, dir, files)
			want := checkOutput(t, dir)

			c := startServer(t, Options{})
			c.initialize(dir)
			// Open every other file: the rest the server reads from disk.
			for i, name := range open {
				if i%2 == 0 {
					c.open(filepath.Join(dir, name), files[name])
				}
			}
			got := map[string][]Diagnostic{}
			for i, name := range open {
				p := c.waitDiags(filepath.Join(dir, name), func(p PublishDiagnosticsParams) bool {
					return i%2 == 1 || p.Version != nil
				})
				got[filepath.Join(dir, name)] = p.Diagnostics
			}
			if rendered := renderLSP(t, dir, got); rendered != want {
				t.Errorf("the server's diagnostics differ from synclang check's\n--- check\n%s\n--- lsp\n%s", want, rendered)
			}
		})
	}
}

// checkOutput renders what `synclang check DIR` prints for the project
// (loadProjectWithTests, compileProject and writeDiags in cmd/synclang).
func checkOutput(t *testing.T, dir string) string {
	t.Helper()
	inputs, err := lang.LoadWithTests(context.Background(), []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	_, diags := lang.Compile(inputs, lang.Options{Registry: registry()})
	var buf bytes.Buffer
	if err := diag.Write(&buf, diags, lang.Sources(inputs), diag.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// renderLSP turns LSP diagnostics back into synclang's and renders them.
func renderLSP(t *testing.T, dir string, byFile map[string][]Diagnostic) string {
	t.Helper()
	inputs, err := lang.LoadWithTests(context.Background(), []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	sources := lang.Sources(inputs)
	toRange := func(uri string, r Range) diag.Range {
		path, err := uriToPath(uri)
		if err != nil {
			t.Fatal(err)
		}
		src := sources[path]
		if src == nil {
			t.Fatalf("a diagnostic names %s, not a file of the project", uri)
		}
		tx := newText(string(src.Text), false)
		start, end, err := tx.span(r)
		if err != nil {
			t.Fatal(err)
		}
		return diag.Range{Filename: path, Start: src.Pos(start), End: src.Pos(end)}
	}
	var diags diag.Diagnostics
	for path, list := range byFile {
		for _, ld := range list {
			summary, detail, _ := strings.Cut(ld.Message, "\n")
			d := &diag.Diagnostic{Code: ld.Code, Summary: summary, Detail: detail, Subject: toRange(pathToURI(path), ld.Range)}
			d.Masked = ld.Data != nil && ld.Data.Masked
			if ld.Severity == 2 {
				d.Severity = diag.Warning
			}
			if ld.Source != "synclang" {
				t.Errorf("source = %q", ld.Source)
			}
			for _, r := range ld.RelatedInformation {
				d.Related = append(d.Related, diag.Related{Message: r.Message, Subject: toRange(r.Location.URI, r.Location.Range)})
			}
			diags = append(diags, d)
		}
	}
	var buf bytes.Buffer
	if err := diag.Write(&buf, diags.Sort(), sources, diag.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

const contactsTypo = "emailadress1"

// TestEditCycle opens an example, introduces a typo, gets the diagnostic
// with its range, fixes it and gets none; the buffer wins over the file
// on disk throughout.
func TestEditCycle(t *testing.T) {
	dir := t.TempDir()
	src := readExample(t, "contacts.sync")
	writeFiles(t, dir, map[string]string{"contacts.sync": src})
	path := filepath.Join(dir, "contacts.sync")
	c := startServer(t, Options{})
	c.initialize(dir)
	c.open(path, src)
	if p := c.waitDiags(path, version(1)); len(p.Diagnostics) != 0 {
		t.Fatalf("the example has diagnostics: %+v", p.Diagnostics)
	}
	off := strings.Index(src, "emailaddress1")
	if off < 0 {
		t.Fatal("the example maps no emailaddress1")
	}
	tx := newText(src, false)
	start, end := tx.position(off), tx.position(off+len("emailaddress1"))
	c.change(path, 2, contentChange{Range: &Range{Start: start, End: end}, Text: contactsTypo})
	p := c.waitDiags(path, version(2))
	if len(p.Diagnostics) != 1 || p.Diagnostics[0].Code != "unknown-field" {
		t.Fatalf("after the typo: %+v", p.Diagnostics)
	}
	d := p.Diagnostics[0]
	if want := (Range{Start: start, End: Position{start.Line, start.Character + len(contactsTypo)}}); d.Range != want {
		t.Errorf("range = %+v, want %+v", d.Range, want)
	}
	if !strings.Contains(d.Message, `Did you mean "emailaddress1"?`) {
		t.Errorf("message = %q", d.Message)
	}
	c.change(path, 3, contentChange{Text: src})
	if p := c.waitDiags(path, version(3)); len(p.Diagnostics) != 0 {
		t.Fatalf("after the fix: %+v", p.Diagnostics)
	}
	var none any
	c.mustCall("shutdown", nil, &none)
	c.notify("exit", nil)
	select {
	case err := <-c.served:
		if err != nil {
			t.Errorf("Serve after shutdown and exit: %v", err)
		}
		c.served <- nil
	case <-time.After(timeout):
		t.Fatal("the server did not exit")
	}
}

// TestProjectSpansFiles: a change in one buffer re-checks its project, and
// the diagnostics of another file of it (closed, read from disk) follow.
func TestProjectSpansFiles(t *testing.T) {
	dir := t.TempDir()
	src := readExample(t, "contacts.sync")
	conns, syncs, ok := strings.Cut(src, "\nsync ")
	if !ok {
		t.Fatal("the example has no sync")
	}
	writeFiles(t, dir, map[string]string{"conns.sync": conns, "syncs.sync": "sync " + syncs})
	c := startServer(t, Options{})
	c.initialize(dir)
	c.waitDiags(filepath.Join(dir, "syncs.sync"), func(p PublishDiagnosticsParams) bool { return len(p.Diagnostics) == 0 })
	connsPath := filepath.Join(dir, "conns.sync")
	c.open(connsPath, strings.Replace(conns, "connection crm ", "connection crmx ", 1))
	p := c.waitDiags(filepath.Join(dir, "syncs.sync"), func(p PublishDiagnosticsParams) bool { return len(p.Diagnostics) > 0 })
	if !strings.Contains(codes(p), "unknown-connection") {
		t.Errorf("syncs.sync after renaming the connection in the buffer: %s", codes(p))
	}
	c.notify("textDocument/didClose", map[string]any{"textDocument": map[string]any{"uri": pathToURI(connsPath)}})
	c.waitDiags(filepath.Join(dir, "syncs.sync"), func(p PublishDiagnosticsParams) bool { return len(p.Diagnostics) == 0 })
}

// TestBadInput: malformed messages, unknown methods, out-of-range positions
// and requests out of order get errors, and the server goes on answering.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	c := startServer(t, Options{})
	if err := c.call("textDocument/hover", map[string]any{}, nil); rpcCode(err) != -32002 {
		t.Errorf("hover before initialize: %v", err)
	}
	c.initialize(dir)
	if err := c.call("initialize", map[string]any{}, nil); rpcCode(err) != -32600 {
		t.Errorf("second initialize: %v", err)
	}
	if err := c.call("no/such", map[string]any{}, nil); rpcCode(err) != -32601 {
		t.Errorf("unknown method: %v", err)
	}
	path := filepath.Join(dir, "a.sync")
	c.open(path, "sync x {\n}\n")
	c.waitDiags(path, version(1))
	// A change past the end is refused and leaves the buffer as it was.
	c.change(path, 2, contentChange{Range: &Range{Start: Position{10, 0}, End: Position{10, 1}}, Text: "x"})
	c.change(path, 3, contentChange{Range: &Range{Start: Position{0, 5}, End: Position{0, 2}}, Text: "x"})
	c.change(path, 4, contentChange{Range: &Range{Start: Position{-1, 0}, End: Position{0, 0}}, Text: "x"})
	c.notify("textDocument/didChange", map[string]any{"textDocument": "nonsense"})
	c.notify("textDocument/didOpen", map[string]any{"textDocument": map[string]any{"uri": "http://example.com/a.sync", "text": ""}})
	c.change(path, 5, contentChange{Range: &Range{Start: Position{0, 0}, End: Position{0, 0}}, Text: "# ok\n"})
	c.waitDiags(path, version(5))
	c.mu.Lock()
	logs := strings.Join(c.logs, "\n")
	c.mu.Unlock()
	for _, want := range []string{"past the end of the document", "ends before it starts", "is negative", "params", "file:// documents only"} {
		if !strings.Contains(logs, want) {
			t.Errorf("no log message says %q; logs:\n%s", want, logs)
		}
	}

	// Raw frames: a body that is not JSON, and one that is not a request,
	// each get an error response, and the connection goes on.
	for _, body := range []string{"{not json", `{"jsonrpc":"2.0","method":1}`, `[]`} {
		resp := rawCall(t, body)
		if !strings.Contains(resp, `"error"`) || !strings.Contains(resp, `"id":null`) {
			t.Errorf("body %q: response %s", body, resp)
		}
	}
	var none any
	c.mustCall("shutdown", nil, &none)
}

// rawCall writes one frame to a new server and returns the server's
// answer, after checking that the connection still answers a request.
func rawCall(t *testing.T, body string) string {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	done := make(chan error, 1)
	go func() { done <- Serve(t.Context(), a, Options{Registry: registry()}) }()
	_ = b.SetDeadline(time.Now().Add(timeout))
	if _, err := fmt.Fprintf(b, "Content-Length: %d\r\n\r\n%s", len(body), body); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(b)
	n := 0
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the answer to %q: %v", body, err)
		}
		line = strings.TrimSpace(line)
		if line == "" {
			break
		}
		if v, ok := strings.CutPrefix(line, "Content-Length: "); ok {
			n, _ = strconv.Atoi(v)
		}
	}
	resp := make([]byte, n)
	if _, err := io.ReadFull(r, resp); err != nil {
		t.Fatal(err)
	}
	// The same connection still answers a request.
	req := `{"jsonrpc":"2.0","id":7,"method":"initialize","params":{"capabilities":{}}}`
	fmt.Fprintf(b, "Content-Length: %d\r\n\r\n%s", len(req), req)
	line, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "Content-Length") {
		t.Errorf("after %q the server does not answer: %q %v", body, line, err)
	}
	b.Close()
	<-done
	return string(resp)
}
