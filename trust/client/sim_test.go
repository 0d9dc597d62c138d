package client

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// sim is a TUF repository built per test with go-tuf's metadata package
// and served over loopback HTTP. Tests change its metadata, publish, and
// make it misbehave: serve stale or forged files, endless bodies.
type sim struct {
	t   testing.TB
	now time.Time

	signers   map[string][]*simKey // role -> keys that sign it
	root      *metadata.Metadata[metadata.RootType]
	timestamp *metadata.Metadata[metadata.TimestampType]
	snapshot  *metadata.Metadata[metadata.SnapshotType]
	targets   map[string]*metadata.Metadata[metadata.TargetsType] // "targets" and delegated
	order     []string                                            // targets-family roles, in creation order

	// rootSigners, when set, signs the next root instead of signers["root"].
	rootSigners []*simKey
	// metaHashes adds lengths and hashes to snapshot and timestamp listings.
	metaHashes bool
	nkeys      int
	published  bool

	srv *httptest.Server

	mu       sync.Mutex
	files    map[string][]byte // metadata by served name
	payloads map[string][]byte // targets by served path
	override map[string]func(w http.ResponseWriter)
	requests []string // served names, metadata and targets/...
}

type simKey struct {
	id     string
	key    *metadata.Key
	signer signature.Signer
}

// newKey returns a random key (an attacker's, say).
func newKey(t testing.TB) *simKey {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return keyFrom(t, priv)
}

// key returns the repository's next key, derived from a counter so that
// a repository built twice (as fuzz workers do) is byte-identical.
func (s *sim) key() *simKey {
	s.nkeys++
	seed := sha256.Sum256([]byte("bsi sim key " + strconv.Itoa(s.nkeys)))
	return keyFrom(s.t, ed25519.NewKeyFromSeed(seed[:]))
}

func keyFrom(t testing.TB, priv ed25519.PrivateKey) *simKey {
	pub := priv.Public().(ed25519.PublicKey)
	s, err := signature.LoadSigner(priv, crypto.Hash(0))
	if err != nil {
		t.Fatal(err)
	}
	k, err := metadata.KeyFromPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	id, err := k.ID()
	if err != nil {
		t.Fatal(err)
	}
	return &simKey{id: id, key: k, signer: s}
}

var simEpoch = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// newSim returns a repository with one key per top-level role, consistent
// snapshots, all at version 1, published and served.
func newSim(t testing.TB) *sim {
	s := &sim{
		t: t, now: simEpoch, signers: map[string][]*simKey{},
		targets: map[string]*metadata.Metadata[metadata.TargetsType]{},
		files:   map[string][]byte{}, payloads: map[string][]byte{},
		override: map[string]func(http.ResponseWriter){},
	}
	s.root = metadata.Root(s.now.AddDate(1, 0, 0))
	s.root.Signed.ConsistentSnapshot = true
	for _, role := range []string{"root", "timestamp", "snapshot", "targets"} {
		k := s.key()
		s.signers[role] = []*simKey{k}
		if err := s.root.Signed.AddKey(k.key, role); err != nil {
			t.Fatal(err)
		}
	}
	s.timestamp = metadata.Timestamp(s.now.AddDate(0, 0, 1))
	s.snapshot = metadata.Snapshot(s.now.AddDate(0, 0, 7))
	s.targets["targets"] = metadata.Targets(s.now.AddDate(0, 3, 0))
	s.order = []string{"targets"}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	s.publishRoot()
	s.publish()
	return s
}

func (s *sim) serve(w http.ResponseWriter, r *http.Request) {
	name, isMeta := strings.CutPrefix(r.URL.EscapedPath(), "/metadata/")
	if !isMeta {
		name = strings.TrimPrefix(r.URL.EscapedPath(), "/")
	}
	s.mu.Lock()
	s.requests = append(s.requests, name)
	h := s.override[name]
	var body []byte
	var ok bool
	if isMeta {
		body, ok = s.files[name]
	} else {
		body, ok = s.payloads[strings.TrimPrefix(name, "targets/")]
	}
	s.mu.Unlock()
	switch {
	case h != nil:
		h(w)
	case ok:
		w.Write(body)
	default:
		http.NotFound(w, r)
	}
}

