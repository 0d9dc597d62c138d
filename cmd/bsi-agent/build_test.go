package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// buildFlags are the flags README tells users to build bsi-agent with:
// no local paths in the binary, no symbol table or DWARF.
var buildFlags = []string{"-trimpath", "-ldflags=-s -w"}

// maxAgentSize is the size target of the device binary (issue 16).
const maxAgentSize = 15 << 20

// binaries are bsi-agent and bsi built once for the tests and benchmarks
// of this package.
var binaries struct {
	once       sync.Once
	dir        string
	agent, bsi string
	err        error
}

// moduleRoot is the module's directory, two levels up from here.
func moduleRoot() string { return filepath.Join("..", "..") }

// goTool returns the go command, or skips tb.
func goTool(tb testing.TB) string {
	tb.Helper()
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		if goBin, err = exec.LookPath("go"); err != nil {
			tb.Skip("no go command to build the binaries with")
		}
	}
	return goBin
}

// build returns the paths of the built bsi-agent and bsi.
func build(tb testing.TB) (agent, bsi string) {
	tb.Helper()
	goBin := goTool(tb)
	binaries.once.Do(func() {
		binaries.dir, binaries.err = os.MkdirTemp("", "bsi-agent-test-")
		if binaries.err != nil {
			return
		}
		binaries.agent = filepath.Join(binaries.dir, "bsi-agent")
		binaries.bsi = filepath.Join(binaries.dir, "bsi")
		// bsi-agent as README says, cgo off; bsi with the go command's
		// defaults, whose packages "go build ./..." has cached (the
		// full bsi rebuilt with other flags takes minutes).
		for _, b := range []struct {
			out, pkg string
			flags    []string
			env      []string
		}{
			{binaries.agent, "./cmd/bsi-agent", buildFlags, []string{"CGO_ENABLED=0"}},
			{binaries.bsi, "./cmd/bsi", nil, nil},
		} {
			cmd := exec.Command(goBin, append(append([]string{"build"}, b.flags...), "-o", b.out, b.pkg)...)
			cmd.Dir = moduleRoot()
			cmd.Env = append(os.Environ(), b.env...)
			if out, err := cmd.CombinedOutput(); err != nil {
				binaries.err = fmt.Errorf("%s go build %s %s: %v\n%s", strings.Join(b.env, " "), strings.Join(b.flags, " "), b.pkg, err, out)
				return
			}
		}
	})
	if binaries.err != nil {
		tb.Fatal(binaries.err)
	}
	return binaries.agent, binaries.bsi
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, d := range []string{binaries.dir, big.dir} {
		if d != "" {
			os.RemoveAll(d)
		}
	}
	os.Exit(code)
}

// forbidden names what the device binary must not link: the publisher
// side, key management, the auditors' and publishers' tools, the
// collector (its stdlib-only report format, fleet/report, is the device's),
// and every KMS, cloud, storage or database client. A path matches an
// entry of the module when it is that package or below it; any other path
// when it contains the entry.
var forbidden = struct{ module, external []string }{
	module: []string{"trust/repo", "keys", "conformance", "fleet", "serve", "loadgen", "bench", "demo"},
	external: []string{"gocloud.dev", "sigstore", "github.com/aws/", "aws-sdk", "azure", "cloud.google.com",
		"google.golang.org/api", "google.golang.org/grpc", "hashicorp", "pgx", "sqlite", "crypto11", "pkcs11"},
}

const modulePath = "github.com/bsiframework/bsi"

// forbiddenDep says why the package path p may not be in the device
// binary, or "" when it may.
func forbiddenDep(p string) string {
	if rel, ok := strings.CutPrefix(p, modulePath+"/"); ok {
		if rel == "fleet/report" {
			return ""
		}
		for _, f := range forbidden.module {
			if rel == f || strings.HasPrefix(rel, f+"/") {
				return f
			}
		}
		return ""
	}
	lp := strings.ToLower(p)
	for _, f := range forbidden.external {
		if strings.Contains(lp, strings.ToLower(f)) {
			return f
		}
	}
	return ""
}

func TestForbiddenDep(t *testing.T) {
	for p, want := range map[string]string{
		modulePath + "/trust/repo":          "trust/repo",
		modulePath + "/trust/client":        "",
		modulePath + "/keys":                "keys",
		modulePath + "/keys/kms":            "keys",
		modulePath + "/keystone":            "",
		modulePath + "/fleet":               "fleet",
		modulePath + "/fleet/store":         "fleet",
		modulePath + "/fleet/report":        "",
		modulePath + "/conformance":         "conformance",
		"gocloud.dev/blob/s3blob":           "gocloud.dev",
		"github.com/aws/aws-sdk-go-v2/aws":  "github.com/aws/",
		"github.com/Azure/azure-sdk-for-go": "azure",
		"github.com/jackc/pgx/v5":           "pgx",
		"modernc.org/sqlite":                "sqlite",
		"github.com/sigstore/sigstore/pkg":  "sigstore",
		"golang.org/x/term":                 "",
		"net/http":                          "",
	} {
		if got := forbiddenDep(p); got != want {
			t.Errorf("forbiddenDep(%q) = %q, want %q", p, got, want)
		}
	}
}

// TestAgentLinksNoPublisherCode lists every package bsi-agent links (go
// list -deps) and requires that none is forbidden and that none outside
// the standard library has cgo files; and that the list is the device's
// (trust/client, agent and install are in it).
func TestAgentLinksNoPublisherCode(t *testing.T) {
	goBin := goTool(t)
	cmd := exec.Command(goBin, "list", "-deps", "-f", "{{.ImportPath}} {{.Standard}} {{len .CgoFiles}}", "./cmd/bsi-agent")
	cmd.Dir = moduleRoot()
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1") // cgo files would count
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var p string
		var std bool
		var cgo int
		if _, err := fmt.Sscanf(line, "%s %t %d", &p, &std, &cgo); err != nil {
			t.Fatalf("go list line %q: %v", line, err)
		}
		seen[p] = true
		if why := forbiddenDep(p); why != "" {
			t.Errorf("bsi-agent links %s (forbidden: %s)", p, why)
		}
		if !std && cgo > 0 {
			t.Errorf("bsi-agent links %s, which has %d cgo files", p, cgo)
		}
	}
	for _, p := range []string{"trust/client", "agent", "install", "cmd/internal/devicecli"} {
		if !seen[modulePath+"/"+p] {
			t.Errorf("go list -deps of bsi-agent has no %s: not the device's dependency list", p)
		}
	}
}

// TestAgentBuildsWithoutCgo builds bsi-agent with CGO_ENABLED=0 and the
// README's flags, and requires it at most maxAgentSize.
func TestAgentBuildsWithoutCgo(t *testing.T) {
	agent, _ := build(t)
	fi, err := os.Stat(agent)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("bsi-agent (%s): %d bytes (%.1f MiB)", strings.Join(buildFlags, " "), fi.Size(), float64(fi.Size())/(1<<20))
	if fi.Size() > maxAgentSize {
		t.Errorf("bsi-agent is %d bytes, more than the %d target", fi.Size(), maxAgentSize)
	}
	out, err := exec.Command(agent, "version").Output()
	if err != nil || !strings.HasPrefix(string(out), "bsi-agent ") {
		t.Errorf("bsi-agent version: %q, %v", out, err)
	}
}
