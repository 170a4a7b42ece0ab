package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/lang/plan"
	"github.com/synclang/synclang/runtime/cluster"
)

// The deploy/ files are checked here as far as this machine can: the YAML
// and JSON parse, every metric an alert or a dashboard panel names is one
// serve exports, compose has what its comment promises, and promtool (when
// installed: Debian's prometheus package) loads the rules. Building the
// image needs base images this machine cannot pull (deploy/README.md).

// meteredConn is a connector that only counts requests, for the metric
// names of a connection.
type meteredConn struct{ connector.Connector }

func (meteredConn) Stats() connector.Stats { return connector.Stats{} }

type fakeClusterStats struct{}

func (fakeClusterStats) Stats() cluster.Stats { return cluster.Stats{} }
func (fakeClusterStats) Events() map[string]int64 {
	return map[string]int64{"job_snoozed": 1}
}
func (fakeClusterStats) JobStates(context.Context) (map[string]int64, error) {
	return map[string]int64{"running": 1}, nil
}

// exportedMetrics are the names serve --queue exports, with each
// histogram's _bucket, _sum and _count series.
func exportedMetrics(t *testing.T) map[string]bool {
	set := newMetricSet(true)
	ss := &session{plan: &plan.Plan{Connections: []*plan.Connection{{Name: "crm", Kind: "dynamics"}}},
		conns: map[string]connector.Connector{"crm": meteredConn{}},
		syncs: []*plan.Sync{{Name: "contacts"}}}
	m := set.attach(ss, "acme")
	m.duration.WithLabelValues("contacts").Observe(1)
	m.records.WithLabelValues("contacts", "left-to-right", "rejected").Inc()
	m.lastPass.WithLabelValues("contacts").Set(1)
	m.lastSuccess.WithLabelValues("contacts").Set(1)
	m.links.WithLabelValues("contacts").Set(1)
	lag := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "synclang_queue_lag_seconds", Help: "lag"})
	lag.Observe(1)
	registerClusterMetrics(set.reg, fakeClusterStats{}, lag)
	mfs, err := set.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		n := mf.GetName()
		names[n] = true
		if mf.GetType().String() == "HISTOGRAM" {
			names[n+"_bucket"], names[n+"_sum"], names[n+"_count"] = true, true, true
		}
	}
	return names
}

var metricName = regexp.MustCompile(`\b(synclang_[a-z_]+|up)\b`)

func checkNamed(t *testing.T, where, expr string, exported map[string]bool, used map[string]bool) {
	t.Helper()
	for _, n := range metricName.FindAllString(expr, -1) {
		if n == "up" {
			continue // Prometheus's own
		}
		used[n] = true
		if !exported[n] {
			t.Errorf("%s uses %s, which serve does not export", where, n)
		}
	}
}

func TestDeployFilesNameExportedMetrics(t *testing.T) {
	t.Parallel()
	exported := exportedMetrics(t)
	used := map[string]bool{}
	dir := filepath.Join("..", "..", "deploy")

	var rules struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	readYAML(t, filepath.Join(dir, "alerts.yaml"), &rules)
	alerts := map[string]bool{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			alerts[r.Alert] = true
			checkNamed(t, "alert "+r.Alert, r.Expr, exported, used)
		}
	}
	for _, want := range []string{"SynclangSyncNoSuccessfulPass", "SynclangRejectsRising", "SynclangThrottledRising", "SynclangReplicaDown"} {
		if !alerts[want] {
			t.Errorf("alerts.yaml has no alert %s", want)
		}
	}

	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	if len(dash.Panels) == 0 {
		t.Fatal("grafana-dashboard.json has no panels")
	}
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			checkNamed(t, "panel "+p.Title, tg.Expr, exported, used)
		}
	}
	if len(used) < 10 {
		t.Errorf("the alerts and the dashboard use only %d of serve's metrics", len(used))
	}

	var compose struct {
		Services map[string]struct {
			Command []string `yaml:"command"`
		} `yaml:"services"`
	}
	readYAML(t, filepath.Join(dir, "compose.yaml"), &compose)
	replicas := 0
	for name, svc := range compose.Services {
		if strings.HasPrefix(name, "synclang") {
			replicas++
			if cmd := strings.Join(svc.Command, " "); !strings.Contains(cmd, "--queue postgres://") {
				t.Errorf("compose service %s does not serve with --queue postgres://: %v", name, svc.Command)
			}
		}
	}
	if _, ok := compose.Services["postgres"]; !ok || replicas < 2 {
		t.Errorf("compose.yaml has postgres %v and %d synclang replicas, want PostgreSQL and two", ok, replicas)
	}
	if _, ok := compose.Services["prometheus"]; !ok {
		t.Error("compose.yaml has no prometheus")
	}
	unit, err := os.ReadFile(filepath.Join(dir, "synclang.service"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(unit), "ExecStart=/usr/local/bin/synclang serve --queue ") {
		t.Error("synclang.service does not run serve with --queue")
	}
	var prom map[string]any
	readYAML(t, filepath.Join(dir, "prometheus.yml"), &prom)

	if promtool, err := exec.LookPath("promtool"); err == nil {
		out, err := exec.Command(promtool, "check", "rules", filepath.Join(dir, "alerts.yaml")).CombinedOutput()
		if err != nil {
			t.Errorf("promtool check rules: %v\n%s", err, out)
		}
	} else {
		t.Log("promtool not installed (Debian: apt-get install prometheus); the rules were parsed, not loaded")
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
