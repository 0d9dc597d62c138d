package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/bsiframework/bsi/manifest"
	"github.com/bsiframework/bsi/trust/repo"
)

// The device binary's targets (issue 16), measured here and never by a
// timed test: start-up ("version") at most 3 ms median, peak RSS of
// "client check" on a 10,000-improvement repository at most 20 MB, and
// (TestAgentBuildsWithoutCgo) at most 15 MB on disk.
//
//	go test -run XXX -bench . -benchtime 20x ./cmd/bsi-agent
//
// Each benchmark reports, beside ns/op, the medians of its runs
// ("ms-median", "cpu-ms-median") or their peaks ("peak-rss-*-MiB"); the Bsi ones measure the full bsi the
// same way, for comparison.

// BenchmarkAgentStartupVersion runs "bsi-agent version": process start,
// package initialisation, one line printed.
func BenchmarkAgentStartupVersion(b *testing.B) {
	agent, _ := build(b)
	benchStartup(b, agent)
}

// BenchmarkBsiStartupVersion is the same for the full bsi.
func BenchmarkBsiStartupVersion(b *testing.B) {
	_, bsi := build(b)
	benchStartup(b, bsi)
}

// benchStartup reports the median wall time of "BIN version" and the
// median CPU time (user and system) of the child: on a loaded machine the
// second says more about the binary than the first.
func benchStartup(b *testing.B, bin string) {
	var wall, cpu []time.Duration
	for b.Loop() {
		cmd := exec.Command(bin, "version")
		t0 := time.Now()
		if out, err := cmd.Output(); err != nil {
			b.Fatalf("%s version: %v %s", bin, err, out)
		}
		wall = append(wall, time.Since(t0))
		cpu = append(cpu, cmd.ProcessState.UserTime()+cmd.ProcessState.SystemTime())
	}
	median := func(ds []time.Duration) float64 {
		slices.Sort(ds)
		return float64(ds[len(ds)/2]) / float64(time.Millisecond)
	}
	b.ReportMetric(median(wall), "ms-median")
	b.ReportMetric(median(cpu), "cpu-ms-median")
}

// BenchmarkAgentCheckRSS runs "bsi-agent client check" on a device that
// trusts only the root of a repository of 10,000 improvements of one
// component (cold: the whole component role is downloaded and verified),
// then again (warm: nothing changed), and reports the peak resident set
// of each.
//
// The peak is the child's ru_maxrss as GNU time reports it, not
// ProcessState.SysUsage's: os/exec starts children with vfork (CLONE_VM),
// and Linux carries the high-water mark of the shared address space, this
// test process's (which generated the repository), over the exec into
// the child's. GNU time forks, so the child starts from time's own few
// pages.
func BenchmarkAgentCheckRSS(b *testing.B) {
	agent, _ := build(b)
	benchCheckRSS(b, agent)
}

// BenchmarkBsiCheckRSS is the same for the full bsi.
func BenchmarkBsiCheckRSS(b *testing.B) {
	_, bsi := build(b)
	benchCheckRSS(b, bsi)
}

func benchCheckRSS(b *testing.B, bin string) {
	gnuTime := "/usr/bin/time"
	if out, err := exec.Command(gnuTime, "-f", "%M", "true").CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) == 0 {
		b.Skipf("no GNU time to measure peak RSS with (%v)", err)
	}
	r := bigRepo(b)
	var cold, warm int64
	for b.Loop() {
		dir := b.TempDir()
		state := filepath.Join(dir, "state")
		run := func(args ...string) int64 {
			rss := filepath.Join(dir, "rss")
			cmd := exec.Command(gnuTime, append([]string{"-f", "%M", "-o", rss, bin}, args...)...)
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("%s: %v\n%s", args, err, out)
			}
			data, err := os.ReadFile(rss)
			if err != nil {
				b.Fatal(err)
			}
			kib, err := strconv.ParseInt(string(bytes.TrimSpace(data)), 10, 64)
			if err != nil {
				b.Fatalf("GNU time printed %q: %v", data, err)
			}
			return kib << 10
		}
		run("client", "init", state, "--root", r.root, "--url", r.url, "--platform", "macos", "--release", "26.3")
		cold = max(cold, run("client", "check", state))
		warm = max(warm, run("client", "check", state))
	}
	b.ReportMetric(float64(cold)/(1<<20), "peak-rss-cold-MiB")
	b.ReportMetric(float64(warm)/(1<<20), "peak-rss-warm-MiB")
}

