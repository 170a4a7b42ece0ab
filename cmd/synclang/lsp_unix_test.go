//go:build unix

package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestLSPExitsWithStdinOpen: `synclang lsp` exits after shutdown and exit
// while the client keeps its end of stdin open, as VS Code's client does
// (it waits for the process to end before it closes the pipe). Before
// closableStdin the server waited for its blocked stdin read for ever.
func TestLSPExitsWithStdinOpen(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "synclang") // the test binary runs as synclang (TestMain)
	data, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "lsp", t.TempDir())
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	send := func(msg string) {
		if _, err := fmt.Fprintf(stdin, "Content-Length: %d\r\n\r\n%s", len(msg), msg); err != nil {
			t.Fatal(err)
		}
	}
	r := bufio.NewReader(stdout)
	answer := func() {
		var n int
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("reading an answer: %v", err)
			}
			if line == "\r\n" {
				break
			}
			fmt.Sscanf(line, "Content-Length: %d", &n)
		}
		if _, err := io.CopyN(io.Discard, r, int64(n)); err != nil {
			t.Fatal(err)
		}
	}
	send(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"processId":null,"rootUri":null,"capabilities":{}}}`)
	answer()
	send(`{"jsonrpc":"2.0","method":"initialized","params":{}}`)
	send(`{"jsonrpc":"2.0","id":2,"method":"shutdown"}`)
	answer()
	send(`{"jsonrpc":"2.0","method":"exit"}`)
	go io.Copy(io.Discard, r)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("synclang lsp after shutdown and exit: %v", err)
		}
	case <-time.After(60 * time.Second): // generous: it exits at once
		cmd.Process.Kill()
		t.Fatal("synclang lsp did not exit within 60 s of the exit notification while its stdin stayed open")
	}
}
