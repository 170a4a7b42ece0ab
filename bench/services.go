package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	dynemu "github.com/synclang/synclang/connectors/dynamics/emulator"
	"github.com/synclang/synclang/connectors/emulate"
	pplemu "github.com/synclang/synclang/connectors/people/emulator"
)

// services are the two emulators a measurement runs against: in this
// process (dyn and ppl set, so a measurement can change records between
// passes), or in a child process (dyn and ppl nil), so the memory this
// process uses is the runtime's, not the emulators' copies of the records.
type services struct {
	dyn *dynemu.Emulator
	ppl *pplemu.Emulator
	// settings are the connection settings of each emulator, by kind
	// ("dynamics", "people").
	settings map[string]map[string]string
	// pid is the child process serving the emulators (0 when in process).
	pid   int
	close func() error
}

// serviceOptions say how to start the emulators.
type serviceOptions struct {
	// Contacts is the number of Dynamics contacts seeded (plus about a
	// quarter as many leads; see the Dynamics emulator's Seed).
	Contacts int
	// Limits is "real", "sliding" or "off"; Scale shrinks the limits' time windows.
	Limits string
	Scale  float64
}

// jobTitle is the People custom attribute examples/contacts.sync declares;
// an empty People account must define it before the connector writes it.
const jobTitle = "JobTitle"

// startInProcess serves both emulators from this process on loopback
// listeners.
func startInProcess(o serviceOptions) (*services, error) {
	// Dataverse documents a sliding window already (service protection:
	// "within the 5 minute sliding window"): its emulator takes "sliding"
	// as "real", so the mode changes People only.
	dyn := dynemu.New(dynemu.Options{Seed: o.Contacts, Limits: emulate.Limits(o.Limits), TimeScale: o.Scale})
	ppl := pplemu.New(pplemu.Options{Limits: emulate.Limits(o.Limits), TimeScale: o.Scale})
	if err := ppl.DefineAttribute(jobTitle, "STRING"); err != nil {
		return nil, err
	}
	dynURL, closeDyn, err := serve(dyn)
	if err != nil {
		return nil, err
	}
	pplURL, closePpl, err := serve(ppl)
	if err != nil {
		closeDyn()
		return nil, err
	}
	return &services{
		dyn: dyn, ppl: ppl,
		settings: map[string]map[string]string{"dynamics": dyn.Settings(dynURL), "people": ppl.Settings(pplURL)},
		close: func() error {
			closeDyn()
			closePpl()
			return nil
		},
	}, nil
}

// serve starts an HTTP server for h on a loopback port.
func serve(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}

// childEnv, set in a child's environment, makes the bench program (or the
// test binary) serve emulators instead of measuring: see serveChild.
const childEnv = "SYNCLANG_BENCH_EMULATORS"

// startChild runs the emulators in a child process (this executable, with
// childEnv set): it seeds them, prints their settings as one JSON line, and
// serves until its standard input closes.
func startChild(ctx context.Context, o serviceOptions) (*services, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	spec, _ := json.Marshal(o)
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), childEnv+"="+string(spec))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	var waitOnce sync.Once
	var waitErr error
	wait := func() error {
		waitOnce.Do(func() {
			stdin.Close()
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case waitErr = <-done:
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Kill()
				waitErr = <-done
			}
		})
		return waitErr
	}
	type ready struct {
		settings map[string]map[string]string
		err      error
	}
	got := make(chan ready, 1)
	go func() {
		line, err := bufio.NewReader(stdout).ReadBytes('\n')
		if err != nil {
			got <- ready{err: fmt.Errorf("emulator process: %w", err)}
			return
		}
		var s map[string]map[string]string
		if err := json.Unmarshal(line, &s); err != nil {
			got <- ready{err: fmt.Errorf("emulator process said %q: %w", line, err)}
			return
		}
		got <- ready{settings: s}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case r := <-got:
		if r.err != nil {
			_ = wait()
			return nil, r.err
		}
		return &services{settings: r.settings, pid: cmd.Process.Pid, close: wait}, nil
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		_ = wait()
		return nil, ctx.Err()
	}
}

// serveChild is the child's side of startChild; spec is childEnv's value.
func serveChild(spec string, stdin io.Reader, stdout io.Writer) error {
	var o serviceOptions
	if err := json.Unmarshal([]byte(spec), &o); err != nil {
		return fmt.Errorf("%s: %w", childEnv, err)
	}
	s, err := startInProcess(o)
	if err != nil {
		return err
	}
	defer s.close()
	line, _ := json.Marshal(s.settings)
	if _, err := fmt.Fprintf(stdout, "%s\n", line); err != nil {
		return err
	}
	// Serve until the parent closes our standard input (or exits).
	_, err = io.Copy(io.Discard, stdin)
	if errors.Is(err, io.EOF) {
		err = nil
	}
	return err
}

// cpuSeconds returns the user+system CPU time of process pid (0: this
// process) from /proc, or 0 when it cannot be read.
func cpuSeconds(pid int) float64 {
	path := "/proc/self/stat"
	if pid > 0 {
		path = "/proc/" + strconv.Itoa(pid) + "/stat"
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	// Fields after the command name (which may hold spaces) in parentheses.
	s := string(data)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:]
	}
	f := strings.Fields(s)
	// utime and stime are fields 14 and 15 of the line, 12 and 13 after
	// the name, in clock ticks (USER_HZ, 100 on Linux).
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100
}
