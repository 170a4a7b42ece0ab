package main

import (
	"context"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// startEmulator runs `synclang emulate KIND args...` in-process until the
// test ends and returns what it printed once it is serving.
func startEmulator(t *testing.T, kind string, args ...string) (out, errOut *syncBuffer) {
	t.Helper()
	out, errOut = &syncBuffer{}, &syncBuffer{}
	s := &Stdio{Out: out, Err: errOut, Getenv: func(string) string { return "" }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- runEmulate(ctx, s, append([]string{kind}, args...)) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("the emulator did not stop")
		}
	})
	waitFor(t, out, regexp.MustCompile(`(Press Ctrl\+C to stop\.)`))
	return out, errOut
}

// handLines are the commands printed under "Edit its data by hand".
func handLines(t *testing.T, out string) []string {
	t.Helper()
	_, rest, ok := strings.Cut(out, "Edit its data by hand")
	if !ok {
		t.Fatalf("no example of editing the data by hand:\n%s", out)
	}
	var lines []string
	for _, l := range strings.Split(rest, "\n")[1:] {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "curl ") || strings.HasPrefix(l, "TOKEN=") {
			lines = append(lines, l)
		}
	}
	return lines
}

func runShell(t *testing.T, script string) string {
	t.Helper()
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("no curl to run the printed example with")
	}
	b, err := exec.Command("bash", "-euo", "pipefail", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("the printed example failed: %v\n%s\n--- script\n%s", err, b, script)
	}
	return string(b)
}

// TestEmulatorsByHand: each emulator prints, in one style, an example of
// editing its data that works as printed (curl against the real paths, a
// token from the Dynamics emulator's sign-in endpoint), and bound to every
// interface it prints a URL a client can use and a warning (issue 13
// item 10).
func TestEmulatorsByHand(t *testing.T) {
	t.Parallel()
	out, errOut := startEmulator(t, "dynamics", "--addr", "0.0.0.0:0", "--seed", "4", "--limits", "off")
	text := out.String()
	if strings.Contains(text, "[::]") || strings.Contains(text, "0.0.0.0") || !strings.Contains(text, "export DYNAMICS_URL=http://127.0.0.1:") {
		t.Errorf("dynamics on 0.0.0.0 printed an unusable URL:\n%s", text)
	}
	if !strings.Contains(errOut.String(), "warning: listening on every interface") {
		t.Errorf("dynamics on 0.0.0.0: no warning: %q", errOut.String())
	}
	lines := handLines(t, text)
	if len(lines) != 3 {
		t.Fatalf("dynamics printed %d example commands:\n%s", len(lines), text)
	}
	id := regexp.MustCompile(`contacts\(([0-9a-f-]+)\)`).FindStringSubmatch(lines[2])
	if id == nil {
		t.Fatalf("no contact ID in %q", lines[2])
	}
	base := regexp.MustCompile(`export DYNAMICS_URL=(\S+)`).FindStringSubmatch(text)[1]
	got := runShell(t, strings.Join(lines, "\n")+"\n"+`echo; curl -s -H "Authorization: Bearer $TOKEN" '`+base+`/api/data/v9.2/contacts(`+id[1]+`)?$select=jobtitle'`)
	if !strings.Contains(got, `"value":[`) || !strings.Contains(got, `"jobtitle":"CTO"`) {
		t.Errorf("the dynamics example did not list and edit a contact:\n%s", got)
	}

	out, errOut = startEmulator(t, "people", "--addr", "0.0.0.0:0", "--seed", "4", "--limits", "off")
	text = out.String()
	if strings.Contains(text, "[::]") || !strings.Contains(text, "export INFOBIP_BASE_URL=http://127.0.0.1:") ||
		!strings.Contains(errOut.String(), "warning: listening on every interface") {
		t.Errorf("people on 0.0.0.0:\n%s\n%s", text, errOut)
	}
	lines = handLines(t, text)
	if len(lines) != 2 {
		t.Fatalf("people printed %d example commands:\n%s", len(lines), text)
	}
	get := strings.Replace(strings.Replace(lines[1], "-X PATCH ", "", 1), `-H 'Content-Type: application/json' -d '{"city":"Rijeka"}' `, "", 1)
	got = runShell(t, strings.Join(lines, "\n")+"\necho\n"+get)
	if !strings.Contains(got, `"persons":[`) || !strings.Contains(got, `"city":"Rijeka"`) {
		t.Errorf("the people example did not list and edit a person:\n%s", got)
	}
	// The two print in one style.
	for _, want := range []string{" emulator serving on http://127.0.0.1:", "For examples/contacts.sync:", "\n  export ", "Press Ctrl+C to stop."} {
		if !strings.Contains(text, want) || !strings.Contains(out.String(), want) {
			t.Errorf("people output lacks %q", want)
		}
	}
}
