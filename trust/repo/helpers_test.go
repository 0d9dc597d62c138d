package repo

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/trustedmetadata"

	"github.com/bsiframework/bsi/manifest"
)

// fixture is a workspace under test with named ed25519 keys and a clock.
type fixture struct {
	t       testing.TB
	dir     string
	clock   time.Time
	signers map[string]signature.Signer // by name, also the key reference
	ws      *Workspace
	hashes  []string // InitOptions.Hashes
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	return &fixture{t: t, dir: filepath.Join(t.TempDir(), "ws"), clock: time.Now().UTC().Truncate(time.Second),
		signers: map[string]signature.Signer{}}
}

func (f *fixture) opts() Options {
	return Options{
		Now: func() time.Time { return f.clock },
		LoadSigner: func(_ context.Context, ref string) (signature.Signer, error) {
			s, ok := f.signers[ref]
			if !ok {
				return nil, fmt.Errorf("no key %q", ref)
			}
			return s, nil
		},
	}
}

// key returns (creating on first use) the signer named name.
func (f *fixture) key(name string) signature.Signer {
	if s, ok := f.signers[name]; ok {
		return s
	}
	seed := make([]byte, ed25519.SeedSize)
	copy(seed, name)
	s, err := signature.LoadSigner(ed25519.NewKeyFromSeed(seed), crypto.Hash(0))
	if err != nil {
		f.t.Fatal(err)
	}
	f.signers[name] = s
	return s
}

func (f *fixture) tufKey(name string) *metadata.Key {
	pub, _ := f.key(name).PublicKey()
	k, err := metadata.KeyFromPublicKey(pub)
	if err != nil {
		f.t.Fatal(err)
	}
	return k
}

func (f *fixture) keyID(name string) string {
	id, _ := f.tufKey(name).ID()
	return id
}

func (f *fixture) tufKeys(names ...string) []*metadata.Key {
	var out []*metadata.Key
	for _, n := range names {
		out = append(out, f.tufKey(n))
	}
	return out
}

func (f *fixture) signers_(names ...string) []signature.Signer {
	var out []signature.Signer
	for _, n := range names {
		out = append(out, f.key(n))
	}
	return out
}

// init creates the workspace with the given root keys and threshold, one
// targets key, and online keys "snapshot" and "timestamp".
func (f *fixture) init(rootThreshold int, rootKeys ...string) *Workspace {
	f.t.Helper()
	f.key("snapshot")
	f.key("timestamp")
	ws, err := Init(context.Background(), f.dir, f.opts(), InitOptions{
		RootKeys: f.tufKeys(rootKeys...), RootThreshold: rootThreshold,
		TargetsKeys: f.tufKeys("targets"), SnapshotKey: "snapshot", TimestampKey: "timestamp", Hashes: f.hashes})
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { ws.Close() })
	f.ws = ws
	return ws
}

func (f *fixture) sign(names ...string) {
	f.t.Helper()
	for _, n := range names {
		if _, err := f.ws.Sign(context.Background(), f.key(n)); err != nil {
			f.t.Fatalf("sign with %s: %v", n, err)
		}
	}
}

func (f *fixture) publish() *PublishResult {
	f.t.Helper()
	d, err := DirDestination(f.public())
	if err != nil {
		f.t.Fatal(err)
	}
	res, err := f.ws.Publish(context.Background(), d)
	if err != nil {
		f.t.Fatalf("publish: %v", err)
	}
	return res
}

func (f *fixture) public() string { return filepath.Join(f.dir, "public") }

// manifestJSON returns a valid manifest.
func manifestJSON(id, component string, seq int, releases ...string) []byte {
	if len(releases) == 0 {
		releases = []string{"26.3"}
	}
	m := manifest.Manifest{Schema: manifest.Schema, ID: id, Title: "fix " + id, Platform: "macos", Component: component,
		AppliesTo: manifest.AppliesTo{Releases: releases}, Sequence: seq, Severity: manifest.SeverityHigh,
		Released: "2026-01-02T03:04:05Z", Status: manifest.StatusActive}
	b, err := m.Encode()
	if err != nil {
		panic(err)
	}
	return b
}

