package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/internal/kinds"
	"github.com/synclang/synclang/internal/redact"
	"github.com/synclang/synclang/lang/diag"
)

// Exit codes. Commands that report changes (plan) use their own, documented
// next to them.
const (
	exitOK    = 0
	exitError = 1 // diagnostics with errors, failed runs
	exitUsage = 2 // bad flags or arguments
)

// Stdio is what a command may touch outside its arguments. Tests pass
// buffers, a fixed environment and an HTTP client bound to emulators.
type Stdio struct {
	In       io.Reader
	Out, Err io.Writer
	Getenv   func(string) string
	// Terminal and ErrTerminal are true when Out and Err are terminals
	// (colour, progress).
	Terminal, ErrTerminal bool
	// HTTPClient, when set, is passed to connectors (tests).
	HTTPClient *http.Client
	// Registry holds the connection kinds; nil means DefaultRegistry.
	Registry *connector.Registry
	// RateScale multiplies the rate limits connectors pace themselves to
	// (connector.Config.RateScale); 0 means 1, the services' real limits.
	// Tests and the demo raise it against emulators whose limits are
	// scaled up or off.
	RateScale float64
	// CacheDir is the token cache directory connectors use; "" means the
	// per-user default.
	CacheDir string
	// Interrupt delivers SIGINT and SIGTERM to commands that stop
	// gracefully (run, serve); nil means the process's own signals.
	Interrupt <-chan os.Signal
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Secrets are the secret values this invocation knows (secret()
	// settings, tokens, URL userinfo); Main wraps Out and Err so they are
	// masked in everything printed or logged, and the state store and
	// /healthz mask them too (SPEC.md "Secrets in output"). nil means a
	// new, empty registry.
	Secrets *redact.Registry
}

// DefaultStdio is the process's real streams and environment.
func DefaultStdio() Stdio {
	return Stdio{In: os.Stdin, Out: os.Stdout, Err: os.Stderr, Getenv: os.Getenv,
		Terminal: isTerminal(os.Stdout), ErrTerminal: isTerminal(os.Stderr)}
}

// DefaultRegistry lists the connection kinds this binary knows
// (internal/kinds). It is built explicitly, not by init side effects, so
// tests can use their own.
func DefaultRegistry() *connector.Registry {
	return kinds.Registry()
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// command is one subcommand: its name, a one-line summary for `synclang
// help`, and the function that parses its own flags and runs it.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, s *Stdio, args []string) int
	// graceful commands handle SIGINT and SIGTERM themselves (the first
	// finishes the work in flight, the second aborts); Main cancels the
	// context of the others on the first signal.
	graceful bool
}

// commands lists every subcommand, in the order help prints them. Each lives
// in a file of its own (check.go, fmt.go, ...).
var commands = []*command{
	checkCmd,
	fmtCmd,
	lspCmd,
	compileCmd,
	testCmd,
	planCmd,
	runCmd,
	serveCmd,
	statusCmd,
	rejectsCmd,
	stateCmd,
	demoCmd,
	schemaCmd,
	emulateCmd,
	authCmd,
	completionCmd,
	versionCmd,
}

// Main runs synclang with args and returns the exit code.
func Main(args []string, s Stdio) int {
	if s.Getenv == nil {
		s.Getenv = func(string) string { return "" }
	}
	if s.Registry == nil {
		s.Registry = DefaultRegistry()
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Secrets == nil {
		s.Secrets = &redact.Registry{}
	}
	s.Out, s.Err = s.Secrets.Writer(s.Out), s.Secrets.Writer(s.Err)
	if len(args) > 0 && (args[0] == "--version" || args[0] == "-version") {
		args[0] = "version"
	}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		if len(args) > 1 {
			c := lookup(args[1])
			if c == nil {
				return unknownCommand(&s, args[1])
			}
			return c.run(context.Background(), &s, append([]string{"--help"}, args[2:]...))
		}
		usage(s.Err)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	c := lookup(args[0])
	if c == nil {
		return unknownCommand(&s, args[0])
	}
	if c.graceful {
		return c.run(context.Background(), &s, args[1:])
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return c.run(ctx, &s, args[1:])
}

func lookup(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// unknownCommand reports a command name that is not one, with the closest
// command when there is one (go and git do the same).
func unknownCommand(s *Stdio, name string) int {
	names := make([]string, len(commands))
	for i, c := range commands {
		names[i] = c.name
	}
	msg := fmt.Sprintf("synclang: unknown command %q", name)
	if strings.HasPrefix(name, "-") {
		msg = fmt.Sprintf("synclang: unknown flag %q: flags come after the command (synclang COMMAND [flags])", name)
	} else if hint := diag.Closest(name, names); hint != "" {
		msg += fmt.Sprintf("; did you mean %q?", hint)
	}
	fmt.Fprintf(s.Err, "%s\nRun `synclang help` for the list of commands.\n", msg)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "synclang keeps Dynamics 365 and Infobip People in sync, as declared in .sync files.")
	fmt.Fprintln(w, "\nUsage: synclang COMMAND [flags] [args]\n\nCommands:")
	width := 0
	for _, c := range commands {
		width = max(width, len(c.name))
	}
	for _, c := range commands {
		fmt.Fprintf(w, "  %-*s  %s\n", width, c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun `synclang help COMMAND` for a command's flags.")
}

// newFlags returns a flag set for a subcommand whose usage lists the flags.
func newFlags(s *Stdio, name, args, doc string) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(s.Err)
	fs.SortFlags = false
	fs.Usage = func() {
		fmt.Fprintf(s.Err, "Usage: synclang %s %s\n\n%s\n", name, args, doc)
		if fs.HasFlags() {
			fmt.Fprintf(s.Err, "\nFlags:\n%s", flagUsages(fs))
		}
	}
	return fs
}

// flagUsages lists the visible flags like pflag's FlagUsages, but shows a
// boolean flag as the switch it is ("-w, --write"), not "--write[=true|false]"
// as pflag v1.1 prints it.
func flagUsages(fs *pflag.FlagSet) string {
	type row struct{ left, usage string }
	var rows []row
	width := 0
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		left := "      --" + f.Name
		if f.Shorthand != "" && f.ShorthandDeprecated == "" {
			left = "  -" + f.Shorthand + ", --" + f.Name
		}
		varname, usage := pflag.UnquoteUsage(f)
		if f.Value.Type() != "bool" && varname != "" {
			left += " " + varname
		}
		if !isZeroDefault(f) {
			if f.Value.Type() == "string" {
				usage += fmt.Sprintf(" (default %q)", f.DefValue)
			} else {
				usage += fmt.Sprintf(" (default %s)", f.DefValue)
			}
		}
		width = max(width, len(left))
		rows = append(rows, row{left, usage})
	})
	var b strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&b, "%-*s   %s\n", width, r.left, strings.ReplaceAll(r.usage, "\n", "\n"+strings.Repeat(" ", width+3)))
	}
	return b.String()
}