func (s *sim) url() string { return s.srv.URL + "/metadata" }

// reqs returns and clears the names requested since the last call.
func (s *sim) reqs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.requests
	s.requests = nil
	return r
}

func (s *sim) set(name string, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[name] = body
}

func (s *sim) get(name string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.files[name]
}

// endless makes name an endless stream of bytes.
func (s *sim) endless(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.override[name] = func(w http.ResponseWriter) {
		chunk := []byte(strings.Repeat(" ", 32<<10))
		for i := 0; i < 4096; i++ { // 128 MiB, far past every limit
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}
}

func sign[T metadata.Roles](t testing.TB, md *metadata.Metadata[T], keys []*simKey) []byte {
	md.ClearSignatures()
	for _, k := range keys {
		if _, err := md.Sign(k.signer); err != nil {
			t.Fatal(err)
		}
	}
	b, err := md.ToBytes(true)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// publishRoot signs the current root and serves it as N.root.json.
func (s *sim) publishRoot() {
	keys := s.signers["root"]
	if s.rootSigners != nil {
		keys, s.rootSigners = s.rootSigners, nil
	}
	b := sign(s.t, s.root, keys)
	s.set(strconv.FormatInt(s.root.Signed.Version, 10)+".root.json", b)
	s.set("root.json", b)
}

// rotateRoot applies change to a new root version, signs it with the old
// and the new root keys, and serves it.
func (s *sim) rotateRoot(change func(r *metadata.RootType)) {
	old := s.signers["root"]
	s.root.Signed.Version++
	change(&s.root.Signed)
	s.rootSigners = uniqueKeys(append(append([]*simKey{}, old...), s.signers["root"]...))
	s.publishRoot()
}

func uniqueKeys(ks []*simKey) []*simKey {
	var out []*simKey
	seen := map[string]bool{}
	for _, k := range ks {
		if !seen[k.id] {
			seen[k.id] = true
			out = append(out, k)
		}
	}
	return out
}

// replaceKeys gives role a fresh set of n keys and threshold in the root
// being edited.
func (s *sim) replaceKeys(r *metadata.RootType, role string, n, threshold int) {
	for _, k := range s.signers[role] {
		r.RevokeKey(k.id, role)
	}
	s.signers[role] = nil
	for range n {
		k := s.key()
		s.signers[role] = append(s.signers[role], k)
		if err := r.AddKey(k.key, role); err != nil {
			s.t.Fatal(err)
		}
	}
	r.Roles[role].Threshold = threshold
}

// publish bumps the version of each changed targets-family role, then of
// snapshot and timestamp (not on the first publish), and serves them all.
func (s *sim) publish(changed ...string) {
	for _, role := range changed {
		s.targets[role].Signed.Version++
	}
	if s.published {
		s.snapshot.Signed.Version++
		s.timestamp.Signed.Version++
	}
	for _, role := range s.order {
		md := s.targets[role]
		b := sign(s.t, md, s.signers[role])
		v := md.Signed.Version
		name := escapeName(role, true) + ".json"
		s.set(strconv.FormatInt(v, 10)+"."+name, b)
		s.set(name, b)
		s.snapshot.Signed.Meta[role+".json"] = s.metaFile(v, b)
	}
	b := sign(s.t, s.snapshot, s.signers["snapshot"])
	s.set(strconv.FormatInt(s.snapshot.Signed.Version, 10)+".snapshot.json", b)
	s.set("snapshot.json", b)
	s.timestamp.Signed.Meta["snapshot.json"] = s.metaFile(s.snapshot.Signed.Version, b)
	s.set("timestamp.json", sign(s.t, s.timestamp, s.signers["timestamp"]))
	s.published = true
}

func (s *sim) metaFile(v int64, b []byte) *metadata.MetaFiles {
	m := metadata.MetaFile(v)
	if s.metaHashes {
		sum := sha256.Sum256(b)
		m.Length = int64(len(b))
		m.Hashes = metadata.Hashes{"sha256": sum[:]}
	}
	return m
}

// addTarget lists data at path in role and serves it under every name a
// client may use.
func (s *sim) addTarget(role, path string, data []byte, custom string) *metadata.TargetFiles {
	tf, err := metadata.TargetFile().FromBytes(path, data, "sha256")
	if err != nil {
		s.t.Fatal(err)
	}
	if custom != "" {
		raw := json.RawMessage(custom)
		tf.Custom = &raw
	}
	s.targets[role].Signed.Targets[path] = tf
	s.mu.Lock()
	defer s.mu.Unlock()
	s.payloads[escapePath(path)] = data
	dir, base := "", path
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		dir, base = path[:i+1], path[i+1:]
	}
	s.payloads[escapePath(dir+hex.EncodeToString(tf.Hashes["sha256"])+"."+base)] = data
	return tf
}

// delegate makes parent delegate name (with a fresh key) for paths.
func (s *sim) delegate(parent, name string, paths []string, terminating bool) *metadata.DelegatedRole {
	k := s.key()
	s.signers[name] = []*simKey{k}
	p := &s.targets[parent].Signed
	if p.Delegations == nil {
		p.Delegations = &metadata.Delegations{Keys: map[string]*metadata.Key{}}
	}
	p.Delegations.Keys[k.id] = k.key
	p.Delegations.Roles = append(p.Delegations.Roles, metadata.DelegatedRole{
		Name: name, KeyIDs: []string{k.id}, Threshold: 1, Terminating: terminating, Paths: paths,
	})
	s.targets[name] = metadata.Targets(s.now.AddDate(0, 3, 0))
	s.order = append(s.order, name)
	return &p.Delegations.Roles[len(p.Delegations.Roles)-1]
}

// delegateBins makes parent delegate all targets to 2^bits succinct hash
// bins named prefix-XX, sharing one key.
func (s *sim) delegateBins(parent, prefix string, bits int) []string {
	k := s.key()
	p := &s.targets[parent].Signed
	p.Delegations = &metadata.Delegations{
		Keys:          map[string]*metadata.Key{k.id: k.key},
		SuccinctRoles: &metadata.SuccinctRoles{KeyIDs: []string{k.id}, Threshold: 1, BitLength: bits, NamePrefix: prefix},
	}
	names := p.Delegations.SuccinctRoles.GetRoles()
	for _, n := range names {
		s.signers[n] = []*simKey{k}
		s.targets[n] = metadata.Targets(s.now.AddDate(0, 3, 0))
		s.order = append(s.order, n)
	}
	return names
}

// client returns a client initialised with the repository's version 1
// root (or the current root with current set) in a fresh directory.
func (s *sim) client(t testing.TB, current bool) (*Client, string) {
	dir := t.TempDir()
	root := s.get("1.root.json")
	if current {
		root = s.get("root.json")
	}
	if err := Init(dir, root, s.now); err != nil {
		t.Fatal(err)
	}
	return s.clientAt(t, dir), dir
}

func (s *sim) clientAt(t testing.TB, dir string) *Client {
	c, err := New(Config{
		MetadataDir: dir, MetadataURL: s.url(), TargetsURL: s.srv.URL + "/targets",
		HTTPClient: s.srv.Client(), Now: func() time.Time { return s.now },
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustRefresh(t testing.TB, c *Client) {
	t.Helper()
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatalf("refresh: %v", err)
	}
}

func (s *sim) String() string {
	return fmt.Sprintf("sim(root v%d, timestamp v%d, snapshot v%d)", s.root.Signed.Version,
		s.timestamp.Signed.Version, s.snapshot.Signed.Version)
}