// payload writes a tar.gz holding one file and returns its path.
func (f *fixture) payload(name, content string) string {
	f.t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	tw.WriteHeader(&tar.Header{Name: "lib/" + name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg})
	tw.Write([]byte(content))
	tw.Close()
	gz.Close()
	p := filepath.Join(filepath.Dir(f.dir), name+".tar.gz")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		f.t.Fatal(err)
	}
	return p
}

func (f *fixture) add(id, component string, seq int, signers ...string) string {
	f.t.Helper()
	p := f.payload(id, "payload of "+id)
	if _, err := f.ws.Add(context.Background(), AddRequest{Manifest: manifestJSON(id, component, seq), Payload: p, Signers: f.signers_(signers...)}); err != nil {
		f.t.Fatalf("add %s: %v", id, err)
	}
	return p
}

// client follows go-tuf's client workflow against the published tree,
// served over 127.0.0.1, with go-tuf's own verifier (trustedmetadata, the
// core of its updater) and a persistent trusted state, like a device.
type client struct {
	t    testing.TB
	url  string
	hc   *http.Client
	root []byte // newest trusted root
	ts   []byte // trusted timestamp
	snap []byte // trusted snapshot
}

func (f *fixture) client() *client {
	f.t.Helper()
	srv := httptest.NewServer(http.FileServer(http.Dir(f.public())))
	f.t.Cleanup(srv.Close)
	root, err := os.ReadFile(filepath.Join(f.public(), "1.root.json"))
	if err != nil {
		f.t.Fatal(err)
	}
	return &client{t: f.t, url: srv.URL, hc: srv.Client(), root: root}
}

func (c *client) get(name string) ([]byte, error) {
	resp, err := c.hc.Get(c.url + "/" + name)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil, fs.ErrNotExist
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", name, resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, 16<<20))
}

// refresh runs the TUF client workflow: root chain, timestamp, snapshot,
// targets (spec 5.3 to 5.6).
func (c *client) refresh() (*trustedmetadata.TrustedMetadata, error) {
	tm, err := trustedmetadata.New(c.root)
	if err != nil {
		return nil, err
	}
	for v := tm.Root.Signed.Version + 1; ; v++ {
		data, err := c.get(fmt.Sprintf("%d.root.json", v))
		if errors.Is(err, fs.ErrNotExist) {
			break
		}
		if err != nil {
			return nil, err
		}
		if _, err := tm.UpdateRoot(data); err != nil {
			return nil, fmt.Errorf("root v%d: %w", v, err)
		}
		c.root = data
	}
	if c.ts != nil {
		tm.UpdateTimestamp(c.ts) // a stale local copy may fail under a new root
	}
	data, err := c.get("timestamp.json")
	if err != nil {
		return nil, err
	}
	if _, err := tm.UpdateTimestamp(data); err != nil && !errors.Is(err, &metadata.ErrEqualVersionNumber{}) {
		return nil, fmt.Errorf("timestamp: %w", err)
	}
	c.ts = data
	// As go-tuf's updater: a local snapshot that still matches the
	// timestamp is kept, else the one the timestamp names is downloaded.
	if c.snap == nil || tryUpdate(tm, c.snap) != nil {
		sv := tm.Timestamp.Signed.Meta["snapshot.json"].Version
		data, err := c.get(fmt.Sprintf("%d.snapshot.json", sv))
		if err != nil {
			return nil, err
		}
		if _, err := tm.UpdateSnapshot(data, false); err != nil {
			return nil, fmt.Errorf("snapshot: %w", err)
		}
		c.snap = data
	}
	tv := tm.Snapshot.Signed.Meta["targets.json"].Version
	data, err = c.get(fmt.Sprintf("%d.targets.json", tv))
	if err != nil {
		return nil, err
	}
	if _, err := tm.UpdateTargets(data); err != nil {
		return nil, fmt.Errorf("targets: %w", err)
	}
	return tm, nil
}