// bigRepoImprovements is the size of the repository of the RSS target.
const bigRepoImprovements = 10000

var big struct {
	once      sync.Once
	dir       string // removed by TestMain
	root, url string
	err       error
}

// bigRepo generates, once per test binary, a repository of
// bigRepoImprovements improvements of "webkit" (one flat role, as bench's
// "flat" layout), signed with in-memory ed25519 keys, published and served
// on 127.0.0.1.
func bigRepo(tb testing.TB) struct{ root, url string } {
	tb.Helper()
	big.once.Do(func() {
		dir, err := os.MkdirTemp("", "bsi-agent-bench-")
		if err != nil {
			big.err = err
			return
		}
		big.dir = dir
		public := filepath.Join(dir, "public")
		if big.err = generate(context.Background(), dir, public, bigRepoImprovements); big.err != nil {
			return
		}
		big.root = filepath.Join(public, "1.root.json")
		big.url = httptest.NewServer(http.FileServer(http.Dir(public))).URL // lives as long as the process
	})
	if big.err != nil {
		tb.Fatal(big.err)
	}
	return struct{ root, url string }{big.root, big.url}
}

// generate writes a workspace in dir with n improvements and publishes it
// to public.
func generate(ctx context.Context, dir, public string, n int) error {
	signers := map[string]signature.Signer{}
	keys := map[string][]*metadata.Key{}
	for _, name := range []string{"root", "targets", "snapshot", "timestamp", "webkit"} {
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return err
		}
		if signers[name], err = signature.LoadSigner(priv, crypto.Hash(0)); err != nil {
			return err
		}
		k, err := metadata.KeyFromPublicKey(pub)
		if err != nil {
			return err
		}
		keys[name] = []*metadata.Key{k}
	}
	opts := repo.Options{LoadSigner: func(_ context.Context, ref string) (signature.Signer, error) {
		if s, ok := signers[ref]; ok {
			return s, nil
		}
		return nil, fmt.Errorf("no key %q", ref)
	}}
	payload := filepath.Join(dir, "payload.tar.gz")
	if err := os.WriteFile(payload, payloadTarGz(), 0o644); err != nil {
		return err
	}
	ws, err := repo.Init(ctx, filepath.Join(dir, "ws"), opts, repo.InitOptions{
		RootKeys: keys["root"], TargetsKeys: keys["targets"], SnapshotKey: "snapshot", TimestampKey: "timestamp"})
	if err != nil {
		return err
	}
	defer ws.Close()
	if err := ws.Delegate(ctx, "webkit", repo.DelegateOptions{Keys: keys["webkit"]}); err != nil {
		return err
	}
	reqs := make([]repo.AddRequest, n)
	for i := range reqs {
		seq := i + 1
		id := fmt.Sprintf("webkit-%07d", seq)
		m := manifest.Manifest{Schema: manifest.Schema, ID: id, Title: "security improvement " + id,
			Platform: "macos", Component: "webkit", AppliesTo: manifest.AppliesTo{Releases: []string{"26.3"}},
			Sequence: seq, Severity: manifest.SeverityHigh, Advisories: []string{fmt.Sprintf("CVE-2026-%05d", seq)},
			Released: "2026-01-02T03:04:05Z", Status: manifest.StatusActive}
		if reqs[i].Manifest, err = m.Encode(); err != nil {
			return err
		}
		reqs[i].Payload = payload
	}
	if _, err := ws.AddBatch(ctx, reqs); err != nil {
		return err
	}
	for _, k := range []string{"root", "targets", "webkit"} {
		if _, err := ws.Sign(ctx, signers[k]); err != nil {
			return fmt.Errorf("signing with %s: %w", k, err)
		}
	}
	dest, err := repo.DirDestination(public)
	if err != nil {
		return err
	}
	_, err = ws.Publish(ctx, dest)
	return err
}

// payloadTarGz is a payload of 1 KiB of random bytes.
func payloadTarGz() []byte {
	body := make([]byte, 1<<10)
	rand.Read(body)
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	tw.WriteHeader(&tar.Header{Name: "lib/webkit.bin", Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
	tw.Write(body)
	tw.Close()
	gz.Close()
	return buf.Bytes()
}
