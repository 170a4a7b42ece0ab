package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
)

var completionCmd = &command{
	name:    "completion",
	summary: "print a shell completion script: completion bash|zsh|fish|powershell",
}

// The scripts list every command, so run is set here, not in the literal
// (commands refers to completionCmd: an initialization cycle otherwise).
func init() { completionCmd.run = runCompletion }

const completionDoc = `Print a script that completes synclang's commands and their flags (and
file names after them) in a shell. Load it, for example:

  bash        source <(synclang completion bash)       # in ~/.bashrc
  zsh         source <(synclang completion zsh)        # in ~/.zshrc
  fish        synclang completion fish | source        # in ~/.config/fish/config.fish
  powershell  synclang completion powershell | Out-String | Invoke-Expression   # in $PROFILE`

var completionShells = []string{"bash", "zsh", "fish", "powershell"}

func runCompletion(ctx context.Context, s *Stdio, args []string) int {
	fs := newFlags(s, "completion", "bash|zsh|fish|powershell", completionDoc)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() != 1 {
		fmt.Fprintf(s.Err, "synclang completion: name the shell: %s\n", strings.Join(completionShells, ", "))
		return exitUsage
	}
	if !oneOf(s, "completion", "shell", fs.Arg(0), completionShells...) {
		return exitUsage
	}
	words := completionWords(ctx, s)
	switch fs.Arg(0) {
	case "bash":
		writeBash(s.Out, words)
	case "zsh":
		fmt.Fprintln(s.Out, "#compdef synclang\nautoload -U +X bashcompinit && bashcompinit")
		writeBash(s.Out, words)
	case "fish":
		writeFish(s.Out, words)
	case "powershell":
		writePowerShell(s.Out, words)
	}
	return exitOK
}

// completionWords maps each command to the words that may follow it: its
// subcommands and flags, read from the command's own --help, so the
// scripts cannot drift from the flags the commands parse.
func completionWords(ctx context.Context, s *Stdio) map[string][]string {
	flagRE := regexp.MustCompile(`(?m)^\s+(?:-\w, )?(--[\w-]+)`)
	subs := map[string][]string{
		"rejects": {"retry"}, "schema": {"pull"}, "auth": {"login", "status", "logout"},
		"emulate": emulatorNames(), "completion": completionShells,
	}
	out := map[string][]string{}
	for _, c := range commands {
		var buf bytes.Buffer
		sub := *s
		sub.Out, sub.Err = io.Discard, &buf
		if c != completionCmd { // it has no flags of its own; do not recurse
			c.run(ctx, &sub, []string{"--help"})
		}
		words := append([]string{}, subs[c.name]...)
		for _, m := range flagRE.FindAllStringSubmatch(buf.String(), -1) {
			words = append(words, m[1])
		}
		sort.Strings(words[len(subs[c.name]):])
		out[c.name] = words
	}
	return out
}

func commandNames() []string {
	names := make([]string, 0, len(commands)+1)
	for _, c := range commands {
		names = append(names, c.name)
	}
	return append(names, "help")
}

func writeBash(w io.Writer, words map[string][]string) {
	fmt.Fprintln(w, "# synclang completion for bash (synclang completion bash)")
	fmt.Fprintln(w, "_synclang() {")
	fmt.Fprintln(w, `  local cur=${COMP_WORDS[COMP_CWORD]}`)
	fmt.Fprintln(w, `  if [ "$COMP_CWORD" -eq 1 ]; then`)
	fmt.Fprintf(w, "    COMPREPLY=($(compgen -W %q -- \"$cur\")); return\n", strings.Join(commandNames(), " "))
	fmt.Fprintln(w, "  fi")
	fmt.Fprintln(w, `  local words=""`)
	fmt.Fprintln(w, `  case "${COMP_WORDS[1]}" in`)
	for _, c := range commands {
		fmt.Fprintf(w, "    %s) words=%q ;;\n", c.name, strings.Join(words[c.name], " "))
	}
	fmt.Fprintf(w, "    help) words=%q ;;\n", strings.Join(commandNames(), " "))
	fmt.Fprintln(w, "  esac")
	fmt.Fprintln(w, `  COMPREPLY=($(compgen -W "$words" -- "$cur") $(compgen -f -- "$cur"))`)
	fmt.Fprintln(w, "}")
	fmt.Fprintln(w, "complete -o filenames -F _synclang synclang")
}

func writeFish(w io.Writer, words map[string][]string) {
	fmt.Fprintln(w, "# synclang completion for fish (synclang completion fish)")
	for _, c := range commands {
		fmt.Fprintf(w, "complete -c synclang -n __fish_use_subcommand -a %s -d %s\n", c.name, fishQuote(c.summary))
	}
	fmt.Fprintln(w, "complete -c synclang -n __fish_use_subcommand -a help -d 'help for a command'")
	for _, c := range commands {
		for _, word := range words[c.name] {
			if name, ok := strings.CutPrefix(word, "--"); ok {
				fmt.Fprintf(w, "complete -c synclang -n '__fish_seen_subcommand_from %s' -l %s\n", c.name, name)
			} else {
				fmt.Fprintf(w, "complete -c synclang -n '__fish_seen_subcommand_from %s' -a %s\n", c.name, word)
			}
		}
	}
}

func fishQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `\'`) + "'" }

func writePowerShell(w io.Writer, words map[string][]string) {
	fmt.Fprintln(w, "# synclang completion for PowerShell (synclang completion powershell)")
	fmt.Fprintln(w, "Register-ArgumentCompleter -Native -CommandName synclang -ScriptBlock {")
	fmt.Fprintln(w, "  param($wordToComplete, $commandAst, $cursorPosition)")
	fmt.Fprintln(w, "  $words = @{")
	for _, c := range commands {
		fmt.Fprintf(w, "    '%s' = @(%s)\n", c.name, psList(words[c.name]))
	}
	fmt.Fprintf(w, "    'help' = @(%s)\n", psList(commandNames()))
	fmt.Fprintln(w, "  }")
	fmt.Fprintln(w, "  $elements = @($commandAst.CommandElements | ForEach-Object { $_.ToString() })")
	fmt.Fprintln(w, "  if ($elements.Count -le 1 -or ($elements.Count -eq 2 -and $wordToComplete -ne '')) {")
	fmt.Fprintf(w, "    $candidates = @(%s)\n", psList(commandNames()))
	fmt.Fprintln(w, "  } else { $candidates = $words[$elements[1]] }")
	fmt.Fprintln(w, "  $candidates | Where-Object { $_ -like \"$wordToComplete*\" } | ForEach-Object {")
	fmt.Fprintln(w, "    [System.Management.Automation.CompletionResult]::new($_, $_, 'ParameterValue', $_)")
	fmt.Fprintln(w, "  }")
	fmt.Fprintln(w, "}")
}

func psList(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = "'" + w + "'"
	}
	return strings.Join(q, ", ")
}
