package lsp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"go.lsp.dev/jsonrpc2"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/lang"
)

// Options configure a server.
type Options struct {
	// Registry holds the connection kinds, as for lang.Compile; required.
	Registry *connector.Registry
	// Dir is the project directory when the client names no root
	// (initialize's rootUri or first workspace folder); "" means none.
	Dir string
	// Debounce is how long the server waits after a change before it
	// checks the project, so a burst of keystrokes costs one check; 0
	// means DefaultDebounce, a negative value no wait.
	Debounce time.Duration
	// Log receives what the server tells no client (write failures); nil
	// discards it.
	Log io.Writer
}

// DefaultDebounce is the wait after a change. A keystroke burst from one
// edit arrives within a few milliseconds; people type slower than one
// key per 50 ms, so 20 ms coalesces the first and does not delay the
// second (issue 17 asks for diagnostics within 50 ms of a change).
const DefaultDebounce = 20 * time.Millisecond

// Serve speaks the Language Server Protocol on rwc (stdio for `synclang
// lsp`) until the client sends exit, the stream ends, or ctx is done. It
// returns nil after an orderly shutdown and exit, an error otherwise.
func Serve(ctx context.Context, rwc io.ReadWriteCloser, opts Options) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s := newServer(opts)
	s.conn = jsonrpc2.NewConn(tolerantStream{jsonrpc2.NewStream(rwc)})
	s.conn.Go(ctx, s.handle)
	done := make(chan struct{})
	go func() { defer close(done); s.diagnoseLoop(ctx) }()
	select {
	case <-s.exited:
	case <-s.conn.Done():
	case <-ctx.Done():
	}
	cancel()
	<-done
	_ = s.conn.Close()
	<-s.conn.Done()
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.shutdown && s.exit:
		return nil
	case s.exit:
		return errors.New("the client sent exit without shutdown")
	case ctx.Err() != nil && !errors.Is(context.Cause(ctx), context.Canceled):
		return ctx.Err()
	}
	return errors.New("the client closed the connection without shutdown and exit")
}

// tolerantStream answers a frame whose body is not a JSON-RPC message with
// a parse or invalid-request error and reads on, where jsonrpc2's stream
// would end the connection: one malformed message must not cost the user
// the session. Framing errors (a bad header, a truncated body) still end
// it, since after them no frame boundary can be trusted.
type tolerantStream struct{ jsonrpc2.Stream }

// maxBadFrames bounds how many malformed frames in a row the stream
// answers before it gives up on the peer.
const maxBadFrames = 1000

func (t tolerantStream) Read(ctx context.Context) (jsonrpc2.Message, int64, error) {
	for range maxBadFrames {
		msg, n, err := t.Stream.Read(ctx)
		var rpcErr *jsonrpc2.Error
		if err == nil || !errors.As(err, &rpcErr) {
			return msg, n, err
		}
		if _, werr := t.Stream.Write(ctx, jsonrpc2.NewResponse(jsonrpc2.ID{}, nil, rpcErr)); werr != nil {
			return nil, 0, werr
		}
	}
	return nil, 0, fmt.Errorf("%d malformed messages in a row", maxBadFrames)
}

type server struct {
	opts   Options
	conn   jsonrpc2.Conn
	exited chan struct{}
	wake   chan struct{}

	mu          sync.Mutex
	initialized bool
	shutdown    bool
	exit        bool
	utf8        bool
	root        string
	docs        map[string]*document // by absolute path
	dirty       map[string]bool      // project directories to check
	published   map[string]map[string]bool
	cache       parseCache
	checks      checkCaches
}

// document is an open editor buffer; it takes precedence over the file on
// disk.
type document struct {
	version int
	text    string
}

