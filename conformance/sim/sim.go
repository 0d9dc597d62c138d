package sim

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/cjson"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// Repo is a TUF repository held in memory and served on 127.0.0.1:
// metadata under /metadata/, payloads under /targets/. Scenarios edit
// its metadata, publish, and make it misbehave. Serving is safe for
// concurrent use; editing is done by one goroutine.
type Repo struct {
	// Now is the time expiries are counted from.
	Now time.Time
	// Signers lists the keys that sign each role.
	Signers   map[string][]*Key
	Root      *metadata.Metadata[metadata.RootType]
	Timestamp *metadata.Metadata[metadata.TimestampType]
	Snapshot  *metadata.Metadata[metadata.SnapshotType]
	// Targets holds "targets" and every delegated role.
	Targets map[string]*metadata.Metadata[metadata.TargetsType]
	// Order lists the targets-family roles in creation order.
	Order []string
	// RootSigners, when set, signs the next root instead of Signers["root"].
	RootSigners []*Key
	// MetaHashes adds lengths and sha256 hashes to snapshot and timestamp listings.
	MetaHashes bool
	// TargetHashes are the hash algorithms listed for new targets (default sha256).
	TargetHashes []string

	fail      func(error)
	published bool
	srv       *httptest.Server

	mu       sync.Mutex
	files    map[string][]byte // metadata by name
	payloads map[string][]byte // targets by path (with hash prefixes)
	override map[string]http.HandlerFunc
	requests []string
}

// New builds a repository with one ed25519 key per top-level role,
// consistent snapshots, default expiries counted from now, publishes
// version 1 and starts serving. fail is called on any error of the
// simulator itself (it should not return).
func New(now time.Time, fail func(error)) *Repo {
	r := &Repo{
		Now: now.UTC().Truncate(time.Second), Signers: map[string][]*Key{}, fail: fail,
		Targets: map[string]*metadata.Metadata[metadata.TargetsType]{},
		files:   map[string][]byte{}, payloads: map[string][]byte{},
		override: map[string]http.HandlerFunc{},
	}
	r.Root = metadata.Root(r.Now.AddDate(1, 0, 0))
	r.Root.Signed.ConsistentSnapshot = true
	for _, role := range []string{"root", "timestamp", "snapshot", "targets"} {
		k := r.NewKey(Ed25519)
		r.Signers[role] = []*Key{k}
		r.check(r.Root.Signed.AddKey(k.Key, role))
	}
	r.Timestamp = metadata.Timestamp(r.Now.AddDate(0, 0, 1))
	r.Snapshot = metadata.Snapshot(r.Now.AddDate(0, 0, 7))
	r.Targets["targets"] = metadata.Targets(r.Now.AddDate(0, 3, 0))
	r.Order = []string{"targets"}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	r.PublishRoot()
	r.Publish()
	return r
}

// Close stops the server.
func (r *Repo) Close() { r.srv.Close() }

// URL is the metadata URL prefix.
func (r *Repo) URL() string { return r.srv.URL + "/metadata" }

// TargetsURL is the targets URL prefix.
func (r *Repo) TargetsURL() string { return r.srv.URL + "/targets" }

func (r *Repo) check(err error) {
	if err != nil {
		r.fail(fmt.Errorf("simulator: %w", err))
	}
}

// NewKey generates a key, failing the scenario on error.
func (r *Repo) NewKey(typ KeyType) *Key {
	k, err := NewKey(typ)
	r.check(err)
	return k
}

func (r *Repo) serve(w http.ResponseWriter, req *http.Request) {
	p, err := url.PathUnescape(req.URL.EscapedPath())
	if err != nil {
		p = req.URL.Path
	}
	name, isMeta := strings.CutPrefix(p, "/metadata/")
	if !isMeta {
		name = strings.TrimPrefix(p, "/")
	}
	r.mu.Lock()
	r.requests = append(r.requests, name)
	h := r.override[name]
	var body []byte
	var ok bool
	if isMeta {
		body, ok = r.files[name]
	} else if t, isTarget := strings.CutPrefix(name, "targets/"); isTarget {
		body, ok = r.payloads[t]
	}
	r.mu.Unlock()
	switch {
	case h != nil:
		h(w, req)
	case ok:
		w.Write(body)
	default:
		http.NotFound(w, req)
	}
}

// Requests returns the names requested since the last call and forgets
// them: metadata as "N.role.json", payloads as "targets/PATH".
func (r *Repo) Requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	q := r.requests
	r.requests = nil
	return q
}

// Set serves body as the metadata file name.
func (r *Repo) Set(name string, body []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.files[name] = body
}

// Get returns the metadata file name as served.
func (r *Repo) Get(name string) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.files[name]
}

// Delete stops serving the metadata file name.
func (r *Repo) Delete(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.files, name)
}

