package main

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/connectors/people"
)

func TestEmulatePeopleServesUntilCancelled(t *testing.T) {
	t.Parallel()
	var out, errOut syncBuffer
	s := &Stdio{Out: &out, Err: &errOut, Getenv: func(string) string { return "" }}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	code := make(chan int, 1)
	go func() {
		code <- emulatePeople(ctx, s, []string{"--addr", "127.0.0.1:0", "--seed", "12", "--limits", "off"})
	}()

	rx := regexp.MustCompile(`export INFOBIP_BASE_URL=(\S+)\n  export INFOBIP_API_KEY=(\S+)\n`)
	var m []string
	for deadline := time.Now().Add(10 * time.Second); m == nil; {
		select {
		case c := <-code:
			t.Fatalf("exited with %d: %s %s", c, out.String(), errOut.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no address printed: %q", out.String())
		}
		m = rx.FindStringSubmatch(out.String())
		time.Sleep(5 * time.Millisecond)
	}
	if !strings.Contains(out.String(), "(12 persons; limits off)") || !strings.Contains(out.String(), "API key        "+m[2]) {
		t.Errorf("output: %q", out.String())
	}

	c, err := people.New(ctx, connector.Config{Name: "cdp", Settings: map[string]string{"url": m[1], "api_key": m[2]}, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	schema, err := c.Discover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ent, _ := schema.Entity("customer"); ent == nil {
		t.Fatal("no customer entity")
	} else if _, ok := ent.Field("custom.JobTitle"); !ok {
		t.Error("the seeded custom attributes are not discovered")
	}
	n := 0
	for _, entity := range []string{"customer", "lead"} {
		if err := c.Read(ctx, connector.ReadRequest{Entity: entity}, func(b connector.Batch) error { n += len(b.Records); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if n != 12 {
		t.Errorf("read %d persons, want 12", n)
	}

	cancel()
	select {
	case c := <-code:
		if c != exitOK {
			t.Errorf("exit %d: %s", c, errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("did not stop after the context was cancelled")
	}
}

func TestEmulatePeopleUsage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"--limits", "fast"}, exitUsage, "--limits must be one of off, real"},
		{[]string{"--seed", "-1"}, exitUsage, "--seed must be 0 or more"},
		{[]string{"extra"}, exitUsage, `unexpected argument "extra"`},
		{[]string{"--bogus"}, exitUsage, "unknown flag"},
		{[]string{"--help"}, exitOK, "Usage: synclang emulate people"},
		{[]string{"--addr", "256.0.0.1:1"}, exitError, "cannot listen"},
	} {
		var out, errOut syncBuffer
		s := &Stdio{Out: &out, Err: &errOut}
		if got := emulatePeople(context.Background(), s, tc.args); got != tc.code || !strings.Contains(errOut.String(), tc.err) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, got, errOut.String(), tc.code, tc.err)
		}
	}
}
