package lsp

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.lsp.dev/jsonrpc2"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/internal/kinds"
)

// timeout bounds every wait of these tests; generous for a loaded machine.
const timeout = 10 * time.Second

func registry() *connector.Registry { return kinds.Registry() }

// client drives a server over an in-memory pipe through JSON-RPC, as an
// editor does over stdio.
type client struct {
	t      testing.TB
	conn   jsonrpc2.Conn
	raw    net.Conn
	served chan error

	mu    sync.Mutex
	diags map[string][]PublishDiagnosticsParams // by URI, in arrival order
	logs  []string
	news  chan struct{}
}

func startServer(t testing.TB, opts Options) *client {
	t.Helper()
	if opts.Registry == nil {
		opts.Registry = registry()
	}
	if opts.Debounce == 0 {
		opts.Debounce = time.Millisecond
	}
	a, b := net.Pipe()
	c := &client{t: t, raw: b, served: make(chan error, 1), diags: map[string][]PublishDiagnosticsParams{}, news: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { c.served <- Serve(ctx, a, opts) }()
	c.conn = jsonrpc2.NewConn(jsonrpc2.NewStream(b))
	c.conn.Go(ctx, c.handle)
	t.Cleanup(func() {
		cancel()
		_ = c.conn.Close()
		select {
		case <-c.served:
		case <-time.After(timeout):
			t.Error("the server did not stop")
		}
	})
	return c
}

func (c *client) handle(_ context.Context, req *jsonrpc2.Request) (any, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch req.Method() {
	case "textDocument/publishDiagnostics":
		var p PublishDiagnosticsParams
		if err := json.Unmarshal(req.Params(), &p); err != nil {
			c.t.Errorf("publishDiagnostics: %v", err)
			return nil, nil
		}
		c.diags[p.URI] = append(c.diags[p.URI], p)
	case "window/logMessage":
		c.logs = append(c.logs, string(req.Params()))
	}
	select {
	case c.news <- struct{}{}:
	default:
	}
	return nil, nil
}

// call sends a request and decodes its result.
func (c *client) call(method string, params, result any) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	data, err := json.Marshal(params)
	if err != nil {
		return err
	}
	var raw jsonrpc2.RawMessage
	if _, err := c.conn.Call(ctx, method, jsonrpc2.RawMessage(data), &raw); err != nil {
		return err
	}
	if result == nil {
		return nil
	}
	return json.Unmarshal(raw, result)
}

func (c *client) mustCall(method string, params, result any) {
	c.t.Helper()
	if err := c.call(method, params, result); err != nil {
		c.t.Fatalf("%s: %v", method, err)
	}
}

func (c *client) notify(method string, params any) {
	c.t.Helper()
	data, err := json.Marshal(params)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := c.conn.Notify(context.Background(), method, jsonrpc2.RawMessage(data)); err != nil {
		c.t.Fatalf("%s: %v", method, err)
	}
}

func (c *client) initialize(root string) {
	c.t.Helper()
	params := map[string]any{"capabilities": map[string]any{}}
	if root != "" {
		params["rootUri"] = pathToURI(root)
	}
	var res struct {
		Capabilities map[string]any `json:"capabilities"`
	}
	c.mustCall("initialize", params, &res)
	if res.Capabilities["positionEncoding"] != "utf-16" {
		c.t.Fatalf("positionEncoding = %v, want utf-16", res.Capabilities["positionEncoding"])
	}
	c.notify("initialized", map[string]any{})
}

func (c *client) open(path, src string) {
	c.t.Helper()
	c.notify("textDocument/didOpen", map[string]any{"textDocument": map[string]any{
		"uri": pathToURI(path), "languageId": "synclang", "version": 1, "text": src}})
}

func (c *client) change(path string, version int, changes ...contentChange) {
	c.t.Helper()
	c.notify("textDocument/didChange", didChangeParams{
		TextDocument: versionedTextDocumentIdentifier{URI: pathToURI(path), Version: version}, ContentChanges: changes})
}

// waitDiags waits until the latest diagnostics published for path satisfy
// ok, and returns them.
func (c *client) waitDiags(path string, ok func(PublishDiagnosticsParams) bool) PublishDiagnosticsParams {
	c.t.Helper()
	uri := pathToURI(path)
	deadline := time.After(timeout)
	for {
		c.mu.Lock()
		list := c.diags[uri]
		var last *PublishDiagnosticsParams
		if len(list) > 0 {
			last = &list[len(list)-1]
		}
		c.mu.Unlock()
		if last != nil && ok(*last) {
			return *last
		}
		select {
		case <-c.news:
		case <-deadline:
			c.t.Fatalf("no diagnostics for %s as wanted; last: %+v (version %v); log: %s", path, last, versionOf(last), strings.Join(c.logs, "\n"))
		}
	}
}

// version is a waitDiags condition: diagnostics of buffer version v.
func version(v int) func(PublishDiagnosticsParams) bool {
	return func(p PublishDiagnosticsParams) bool { return p.Version != nil && *p.Version == v }
}

func writeFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, src := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func readExample(t testing.TB, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "examples", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func rpcCode(err error) jsonrpc2.Code {
	var e *jsonrpc2.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

func codes(p PublishDiagnosticsParams) string {
	var cs []string
	for _, d := range p.Diagnostics {
		cs = append(cs, d.Code)
	}
	return strings.Join(cs, ",")
}

func versionOf(p *PublishDiagnosticsParams) any {
	if p == nil || p.Version == nil {
		return nil
	}
	return *p.Version
}
