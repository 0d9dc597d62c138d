// Package testrepo builds small, real TUF repositories for the agent's and
// the bsi command's tests: ed25519 keys, a top-level targets role that
// delegates one role per component (paths "<component>/*"), improvements as
// targets whose custom field carries the manifest, consistent snapshots, and
// an httptest server on 127.0.0.1 that serves the published files.
//
// It signs with go-tuf's metadata package directly, so tests do not depend on
// the publisher package. Attacks are staged with [Repo.Intercept], by
// signing with the wrong role ([Repo.SignWith]), or by moving the client's
// clock. A component named "rollout" is the staged-rollout role: it is
// delegated paths "rollout/*/*".
package testrepo

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// Default expiries, as DESIGN.md "Roles" lists them.
const (
	RootExpiry      = 365 * 24 * time.Hour
	TargetsExpiry   = 90 * 24 * time.Hour
	SnapshotExpiry  = 7 * 24 * time.Hour
	TimestampExpiry = 24 * time.Hour
)

// Repo is a repository being edited and served. Its methods are safe for
// concurrent use with the server.
type Repo struct {
	mu         sync.Mutex
	now        func() time.Time
	keys       map[string]ed25519.PrivateKey
	root       *metadata.Metadata[metadata.RootType]
	targets    map[string]*metadata.Metadata[metadata.TargetsType]
	snapshot   *metadata.Metadata[metadata.SnapshotType]
	timestamp  *metadata.Metadata[metadata.TimestampType]
	dirty      map[string]bool
	files      map[string][]byte // served path (no leading "/") -> bytes
	rootJSON   []byte            // 1.root.json
	published  bool
	requests   []string
	intercept  func(w http.ResponseWriter, r *http.Request) bool
	components []string
	signers    map[string]string // role -> role whose key signs it, when not its own

	// Server serves the published files: metadata at the root, payloads
	// under /targets/.
	Server *httptest.Server
}

// New creates a repository with the given component roles, signed at now(),
// publishes version 1 of everything and starts its server.
func New(now func() time.Time, components ...string) (*Repo, error) {
	r := &Repo{
		now:        now,
		keys:       map[string]ed25519.PrivateKey{},
		targets:    map[string]*metadata.Metadata[metadata.TargetsType]{},
		dirty:      map[string]bool{},
		files:      map[string][]byte{},
		components: components,
	}
	t := now().UTC().Truncate(time.Second)
	r.root = metadata.Root(t.Add(RootExpiry))
	r.root.Signed.ConsistentSnapshot = true
	for _, role := range []string{"root", "targets", "snapshot", "timestamp"} {
		k, err := r.newKey(role)
		if err != nil {
			return nil, err
		}
		if err := r.root.Signed.AddKey(k, role); err != nil {
			return nil, err
		}
	}
	top := metadata.Targets(t.Add(TargetsExpiry))
	top.Signed.Delegations = &metadata.Delegations{Keys: map[string]*metadata.Key{}}
	r.targets["targets"] = top
	for _, c := range components {
		k, err := r.newKey(c)
		if err != nil {
			return nil, err
		}
		id, err := k.ID()
		if err != nil {
			return nil, err
		}
		top.Signed.Delegations.Keys[id] = k
		top.Signed.Delegations.Roles = append(top.Signed.Delegations.Roles, metadata.DelegatedRole{
			Name: c, KeyIDs: []string{id}, Threshold: 1, Terminating: true,
			Paths: []string{c + "/*"},
		})
		if c == "rollout" {
			// The rollout role's entries are "rollout/<component>/<id>.json".
			top.Signed.Delegations.Roles[len(top.Signed.Delegations.Roles)-1].Paths = []string{"rollout/*/*"}
		}
		r.targets[c] = metadata.Targets(t.Add(TargetsExpiry))
		r.dirty[c] = true
	}
	r.dirty["targets"] = true
	r.snapshot = metadata.Snapshot(t.Add(SnapshotExpiry))
	r.timestamp = metadata.Timestamp(t.Add(TimestampExpiry))
	if err := r.sign(r.root, "root"); err != nil {
		return nil, err
	}
	b, err := r.root.ToBytes(true)
	if err != nil {
		return nil, err
	}
	r.rootJSON = b
	r.files["1.root.json"] = b
	if err := r.Publish(); err != nil {
		return nil, err
	}
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	return r, nil
}

