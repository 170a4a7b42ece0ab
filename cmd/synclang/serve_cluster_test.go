package main

import (
	"net"
	"os"
	"strings"
	"testing"
)

// An unreachable queue database is named by host and port, never with its
// password, and nothing starts.
func TestServeQueueUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	dir := t.TempDir()
	var out, errb syncBuffer
	s := Stdio{Out: &out, Err: &errb, Getenv: func(string) string { return "" }}
	code := Main([]string{"serve", "--queue", "postgres://synclang:hunter2-secret@" + addr + "/synclang?connect_timeout=5", "--listen", "", dir}, s)
	if code != exitError {
		t.Fatalf("exit %d, want %d\n%s", code, exitError, errb.String())
	}
	msg := errb.String()
	if strings.Contains(msg, "hunter2-secret") {
		t.Errorf("the error shows the password:\n%s", msg)
	}
	for _, want := range []string{"cannot reach the queue database", addr, "PGPASSWORD"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the error does not say %q:\n%s", want, msg)
		}
	}
}

func TestServeQueueRefusesOneSQLiteFileForSeveralProjects(t *testing.T) {
	var out, errb syncBuffer
	s := Stdio{Out: &out, Err: &errb, Getenv: func(string) string { return "" }}
	code := Main([]string{"serve", "--queue", "postgres://u@127.0.0.1:1/db", "--state", "one.db", t.TempDir(), t.TempDir()}, s)
	if code != exitUsage || !strings.Contains(errb.String(), "one.db is an SQLite file") {
		t.Errorf("exit %d, want %d with a message about --state:\n%s", code, exitUsage, errb.String())
	}
	// $SYNCLANG_STATE naming a file is refused the same way.
	var errEnv syncBuffer
	s.Err = &errEnv
	s.Getenv = func(k string) string {
		if k == stateEnv {
			return "env.db"
		}
		return ""
	}
	code = Main([]string{"serve", "--queue", "postgres://u@127.0.0.1:1/db", t.TempDir()}, s)
	if code != exitUsage || !strings.Contains(errEnv.String(), "env.db is an SQLite file") {
		t.Errorf("exit %d, want %d with a message about $%s:\n%s", code, exitUsage, stateEnv, errEnv.String())
	}
}

func TestProjectSchema(t *testing.T) {
	for _, c := range []struct{ dsn, want string }{
		{"postgres://u@h/db", "synclang_acme"},
		{"postgres://u@h/db?search_path=tenants", "tenants_acme"},
		{"postgres://u@h/db?search_path=%22t1%22,public", "t1_acme"},
	} {
		if got := projectSchema(c.dsn, "acme"); got != c.want {
			t.Errorf("projectSchema(%s) = %s, want %s", c.dsn, got, c.want)
		}
	}
}

func TestServeQueueRefusesTwoProjectsOfOneName(t *testing.T) {
	a, b := t.TempDir()+"/acme", t.TempDir()+"/acme"
	for _, d := range []string{a, b} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var out, errb syncBuffer
	s := Stdio{Out: &out, Err: &errb, Getenv: func(string) string { return "" }}
	code := Main([]string{"serve", "--queue", "postgres://u@127.0.0.1:1/db", a, b}, s)
	if code != exitUsage || !strings.Contains(errb.String(), `the same name "acme"`) {
		t.Errorf("exit %d, want %d naming the duplicate:\n%s", code, exitUsage, errb.String())
	}
}