func newServer(opts Options) *server {
	if opts.Debounce == 0 {
		opts.Debounce = DefaultDebounce
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	root := ""
	if opts.Dir != "" {
		if abs, err := filepath.Abs(opts.Dir); err == nil {
			root = abs
		}
	}
	return &server{opts: opts, exited: make(chan struct{}), wake: make(chan struct{}, 1),
		root: root, docs: map[string]*document{}, dirty: map[string]bool{}, published: map[string]map[string]bool{}}
}

// errNotInitialized is the LSP's ServerNotInitialized.
var errNotInitialized = jsonrpc2.NewError(jsonrpc2.ServerNotInitialized, "the server is not initialized; send initialize first")

func invalidParams(format string, args ...any) error {
	return jsonrpc2.NewError(jsonrpc2.InvalidParams, fmt.Sprintf(format, args...))
}

// handle dispatches one message. It runs on the connection's read
// goroutine, so messages are handled in the order they were sent.
func (s *server) handle(ctx context.Context, req *jsonrpc2.Request) (any, error) {
	method := req.Method()
	params := []byte(req.Params())
	result, err := s.dispatch(ctx, method, params)
	if err != nil {
		if !req.IsCall() {
			// A notification has no answer, and jsonrpc2 ends the connection
			// on a notification handler's error: tell the user instead.
			s.logMessage(ctx, 1, fmt.Sprintf("synclang: %s: %v", method, err))
			return nil, nil
		}
		return nil, err
	}
	if result == nil {
		return nil, nil
	}
	data, err := json.Marshal(result)
	if err != nil {
		return nil, jsonrpc2.NewError(jsonrpc2.InternalError, err.Error())
	}
	return jsonrpc2.RawMessage(data), nil
}

func (s *server) dispatch(ctx context.Context, method string, params []byte) (any, error) {
	s.mu.Lock()
	initialized, shutdown := s.initialized, s.shutdown
	s.mu.Unlock()
	switch {
	case method == "exit":
		s.mu.Lock()
		if !s.exit {
			s.exit = true
			close(s.exited)
		}
		s.mu.Unlock()
		return nil, nil
	case method == "initialize":
		return s.initialize(params)
	case !initialized:
		return nil, errNotInitialized
	case shutdown:
		return nil, jsonrpc2.NewError(jsonrpc2.InvalidRequest, "the server is shutting down; only exit is accepted")
	}
	h, ok := handlers[method]
	if !ok {
		if strings.HasPrefix(method, "$/") || method == "initialized" {
			return nil, nil // optional notifications
		}
		return nil, jsonrpc2.NewError(jsonrpc2.MethodNotFound, fmt.Sprintf("synclang lsp does not implement %s", method))
	}
	return h(s, ctx, params)
}

// handlers maps the methods after initialize to their handlers; the files
// of the language features (hover.go, ...) add theirs in init.
var handlers = map[string]func(*server, context.Context, []byte) (any, error){
	"shutdown":               (*server).handleShutdown,
	"textDocument/didOpen":   (*server).didOpen,
	"textDocument/didChange": (*server).didChange,
	"textDocument/didClose":  (*server).didClose,
	"textDocument/didSave":   (*server).didSave,
	"workspace/didChangeWatchedFiles": func(s *server, _ context.Context, _ []byte) (any, error) {
		s.markAllDirty()
		return nil, nil
	},
}

func decode(params []byte, v any) error {
	if len(params) == 0 {
		return invalidParams("missing params")
	}
	if err := json.Unmarshal(params, v); err != nil {
		return invalidParams("params: %v", err)
	}
	return nil
}

func (s *server) initialize(params []byte) (any, error) {
	var p initializeParams
	if err := decode(params, &p); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.initialized {
		return nil, jsonrpc2.NewError(jsonrpc2.InvalidRequest, "initialize was already sent")
	}
	s.initialized = true
	s.utf8 = slices.Contains(p.Capabilities.General.PositionEncodings, "utf-8")
	for _, uri := range []string{p.RootURI, firstFolder(p)} {
		if dir, err := uriToPath(uri); err == nil {
			s.root = dir
			break
		}
	}
	if s.root == "" && filepath.IsAbs(p.RootPath) {
		s.root = filepath.Clean(p.RootPath)
	}
	if s.root != "" && hasSyncFiles(s.root) {
		s.markDirtyLocked(s.root)
	}
	enc := "utf-16"
	if s.utf8 {
		enc = "utf-8"
	}
	return map[string]any{
		"capabilities": capabilities(enc),
		"serverInfo":   map[string]string{"name": "synclang"},
	}, nil
}

func firstFolder(p initializeParams) string {
	if len(p.WorkspaceFolders) > 0 {
		return p.WorkspaceFolders[0].URI
	}
	return ""
}

func hasSyncFiles(dir string) bool {
	names, _ := filepath.Glob(filepath.Join(dir, "*.sync"))
	return len(names) > 0
}

// capabilities are what initialize announces; each feature file adds its
// provider.
func capabilities(enc string) map[string]any {
	c := map[string]any{
		"positionEncoding": enc,
		"textDocumentSync": map[string]any{"openClose": true, "change": 2, "save": true},
	}
	for k, v := range featureCapabilities {
		c[k] = v
	}
	return c
}

func (s *server) handleShutdown(context.Context, []byte) (any, error) {
	s.mu.Lock()
	s.shutdown = true
	s.mu.Unlock()
	return json.RawMessage("null"), nil
}

func (s *server) didOpen(_ context.Context, params []byte) (any, error) {
	var p didOpenParams
	path, err := decodeDoc(params, &p, func() string { return p.TextDocument.URI })
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.docs[path] = &document{version: p.TextDocument.Version, text: p.TextDocument.Text}
	s.markDirtyLocked(filepath.Dir(path))
	return nil, nil
}

func (s *server) didChange(_ context.Context, params []byte) (any, error) {
	var p didChangeParams
	path, err := decodeDoc(params, &p, func() string { return p.TextDocument.URI })
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.docs[path]
	if !ok {
		return nil, invalidParams("didChange for %s, which is not open", p.TextDocument.URI)
	}
	// Apply every change or none: a change the server cannot place leaves
	// the buffer as it was, and the client is told.
	src := d.text
	for i, c := range p.ContentChanges {
		next, err := newText(src, s.utf8).apply(c)
		if err != nil {
			return nil, invalidParams("change %d of version %d: %v", i+1, p.TextDocument.Version, err)
		}
		src = next
	}
	d.text, d.version = src, p.TextDocument.Version
	s.markDirtyLocked(filepath.Dir(path))
	return nil, nil
}

func (s *server) didClose(_ context.Context, params []byte) (any, error) {
	var p didCloseParams
	path, err := decodeDoc(params, &p, func() string { return p.TextDocument.URI })
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.docs, path)
	s.markDirtyLocked(filepath.Dir(path))
	return nil, nil
}