// SetPayload serves body as the target file at path (under /targets/).
func (r *Repo) SetPayload(path string, body []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.payloads[path] = body
}

// Override answers requests for name (a metadata name, or "targets/PATH")
// with h; a nil h removes the override.
func (r *Repo) Override(name string, h http.HandlerFunc) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if h == nil {
		delete(r.override, name)
		return
	}
	r.override[name] = h
}

// Status makes name answer with an HTTP status code.
func (r *Repo) Status(name string, code int) {
	r.Override(name, func(w http.ResponseWriter, _ *http.Request) { http.Error(w, http.StatusText(code), code) })
}

// Endless makes name an endless stream of bytes (512 MiB, far past every
// limit), stopped when the client goes away.
func (r *Repo) Endless(name string) {
	r.Override(name, func(w http.ResponseWriter, req *http.Request) {
		chunk := []byte(strings.Repeat(" ", 64<<10))
		for range 8192 {
			if _, err := w.Write(chunk); err != nil || req.Context().Err() != nil {
				return
			}
		}
	})
}

// Slow makes name answer its normal content after a delay.
func (r *Repo) Slow(name string, d time.Duration) {
	body := r.Get(name)
	r.Override(name, func(w http.ResponseWriter, req *http.Request) {
		select {
		case <-time.After(d):
			w.Write(body)
		case <-req.Context().Done():
		}
	})
}

// Sign signs md with keys (replacing its signatures) and returns the bytes.
func Sign[T metadata.Roles](md *metadata.Metadata[T], keys []*Key) ([]byte, error) {
	md.ClearSignatures()
	payload, err := cjson.EncodeCanonical(md.Signed)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		sig, err := k.Signer.SignMessage(bytes.NewReader(payload))
		if err != nil {
			return nil, fmt.Errorf("signing with %s: %w", k.ID, err)
		}
		// The key id is the key's own (go-tuf's Sign would recompute it
		// with the current key type spelling).
		md.Signatures = append(md.Signatures, metadata.Signature{KeyID: k.ID, Signature: sig})
	}
	return md.ToBytes(true)
}

// SignWith signs md with keys for the scenario, failing it on error.
func SignWith[T metadata.Roles](r *Repo, md *metadata.Metadata[T], keys []*Key) []byte {
	b, err := Sign(md, keys)
	r.check(err)
	return b
}

// PublishRoot signs the current root (with RootSigners when set, once)
// and serves it as N.root.json and root.json.
func (r *Repo) PublishRoot() {
	keys := r.Signers["root"]
	if r.RootSigners != nil {
		keys, r.RootSigners = r.RootSigners, nil
	}
	b := SignWith(r, r.Root, keys)
	r.Set(strconv.FormatInt(r.Root.Signed.Version, 10)+".root.json", b)
	r.Set("root.json", b)
}

// RotateRoot applies change to a new root version, signs it with the old
// and the new root keys, and serves it.
func (r *Repo) RotateRoot(change func(root *metadata.RootType)) {
	old := r.Signers["root"]
	r.Root.Signed.Version++
	if change != nil {
		change(&r.Root.Signed)
	}
	r.RootSigners = uniqueKeys(append(append([]*Key{}, old...), r.Signers["root"]...))
	r.PublishRoot()
}

func uniqueKeys(ks []*Key) []*Key {
	var out []*Key
	seen := map[string]bool{}
	for _, k := range ks {
		if !seen[k.ID] {
			seen[k.ID] = true
			out = append(out, k)
		}
	}
	return out
}

// ReplaceKeys gives role n fresh keys of type typ and a threshold in root.
func (r *Repo) ReplaceKeys(root *metadata.RootType, role string, typ KeyType, n, threshold int) {
	for _, k := range r.Signers[role] {
		r.check(root.RevokeKey(k.ID, role))
	}
	r.Signers[role] = nil
	for range n {
		k := r.NewKey(typ)
		r.Signers[role] = append(r.Signers[role], k)
		r.check(root.AddKey(k.Key, role))
	}
	root.Roles[role].Threshold = threshold
}

// Publish bumps the version of each changed targets-family role, then of
// snapshot and timestamp (not on the first publish), signs and serves all.
func (r *Repo) Publish(changed ...string) {
	for _, role := range changed {
		r.Targets[role].Signed.Version++
	}
	if r.published {
		r.Snapshot.Signed.Version++
		r.Timestamp.Signed.Version++
	}
	for _, role := range r.Order {
		md := r.Targets[role]
		b := SignWith(r, md, r.Signers[role])
		v := md.Signed.Version
		r.Set(strconv.FormatInt(v, 10)+"."+role+".json", b)
		r.Set(role+".json", b)
		r.Snapshot.Signed.Meta[role+".json"] = r.MetaFile(v, b)
	}
	r.PublishSnapshot()
	r.published = true
}