func isZeroDefault(f *pflag.Flag) bool {
	switch f.DefValue {
	case "", "false", "0", "0s", "[]", "<nil>":
		return true
	}
	return false
}

// parseFlags parses args; it returns an exit code and false when the command
// must stop (help was asked for, or the flags were wrong).
func parseFlags(fs *pflag.FlagSet, args []string) (int, bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return exitOK, false
		}
		fmt.Fprintf(fs.Output(), "synclang %s: %v\n", fs.Name(), err)
		return exitUsage, false
	}
	return 0, true
}

// noArgs reports, for a command that takes flags only, that no argument
// was given; otherwise it says which was unexpected.
func noArgs(s *Stdio, fs *pflag.FlagSet) bool {
	if fs.NArg() == 0 {
		return true
	}
	fmt.Fprintf(s.Err, "synclang %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
	return false
}

// oneOf validates an enumerated flag value.
func oneOf(s *Stdio, cmd, flag, value string, allowed ...string) bool {
	for _, a := range allowed {
		if value == a {
			return true
		}
	}
	sort.Strings(allowed)
	fmt.Fprintf(s.Err, "synclang %s: --%s must be one of %s, not %q\n", cmd, flag, strings.Join(allowed, ", "), value)
	return false
}

// version is set by release builds (-ldflags "-X main.version=v1.2.3",
// see .goreleaser.yaml); otherwise it comes from the build information.
var version = ""

var versionCmd = &command{
	name:    "version",
	summary: "print the version and the source revision it was built from (also --version)",
	run: func(ctx context.Context, s *Stdio, args []string) int {
		fs := newFlags(s, "version", "", "Print synclang's module version and the version-control revision the binary was built from\n"+
			"(with \"+modified\" when the checkout had uncommitted changes), and the Go version.")
		if code, ok := parseFlags(fs, args); !ok {
			return code
		}
		if !noArgs(s, fs) {
			return exitUsage
		}
		bi, _ := debug.ReadBuildInfo()
		fmt.Fprintln(s.Out, versionLine(bi))
		return exitOK
	},
}

// versionLine is what `synclang version` prints: "synclang VERSION
// (REVISION[+modified], TIME) GOVERSION", from the build information Go
// embeds (go build in a checkout records the VCS revision; go install
// module@version records the module version).
func versionLine(bi *debug.BuildInfo) string {
	v := version
	var parts []string
	goVersion := ""
	if bi != nil {
		goVersion = bi.GoVersion
		if v == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		settings := map[string]string{}
		for _, kv := range bi.Settings {
			settings[kv.Key] = kv.Value
		}
		if rev := settings["vcs.revision"]; rev != "" {
			if len(rev) > 12 {
				rev = rev[:12]
			}
			if settings["vcs.modified"] == "true" {
				rev += "+modified"
			}
			parts = append(parts, rev)
			if t := settings["vcs.time"]; t != "" {
				parts = append(parts, t)
			}
		}
	}
	if v == "" {
		v = "(devel)"
	}
	line := "synclang " + v
	if len(parts) > 0 {
		line += " (" + strings.Join(parts, ", ") + ")"
	} else if v == "(devel)" {
		line += " (no revision recorded: built outside a checkout, or with -buildvcs=false)"
	}
	if goVersion != "" {
		line += " " + goVersion
	}
	return line
}
