package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gocloud.dev/blob"

	"github.com/bsiframework/bsi/agent/testrepo"
	"github.com/bsiframework/bsi/internal/testservers"
	"github.com/bsiframework/bsi/keys"
	"github.com/bsiframework/bsi/serve"
	"github.com/bsiframework/bsi/trust/repo"
)

// lockedBuffer is a bytes.Buffer safe for a command running in another
// goroutine (keep-fresh) and the test reading it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// storeCLI runs bsi commands in-process against an object store and keeps
// everything they print and log, to look for credentials in.
type storeCLI struct {
	t     *testing.T
	dir   string
	all   lockedBuffer // every stdout, stderr and log line of every command
	store *testservers.Store
}

func (c *storeCLI) path(name string) string { return filepath.Join(c.dir, name) }

// run runs one command line; its output goes to the transcript too.
func (c *storeCLI) run(ctx context.Context, args ...string) (int, string, string) {
	var out, errb lockedBuffer
	e := &env{Stdin: strings.NewReader(""), Stdout: io.MultiWriter(&out, &c.all), Stderr: io.MultiWriter(&errb, &c.all),
		Getenv: func(string) string { return "" }, Now: time.Now,
		Logger: slog.New(slog.NewTextHandler(&c.all, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	fmt.Fprintf(&c.all, "$ bsi %s\n", strings.Join(args, " "))
	code := run(ctx, args, e)
	return code, out.String(), errb.String()
}

func (c *storeCLI) ok(args ...string) string {
	c.t.Helper()
	code, out, errs := c.run(c.t.Context(), args...)
	if code != 0 {
		c.t.Fatalf("bsi %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

func (c *storeCLI) want(code int, args ...string) string {
	c.t.Helper()
	got, out, errs := c.run(c.t.Context(), args...)
	if got != code {
		c.t.Fatalf("bsi %s: exit %d, want %d\n%s%s", strings.Join(args, " "), got, code, out, errs)
	}
	return errs
}

// publishResult runs a command with --json and decodes its PublishResult.
func (c *storeCLI) publishResult(args ...string) repo.PublishResult {
	c.t.Helper()
	var res repo.PublishResult
	out := c.ok(append(args, "--json")...)
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		c.t.Fatalf("bsi %s --json: %v\n%s", strings.Join(args, " "), err, out)
	}
	return res
}

// newStoreRepo makes keys and a workspace with component webkit, signed
// by its offline keys and ready to publish.
func newStoreRepo(t *testing.T, s *testservers.Store) *storeCLI {
	c := &storeCLI{t: t, dir: t.TempDir(), store: s}
	for _, name := range []string{"root", "targets", "snapshot", "timestamp", "webkit"} {
		priv, err := keys.Generate(keys.Ed25519)
		if err != nil {
			t.Fatal(err)
		}
		if err := keys.WriteKeyPair(c.path(name), priv, nil); err != nil {
			t.Fatal(err)
		}
	}
	ws := c.path("ws")
	c.ok("repo", "init", ws, "--root-key", c.path("root.pub"), "--targets-key", c.path("targets.pub"),
		"--snapshot-key", c.path("snapshot"), "--timestamp-key", c.path("timestamp"))
	c.ok("repo", "delegate", ws, "--component", "webkit", "--key", c.path("webkit.pub"))
	c.add("1")
	c.ok("repo", "sign", ws, "--key", c.path("root"))
	c.ok("repo", "sign", ws, "--key", c.path("targets"))
	return c
}

// add signs improvement webkit-26.3-(a, b...) of sequence seq into the
// workspace.
func (c *storeCLI) add(seq string) {
	c.t.Helper()
	m := c.ok("manifest", "new", "--component", "webkit", "--platform", "macos", "--release", "26.3",
		"--sequence", seq, "--released", "2026-11-27T10:00:00Z")
	mf, pf := c.path("m"+seq+".json"), c.path("p"+seq+".tar.gz")
	id := "webkit-26.3-" + string(rune('a'-1+int(seq[0]-'0')))
	os.WriteFile(mf, []byte(m), 0o644)
	os.WriteFile(pf, testrepo.TarGz(map[string]string{"lib/webkit.txt": id + "\n"}), 0o644)
	c.ok("repo", "add", c.path("ws"), "--manifest", mf, "--payload", pf, "--key", c.path("webkit"))
}

// checkObjects reads every object of the bucket through the driver and
// over anonymous HTTP from the store's endpoint: the bytes agree, and each
// is served with the Content-Type and Cache-Control "bsi serve" would send.
func checkObjects(t *testing.T, s *testservers.Store) []string {
	t.Helper()
	ctx := t.Context()
	b, err := blob.OpenBucket(ctx, s.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var names []string
	it := b.List(nil)
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("list %s: %v", s.URL, err)
		}
		names = append(names, obj.Key)
	}
	for _, name := range names {
		want, err := b.ReadAll(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		attrs, err := b.Attributes(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if attrs.ContentType != serve.ContentType(name) || attrs.CacheControl != serve.CacheControl(name) {
			t.Errorf("%s stored with Content-Type %q Cache-Control %q, want %q %q", name,
				attrs.ContentType, attrs.CacheControl, serve.ContentType(name), serve.CacheControl(name))
		}
		resp, err := http.Get(s.HTTPBase + "/" + name)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.Equal(got, want) {
			t.Errorf("GET %s/%s: %s, %d bytes, want the %d bytes stored", s.HTTPBase, name, resp.Status, len(got), len(want))
		}
		if ct, cc := resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"); ct != serve.ContentType(name) || cc != serve.CacheControl(name) {
			t.Errorf("GET %s served with Content-Type %q Cache-Control %q, want %q %q", name, ct, cc,
				serve.ContentType(name), serve.CacheControl(name))
		}
	}
	return names
}

// TestObjectStoreEndToEnd publishes to each emulated object store
// (Azurite, fake-gcs-server, gofakes3) through the CLI, refreshes, runs one
// keep-fresh round, and has a device follow the tree from the store's own
// HTTP endpoint; a publish cut off midway resumes on the next run at the
// same versions; no credential appears in anything bsi printed or logged.
func TestObjectStoreEndToEnd(t *testing.T) {
	for _, kind := range testservers.Kinds {
		t.Run(kind, func(t *testing.T) { objectStoreEndToEnd(t, kind) })
	}
}

func objectStoreEndToEnd(t *testing.T, kind string) {
	s := testservers.Start(t, kind, "bsi-repo")
	proxy := testservers.NewFaultProxy(t, s.Host)
	sp := s.Via(proxy.Host) // the publisher's way to the store; devices read s.HTTPBase
	sp.Setenv(t)
	c := newStoreRepo(t, s)
	ws := c.path("ws")

	res := c.publishResult("repo", "publish", ws, "--to", sp.URL)
	if res.SnapshotVersion != 1 || res.TimestampVersion != 1 || !slices.Contains(res.Written, "timestamp.json") {
		t.Fatalf("first publish: %+v", res)
	}
	checkObjects(t, s)

	// A device follows the tree from the store's endpoint.
	dev := c.path("device")
	c.ok("client", "init", dev, "--root", filepath.Join(ws, "metadata", "root.json"), "--url", s.HTTPBase,
		"--platform", "macos", "--release", "26.3", "--install-root", c.path("installed"))
	c.ok("client", "install", dev, "--all")
	if out := c.ok("client", "status", dev); !strings.Contains(out, "webkit 26.3 (a)") {
		t.Fatalf("device status after the first publish:\n%s", out)
	}

	// The next publish is cut off after a few uploads: exit 1, the store
	// still serves the previous tree (timestamp.json is written last), and
	// the device still verifies it.
	c.add("2")
	roleBefore, err := os.ReadFile(filepath.Join(ws, "metadata", "webkit.json"))
	if err != nil {
		t.Fatal(err)
	}
	proxy.FailAfter(1)
	errs := c.want(exitFailure, "repo", "publish", ws, "--to", sp.URL)
	if proxy.Refused() == 0 {
		t.Fatalf("the fault proxy refused nothing; publish said:\n%s", errs)
	}
	if !strings.Contains(errs, sp.URL) {
		t.Errorf("the failed publish does not name the destination %s:\n%s", sp.URL, errs)
	}
	if out := c.ok("client", "check", dev); strings.Contains(out, "(b)") {
		t.Errorf("device sees a part of the interrupted publish:\n%s", out)
	}
	// The rerun writes only what is missing, at the versions the cut-off
	// run signed: snapshot and timestamp 2, the component role unchanged
	// (its offline key is not needed again).
	proxy.Heal()
	res = c.publishResult("repo", "publish", ws, "--to", sp.URL)
	t.Logf("cut-off publish: %d upload(s) refused, %s; resumed: wrote %v, skipped %d", proxy.Refused(), strings.TrimSpace(errs), res.Written, res.Skipped)
	if res.SnapshotVersion != 2 || res.TimestampVersion != 2 {
		t.Errorf("resumed publish signed snapshot v%d timestamp v%d, want v2 v2", res.SnapshotVersion, res.TimestampVersion)
	}
	if res.Skipped == 0 {
		t.Errorf("resumed publish skipped nothing (wrote %v): the uploads of the cut-off run were not kept", res.Written)
	}
	roleAfter, _ := os.ReadFile(filepath.Join(ws, "metadata", "webkit.json"))
	if !bytes.Equal(roleBefore, roleAfter) {
		t.Error("the component role was signed again by the resumed publish")
	}
	names := checkObjects(t, s)
	for _, want := range []string{"1.root.json", "2.snapshot.json", "2.webkit.json", "timestamp.json"} {
		if !slices.Contains(names, want) {
			t.Errorf("the store lacks %s after the resumed publish: %v", want, names)
		}
	}
	c.ok("client", "install", dev, "--all")
	if out := c.ok("client", "status", dev); !strings.Contains(out, "webkit 26.3 (b)") {
		t.Fatalf("device status after the resumed publish:\n%s", out)
	}

	// refresh, then one bounded round of keep-fresh.
	res = c.publishResult("repo", "refresh", ws, "--to", sp.URL)
	if res.TimestampVersion != 3 {
		t.Errorf("refresh: timestamp v%d, want 3", res.TimestampVersion)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	done := make(chan int, 1)
	go func() {
		code, _, _ := c.run(ctx, "repo", "keep-fresh", ws, "--interval", "1h", "--to", sp.URL)
		done <- code
	}()
	for !strings.Contains(c.all.String(), "msg=refreshed") && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("keep-fresh: exit %d\n%s", code, c.all.String())
	}
	if !strings.Contains(c.all.String(), "timestamp=4") {
		t.Errorf("keep-fresh round did not sign timestamp v4:\n%s", c.all.String())
	}
	checkObjects(t, s)
	if out := c.ok("client", "check", dev); !strings.Contains(out, "webkit") {
		t.Errorf("device check after keep-fresh:\n%s", out)
	}

	// No credential in anything bsi printed or logged (the transcript holds
	// the cut-off publish's error and the keep-fresh log).
	if all := c.all.String(); !strings.Contains(all, "upload refused by the fault proxy") && !strings.Contains(all, "403") ||
		!strings.Contains(all, "msg=refreshed") {
		t.Fatalf("the transcript misses output it should hold:\n%s", all)
	}
	for _, secret := range s.Secrets {
		if strings.Contains(c.all.String(), secret) {
			t.Errorf("a credential of the %s store appears in bsi's output", kind)
		}
	}
}

// TestObjectStoreMissingParameters: an object-store URL without the
// region, endpoint, account or credentials its store needs fails with exit
// 1 before anything is signed, naming what is missing and how to give it,
// with nothing on stdout (old code: the SDK's error at the first request,
// and for gs:// a warning printed on stdout).
func TestObjectStoreMissingParameters(t *testing.T) {
	none := filepath.Join(t.TempDir(), "none")
	for k, v := range map[string]string{
		"AWS_REGION": "", "AWS_DEFAULT_REGION": "", "AWS_PROFILE": "", "AWS_CONFIG_FILE": none,
		"AWS_SHARED_CREDENTIALS_FILE": none, "AWS_EC2_METADATA_DISABLED": "true",
		"AZURE_STORAGE_ACCOUNT": "", "AZURE_STORAGE_CONNECTION_STRING": "", "AZURE_STORAGEBLOB_CONNECTIONSTRING": "",
		"AZURE_STORAGE_IS_LOCAL_EMULATOR": "", "AZURE_STORAGE_DOMAIN": "", "AZURE_STORAGE_PROTOCOL": "",
		"STORAGE_EMULATOR_HOST": "", "STORAGE_EMULATOR_HOST_GRPC": "", "GOOGLE_APPLICATION_CREDENTIALS": none,
		"CLOUDSDK_CONFIG": none, "GCE_METADATA_HOST": "",
	} {
		t.Setenv(k, v)
	}
	c := newStoreRepo(t, nil)
	ws := c.path("ws")
	before, err := os.ReadFile(filepath.Join(ws, "metadata", "root.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ dest, want string }{
		{"s3://bsi-repo", "has no region: add ?region="},
		{"s3://bsi-repo?region=eu-west-1&use_path_style=true", "has no endpoint: use_path_style is for an S3-compatible server: add &endpoint=http://HOST:PORT"},
		{"s3://bsi-repo?endpoint=127.0.0.1:9000&region=r", "endpoint=127.0.0.1:9000: the endpoint is a URL with a scheme"},
		{"azblob://bsi-repo", "has no storage_account: add ?storage_account=NAME"},
		{"azblob://bsi-repo?storage_account=a&localemu=true", "has no domain: a local emulator needs its address"},
		{"gs://bsi-repo", "has no credentials: set GOOGLE_APPLICATION_CREDENTIALS"},
	} {
		for _, cmd := range [][]string{{"repo", "publish", ws, "--to", tc.dest}, {"repo", "refresh", ws, "--to", tc.dest}} {
			code, out, errs := c.run(t.Context(), cmd...)
			if code != exitFailure || out != "" || !strings.Contains(errs, tc.want) {
				t.Errorf("bsi %s: exit %d, stdout %q, stderr:\n%s\nwant exit 1, no stdout, %q", strings.Join(cmd, " "), code, out, errs, tc.want)
			}
		}
	}
	after, _ := os.ReadFile(filepath.Join(ws, "metadata", "root.json"))
	if !bytes.Equal(before, after) {
		t.Error("the workspace changed")
	}
}