// PublishSnapshot signs and serves the snapshot as it is, then the timestamp.
func (r *Repo) PublishSnapshot() {
	b := SignWith(r, r.Snapshot, r.Signers["snapshot"])
	r.Set(strconv.FormatInt(r.Snapshot.Signed.Version, 10)+".snapshot.json", b)
	r.Set("snapshot.json", b)
	r.Timestamp.Signed.Meta["snapshot.json"] = r.MetaFile(r.Snapshot.Signed.Version, b)
	r.PublishTimestamp()
}

// PublishTimestamp signs and serves the timestamp as it is.
func (r *Repo) PublishTimestamp() {
	r.Set("timestamp.json", SignWith(r, r.Timestamp, r.Signers["timestamp"]))
}

// MetaFile is a snapshot or timestamp listing of b at version v.
func (r *Repo) MetaFile(v int64, b []byte) *metadata.MetaFiles {
	m := metadata.MetaFile(v)
	if r.MetaHashes {
		sum := sha256.Sum256(b)
		m.Length = int64(len(b))
		m.Hashes = metadata.Hashes{"sha256": sum[:]}
	}
	return m
}

// AddTarget lists data at path in role (hashes as TargetHashes) and serves
// it under the plain path and every hash-prefixed name.
func (r *Repo) AddTarget(role, path string, data []byte) *metadata.TargetFiles {
	algs := r.TargetHashes
	if len(algs) == 0 {
		algs = []string{"sha256"}
	}
	tf, err := metadata.TargetFile().FromBytes(path, data, algs...)
	r.check(err)
	r.Targets[role].Signed.Targets[path] = tf
	r.ServeTarget(path, tf.Hashes, data)
	return tf
}

// ServeTarget serves data at path and at every hash-prefixed name of hashes.
func (r *Repo) ServeTarget(path string, hashes metadata.Hashes, data []byte) {
	r.SetPayload(path, data)
	dir, base := "", path
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		dir, base = path[:i+1], path[i+1:]
	}
	for _, h := range hashes {
		r.SetPayload(dir+hex.EncodeToString(h)+"."+base, data)
	}
}

// Hashes returns the sha256 and sha512 of data as metadata hashes.
func Hashes(data []byte) metadata.Hashes {
	a, b := sha256.Sum256(data), sha512.Sum512(data)
	return metadata.Hashes{"sha256": a[:], "sha512": b[:]}
}

// SetCustom sets the custom field of a listed target.
func (r *Repo) SetCustom(role, path string, custom json.RawMessage) {
	r.Targets[role].Signed.Targets[path].Custom = &custom
}

// Delegate makes parent delegate name (one fresh ed25519 key, threshold 1)
// for paths.
func (r *Repo) Delegate(parent, name string, paths []string, terminating bool) *metadata.DelegatedRole {
	k := r.NewKey(Ed25519)
	r.Signers[name] = []*Key{k}
	p := &r.Targets[parent].Signed
	if p.Delegations == nil {
		p.Delegations = &metadata.Delegations{Keys: map[string]*metadata.Key{}}
	}
	p.Delegations.Keys[k.ID] = k.Key
	p.Delegations.Roles = append(p.Delegations.Roles, metadata.DelegatedRole{
		Name: name, KeyIDs: []string{k.ID}, Threshold: 1, Terminating: terminating, Paths: paths,
	})
	if r.Targets[name] == nil {
		r.Targets[name] = metadata.Targets(r.Now.AddDate(0, 3, 0))
		r.Order = append(r.Order, name)
	}
	return &p.Delegations.Roles[len(p.Delegations.Roles)-1]
}

// DelegateBins makes parent delegate all targets to 2^bits succinct hash
// bins named prefix-XX, sharing one key, and returns the bin names.
func (r *Repo) DelegateBins(parent, prefix string, bits int) []string {
	k := r.NewKey(Ed25519)
	p := &r.Targets[parent].Signed
	p.Delegations = &metadata.Delegations{
		Keys:          map[string]*metadata.Key{k.ID: k.Key},
		SuccinctRoles: &metadata.SuccinctRoles{KeyIDs: []string{k.ID}, Threshold: 1, BitLength: bits, NamePrefix: prefix},
	}
	names := p.Delegations.SuccinctRoles.GetRoles()
	for _, n := range names {
		r.Signers[n] = []*Key{k}
		r.Targets[n] = metadata.Targets(r.Now.AddDate(0, 3, 0))
		r.Order = append(r.Order, n)
	}
	return names
}

// Wait blocks until ctx is done: a handler for a response that never comes.
func Wait(ctx context.Context) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		select {
		case <-ctx.Done():
		case <-req.Context().Done():
		}
	}
}