// decodeDoc decodes params into p and returns the path of the document
// uri names (read from p after decoding): the first step of every
// document notification.
func decodeDoc(params []byte, p any, uri func() string) (string, error) {
	if err := decode(params, p); err != nil {
		return "", err
	}
	path, err := uriToPath(uri())
	if err != nil {
		return "", invalidParams("%v", err)
	}
	return path, nil
}

func (s *server) didSave(context.Context, []byte) (any, error) {
	s.markAllDirty()
	return nil, nil
}

func (s *server) markAllDirty() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for dir := range s.published {
		s.markDirtyLocked(dir)
	}
}

func (s *server) markDirtyLocked(dir string) {
	s.dirty[dir] = true
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// logMessage sends window/logMessage; failures go to Options.Log.
func (s *server) logMessage(ctx context.Context, typ int, msg string) {
	if err := s.notify(ctx, "window/logMessage", logMessageParams{Type: typ, Message: msg}); err != nil {
		fmt.Fprintf(s.opts.Log, "synclang lsp: %s (and telling the client failed: %v)\n", msg, err)
	}
}

func (s *server) notify(ctx context.Context, method string, params any) error {
	data, err := json.Marshal(params)
	if err != nil {
		return err
	}
	return s.conn.Notify(ctx, method, jsonrpc2.RawMessage(data))
}

// inputs are the .sync files of the project in dir, as `synclang check
// DIR` reads them, with open buffers in place of (or beside) their files.
func (s *server) inputs(dir string) []lang.Input {
	inputs, _ := s.snapshot(dir)
	return inputs
}

// snapshot is inputs with the versions of the buffers it took, read
// together: diagnostics are published under the version they were
// computed from.
func (s *server) snapshot(dir string) ([]lang.Input, map[string]int) {
	s.mu.Lock()
	overlay := map[string]string{}
	versions := map[string]int{}
	for path, d := range s.docs {
		if filepath.Dir(path) == dir && strings.HasSuffix(path, ".sync") {
			overlay[path] = d.text
			versions[path] = d.version
		}
	}
	s.mu.Unlock()
	var inputs []lang.Input
	entries, _ := os.ReadDir(dir) // a directory that is gone has only buffers
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sync") {
			continue
		}
		if _, open := overlay[path]; open {
			continue
		}
		src, err := os.ReadFile(path)
		if err != nil {
			continue // removed since the listing
		}
		inputs = append(inputs, lang.Input{Name: path, Src: src})
	}
	for path, src := range overlay {
		inputs = append(inputs, lang.Input{Name: path, Src: []byte(src)})
	}
	sort.Slice(inputs, func(i, j int) bool { return inputs[i].Name < inputs[j].Name })
	return inputs, versions
}

// featureCapabilities are the providers initialize announces beside text
// synchronisation; the feature files add theirs in init.
var featureCapabilities = map[string]any{}
