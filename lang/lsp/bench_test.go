package lsp

import (
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/synclang/synclang/lang"
)

// benchProject writes a project of n syncs (in files of 20) next to the
// connections of the contacts example.
func benchProject(b *testing.B, dir string, n int) (first string, src string) {
	b.Helper()
	example := readExample(b, "contacts.sync")
	conns, _, _ := strings.Cut(example, "\nsync ")
	files := map[string]string{"0-connections.sync": conns}
	for f := 0; f*20 < n; f++ {
		var sb strings.Builder
		for i := f * 20; i < min(n, (f+1)*20); i++ {
			fmt.Fprintf(&sb, `
sync contacts%d {
  crm.contact <-> infobip.customer
  link  contactid <-> externalId
  match lower(emailaddress1) <-> lower(email)
  firstname     <-> firstName
  lastname      <-> lastName
  address1_city <-> city
  emailaddress1 <-> email
  jobtitle -> custom.JobTitle
  gendercode == 1 ? "MALE" : gendercode == 2 ? "FEMALE" : nil -> gender
  where crm: statecode == 0
  conflict newest
}
`, i)
		}
		files[fmt.Sprintf("syncs%02d.sync", f)] = sb.String()
	}
	writeFiles(b, dir, files)
	inputs, err := lang.Load([]string{dir})
	if err != nil {
		b.Fatal(err)
	}
	if _, diags := lang.Compile(inputs, lang.Options{Registry: registry()}); diags.HasErrors() {
		b.Fatalf("the benchmark project has errors: %v", diags[0])
	}
	return filepath.Join(dir, "syncs00.sync"), files["syncs00.sync"]
}

// cpuTime is the CPU time the process has used: on a shared machine it
// says what a change costs better than the wall clock, which counts the
// time other processes held the cores.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkCompile200 is a full lang.Compile of the benchmark project, the
// baseline the server's latency compares with.
func BenchmarkCompile200(b *testing.B) {
	dir := b.TempDir()
	benchProject(b, dir, 200)
	inputs, err := lang.Load([]string{dir})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		lang.Compile(inputs, lang.Options{Registry: registry()})
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
}

// BenchmarkChangeToDiagnostics is the time from a didChange to the
// diagnostics of the edited file on a 200-sync project (11 files), over
// the pipe, alternating a typo and its fix; with the default debounce
// wait and without it (the cost of checking). heap-MB is the server's
// live heap afterwards (the client's share included, which is small).
func BenchmarkChangeToDiagnostics(b *testing.B) {
	for _, bc := range []struct {
		name     string
		debounce time.Duration
	}{{"debounce=20ms", DefaultDebounce}, {"debounce=0", -1}} {
		b.Run(bc.name, func(b *testing.B) {
			dir := b.TempDir()
			path, src := benchProject(b, dir, 200)
			typo := strings.Replace(src, "emailaddress1 <-> email", "emailadress1 <-> email", 1)
			c := startServer(b, Options{Debounce: bc.debounce})
			c.initialize(dir)
			c.open(path, src)
			c.waitDiags(path, version(1))
			b.ResetTimer()
			cpu0 := cpuTime()
			for i := 0; i < b.N; i++ {
				text, want := src, 0
				if i%2 == 0 {
					text, want = typo, 1
				}
				c.change(path, i+2, contentChange{Text: text})
				p := c.waitDiags(path, version(i+2))
				if len(p.Diagnostics) != want {
					b.Fatalf("version %d: %d diagnostics, want %d", i+2, len(p.Diagnostics), want)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MB")
		})
	}
}