func (r *Repo) newKey(role string) (*metadata.Key, error) {
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, err
	}
	r.keys[role] = priv
	return metadata.KeyFromPublicKey(priv.Public())
}

type signable interface {
	ClearSignatures()
	Sign(signature.Signer) (*metadata.Signature, error)
}

func (r *Repo) sign(m signable, keyRole string) error {
	s, err := signature.LoadSigner(r.keys[keyRole], crypto.Hash(0))
	if err != nil {
		return err
	}
	m.ClearSignatures()
	_, err = m.Sign(s)
	return err
}

// RootJSON returns version 1 of the root metadata: the device's trust anchor.
func (r *Repo) RootJSON() []byte { return bytes.Clone(r.rootJSON) }

// URL is the metadata base URL; payloads are under URL + "/targets".
func (r *Repo) URL() string { return r.Server.URL }

// Close stops the server.
func (r *Repo) Close() { r.Server.Close() }

// AddTarget lists payload at target path p in role's metadata, with custom
// as the target's custom field (nil for none). The payload is served under
// every hash once published.
func (r *Repo) AddTarget(role, p string, payload []byte, custom json.RawMessage) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	md, ok := r.targets[role]
	if !ok {
		return fmt.Errorf("testrepo: no role %q", role)
	}
	tf, err := metadata.TargetFile().FromBytes(p, payload, "sha256", "sha512")
	if err != nil {
		return err
	}
	if custom != nil {
		c := json.RawMessage(bytes.Clone(custom))
		tf.Custom = &c
	}
	md.Signed.Targets[p] = tf
	r.dirty[role] = true
	dir, name := path.Split(p)
	s256 := sha256.Sum256(payload)
	s512 := sha512.Sum512(payload)
	r.files["targets/"+dir+hex.EncodeToString(s256[:])+"."+name] = bytes.Clone(payload)
	r.files["targets/"+dir+hex.EncodeToString(s512[:])+"."+name] = bytes.Clone(payload)
	return nil
}

// SetCustom replaces the custom field of an existing target (used to
// withdraw an improvement).
func (r *Repo) SetCustom(role, p string, custom json.RawMessage) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	tf, ok := r.targets[role].Signed.Targets[p]
	if !ok {
		return fmt.Errorf("testrepo: role %q lists no %q", role, p)
	}
	c := json.RawMessage(bytes.Clone(custom))
	tf.Custom = &c
	r.dirty[role] = true
	return nil
}

// SignWith makes Publish sign role's next versions with keyRole's key (an
// attack: a role signed by another role's key); keyRole == role undoes it.
// It marks role changed.
func (r *Repo) SignWith(role, keyRole string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.signers == nil {
		r.signers = map[string]string{}
	}
	r.signers[role] = keyRole
	r.dirty[role] = true
}

// Touch marks roles changed, so that the next Publish signs a new version
// of each (with expiries counted from now()).
func (r *Repo) Touch(roles ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, role := range roles {
		r.dirty[role] = true
	}
}

// Files returns a copy of the served files by path (to replay old ones).
func (r *Repo) Files() map[string][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string][]byte, len(r.files))
	for k, v := range r.files {
		out[k] = v
	}
	return out
}

// Put serves b at path (no leading "/") beside the signed files: a
// transparency checkpoint or proof. Publish does not touch it.
func (r *Repo) Put(path string, b []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.files[path] = bytes.Clone(b)
}

// SetPaths replaces the paths delegated to role by the top-level targets
// role, and marks targets changed.
func (r *Repo) SetPaths(role string, paths ...string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, d := range r.targets["targets"].Signed.Delegations.Roles {
		if d.Name == role {
			r.targets["targets"].Signed.Delegations.Roles[i].Paths = paths
			r.dirty["targets"] = true
			return nil
		}
	}
	return fmt.Errorf("testrepo: targets delegates no role %q", role)
}