func tryUpdate(tm *trustedmetadata.TrustedMetadata, snap []byte) error {
	_, err := tm.UpdateSnapshot(snap, true)
	return err
}

// find walks the delegations depth-first, like go-tuf's updater.
func (c *client) find(tm *trustedmetadata.TrustedMetadata, target string) (*metadata.TargetFiles, error) {
	type visit struct{ role, parent string }
	stack := []visit{{metadata.TARGETS, metadata.ROOT}}
	for len(stack) > 0 {
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		m, ok := tm.Targets[v.role]
		if !ok {
			mf := tm.Snapshot.Signed.Meta[v.role+".json"]
			if mf == nil {
				return nil, fmt.Errorf("snapshot does not list %s", v.role)
			}
			data, err := c.get(fmt.Sprintf("%d.%s.json", mf.Version, v.role))
			if err != nil {
				return nil, err
			}
			if m, err = tm.UpdateDelegatedTargets(data, v.role, v.parent); err != nil {
				return nil, fmt.Errorf("%s: %w", v.role, err)
			}
		}
		if tf, ok := m.Signed.Targets[target]; ok {
			return tf, nil
		}
		if m.Signed.Delegations != nil {
			kids := m.Signed.Delegations.GetRolesForTarget(target)
			for i := len(kids) - 1; i >= 0; i-- {
				stack = append(stack, visit{kids[i].Name, v.role})
			}
		}
	}
	return nil, fmt.Errorf("target %s not found", target)
}

// download fetches a target under its hash-prefixed name (each listed hash)
// and checks length and hashes.
func (c *client) download(tf *metadata.TargetFiles) ([]byte, error) {
	dir, base := path.Split(tf.Path)
	var data []byte
	if len(tf.Hashes) == 0 {
		return nil, fmt.Errorf("%s lists no hash", tf.Path)
	}
	for _, alg := range sortedKeys(tf.Hashes) {
		d, err := c.get(fmt.Sprintf("targets/%s%x.%s", dir, []byte(tf.Hashes[alg]), base))
		if err != nil {
			return nil, fmt.Errorf("%s under %s: %w", tf.Path, alg, err)
		}
		if err := tf.VerifyLengthHashes(d); err != nil {
			return nil, err
		}
		data = d
	}
	return data, nil
}

// fetch refreshes and downloads target, checking its bytes against want
// and returning its manifest.
func (c *client) fetch(target string, want []byte) *manifest.Manifest {
	c.t.Helper()
	tm, err := c.refresh()
	if err != nil {
		c.t.Fatalf("client refresh: %v", err)
	}
	tf, err := c.find(tm, target)
	if err != nil {
		c.t.Fatalf("client find %s: %v", target, err)
	}
	data, err := c.download(tf)
	if err != nil {
		c.t.Fatalf("client download: %v", err)
	}
	if !bytes.Equal(data, want) {
		c.t.Fatalf("payload %s differs", target)
	}
	m, err := manifest.FromCustom(*tf.Custom)
	if err != nil {
		c.t.Fatalf("custom.bsi of %s: %v", target, err)
	}
	return m
}

// tree lists every file under dir with its content, for before/after
// comparisons (the lock file is left out: it is not workspace state).
func tree(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == ".lock" {
			return nil
		}
		if d.IsDir() {
			out[rel+"/"] = ""
			return nil
		}
		b, _ := os.ReadFile(p)
		out[rel] = string(b)
		return nil
	})
	return out
}

func diffTree(before, after map[string]string) string {
	return cmp.Diff(before, after)
}

func names(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func mustJSON(v any) string {
	b, _ := json.MarshalIndent(v, "", " ")
	return string(b)
}

var _ = strings.Contains