// Target returns what role lists for target path p: length, hashes (hex)
// and custom field.
func (r *Repo) Target(role, p string) (int64, map[string]string, json.RawMessage, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	md, ok := r.targets[role]
	if !ok {
		return 0, nil, nil, fmt.Errorf("testrepo: no role %q", role)
	}
	tf, ok := md.Signed.Targets[p]
	if !ok {
		return 0, nil, nil, fmt.Errorf("testrepo: role %q lists no %q", role, p)
	}
	hs := map[string]string{}
	for alg, h := range tf.Hashes {
		hs[alg] = hex.EncodeToString(h)
	}
	var custom json.RawMessage
	if tf.Custom != nil {
		custom = bytes.Clone(*tf.Custom)
	}
	return tf.Length, hs, custom, nil
}

// RemoveTarget delists target path p from role (its payload stays served).
func (r *Repo) RemoveTarget(role, p string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.targets[role].Signed.Targets, p)
	r.dirty[role] = true
}

// Publish signs a new version of every changed targets-family role, then a
// new snapshot and timestamp, with expiries counted from now(), and serves
// them.
func (r *Repo) Publish() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.now().UTC().Truncate(time.Second)
	roles := make([]string, 0, len(r.dirty))
	for role := range r.dirty {
		roles = append(roles, role)
	}
	sort.Strings(roles)
	for _, role := range roles {
		md := r.targets[role]
		if r.published {
			md.Signed.Version++
		}
		md.Signed.Expires = t.Add(TargetsExpiry)
		signer := role
		if k, ok := r.signers[role]; ok {
			signer = k
		}
		if err := r.sign(md, signer); err != nil {
			return err
		}
		b, err := md.ToBytes(false)
		if err != nil {
			return err
		}
		r.files[fmt.Sprintf("%d.%s.json", md.Signed.Version, role)] = b
		r.snapshot.Signed.Meta[role+".json"] = metadata.MetaFile(md.Signed.Version)
	}
	clear(r.dirty)
	if r.published {
		r.snapshot.Signed.Version++
		r.timestamp.Signed.Version++
	}
	r.published = true
	r.snapshot.Signed.Expires = t.Add(SnapshotExpiry)
	if err := r.sign(r.snapshot, "snapshot"); err != nil {
		return err
	}
	b, err := r.snapshot.ToBytes(false)
	if err != nil {
		return err
	}
	r.files[fmt.Sprintf("%d.snapshot.json", r.snapshot.Signed.Version)] = b
	r.timestamp.Signed.Meta["snapshot.json"] = metadata.MetaFile(r.snapshot.Signed.Version)
	return r.signTimestamp(t.Add(TimestampExpiry))
}

func (r *Repo) signTimestamp(expires time.Time) error {
	r.timestamp.Signed.Expires = expires
	if err := r.sign(r.timestamp, "timestamp"); err != nil {
		return err
	}
	b, err := r.timestamp.ToBytes(false)
	if err != nil {
		return err
	}
	r.files["timestamp.json"] = b
	return nil
}

// Intercept installs f in front of the file server: when f returns true it
// has answered the request itself (to serve forged bytes, fail, or stall).
// A nil f removes the interception.
func (r *Repo) Intercept(f func(w http.ResponseWriter, req *http.Request) bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.intercept = f
}

// Requests returns the paths requested so far, in order.
func (r *Repo) Requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.requests...)
}

func (r *Repo) serve(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.requests = append(r.requests, req.URL.Path)
	f := r.intercept
	r.mu.Unlock()
	if f != nil && f(w, req) {
		return
	}
	r.mu.Lock()
	b, ok := r.files[strings.TrimPrefix(req.URL.Path, "/")]
	r.mu.Unlock()
	if !ok {
		http.NotFound(w, req)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Write(b)
}

// TarGz returns a gzip-compressed tar archive holding files (name ->
// content, mode 0644), in name order.
func TarGz(files map[string]string) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n])), Typeflag: tar.TypeReg})
		tw.Write([]byte(files[n]))
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}
