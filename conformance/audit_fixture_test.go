package conformance

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bsiframework/bsi/trust"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// The audit fixtures under testdata/audit are TUF repositories published
// by go-tuf, not by bsi: the layouts and key types other tools make. They
// are committed bytes; regenerate them (new keys, same shapes) with
//
//	go test ./conformance -run TestAuditFixtures -update
var update = flag.Bool("update", false, "regenerate the go-tuf audit fixtures under testdata/audit")

// fixtureExpires is the expiry of every fixture role; fixtures are
// audited --at fixtureTime.
var (
	fixtureExpires = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	fixtureTime    = time.Date(2027, 6, 1, 0, 0, 0, 0, time.UTC)
)

// fixtureShape describes one go-tuf repository.
type fixtureShape struct {
	consistent bool
	// rootVersions is the length of the root history; each new version
	// rotates one root key and is signed by the old and the new keys.
	rootVersions int
	// targetsScheme is "ed25519", "rsa-pkcs1v15-sha256" (an RSA key
	// whose scheme bsi devices do not support, signing PKCS#1 v1.5) or
	// "rsa-mislabelled" (an RSA key published with scheme
	// rsa-pkcs1v15-sha256 that signs RSASSA-PSS: go-tuf ignores the
	// scheme of RSA keys, bsi devices do not).
	targetsScheme string
	// hexECDSA adds to the timestamp role (threshold 1) a second key, an
	// ECDSA key published in hex rather than PEM.
	hexECDSA bool
	// sharedKey gives timestamp the snapshot key.
	sharedKey bool
	// orphan lists in the snapshot a role that nothing delegates to.
	orphan bool
}

var fixtureShapes = map[string]fixtureShape{
	"consistent-off":  {consistent: false, rootVersions: 4, targetsScheme: "ed25519"},
	"consistent-on":   {consistent: true, rootVersions: 2, targetsScheme: "ed25519"},
	"rsa-pkcs1v15":    {consistent: true, rootVersions: 1, targetsScheme: "rsa-pkcs1v15-sha256"},
	"rsa-mislabelled": {consistent: true, rootVersions: 1, targetsScheme: "rsa-mislabelled"},
	"hex-ecdsa":       {consistent: true, rootVersions: 1, targetsScheme: "ed25519", hexECDSA: true},
	"shared-key":      {consistent: false, rootVersions: 1, targetsScheme: "ed25519", sharedKey: true},
	"orphan-snapshot": {consistent: true, rootVersions: 1, targetsScheme: "ed25519", orphan: true},
}

// fixtureKey is a key with its metadata form (possibly re-labelled) and
// a signer.
type fixtureKey struct {
	md     *metadata.Key
	signer signature.Signer
}

func newEd25519Key(t *testing.T) fixtureKey {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := metadata.KeyFromPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	s, err := signature.LoadSigner(priv, crypto.Hash(0))
	if err != nil {
		t.Fatal(err)
	}
	return fixtureKey{k, s}
}

// newRSAPKCS1Key is an RSA key published with scheme
// rsa-pkcs1v15-sha256; it signs PKCS#1 v1.5, or RSASSA-PSS when pss.
func newRSAPKCS1Key(t *testing.T, pss bool) fixtureKey {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	k, err := metadata.KeyFromPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	k.Scheme = "rsa-pkcs1v15-sha256"
	var s signature.Signer
	if pss {
		s, err = signature.LoadRSAPSSSigner(priv, crypto.SHA256, &rsa.PSSOptions{Hash: crypto.SHA256})
	} else {
		s, err = signature.LoadRSAPKCS1v15Signer(priv, crypto.SHA256)
	}
	if err != nil {
		t.Fatal(err)
	}
	return fixtureKey{k, s}
}

func newHexECDSAKey(t *testing.T) fixtureKey {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := metadata.KeyFromPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	k.Value.PublicKey = hex.EncodeToString(der)
	s, err := signature.LoadSigner(priv, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return fixtureKey{k, s}
}

func (k fixtureKey) id(t *testing.T) string {
	id, err := k.md.ID()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// sign signs md with keys, naming each signature by the key's id as
// published (go-tuf names it by the id of its own form of the key).
func sign[T metadata.Roles](t *testing.T, md *metadata.Metadata[T], keys ...fixtureKey) []byte {
	t.Helper()
	md.ClearSignatures()
	for _, k := range keys {
		sig, err := md.Sign(k.signer)
		if err != nil {
			t.Fatal(err)
		}
		md.Signatures[len(md.Signatures)-1].KeyID = k.id(t)
		_ = sig
	}
	b, err := md.ToBytes(true)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeFixture publishes shape into dir/metadata and dir/targets.
func writeFixture(t *testing.T, dir string, sh fixtureShape) {
	files := map[string][]byte{}
	rootKeys := []fixtureKey{newEd25519Key(t), newEd25519Key(t)}
	targetsKey := newEd25519Key(t)
	switch sh.targetsScheme {
	case "rsa-pkcs1v15-sha256":
		targetsKey = newRSAPKCS1Key(t, false)
	case "rsa-mislabelled":
		targetsKey = newRSAPKCS1Key(t, true)
	}
	snapKey, tsKey := newEd25519Key(t), newEd25519Key(t)
	if sh.sharedKey {
		tsKey = snapKey
	}
	root := metadata.Root(fixtureExpires)
	root.Signed.ConsistentSnapshot = sh.consistent
	add := func(k fixtureKey, role string) {
		if err := root.Signed.AddKey(k.md, role); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range rootKeys {
		add(k, "root")
	}
	root.Signed.Roles["root"].Threshold = 2
	add(targetsKey, "targets")
	add(snapKey, "snapshot")
	add(tsKey, "timestamp")
	if sh.hexECDSA {
		add(newHexECDSAKey(t), "timestamp")
	}
	files["1.root.json"] = sign(t, root, rootKeys...)
	for v := 2; v <= sh.rootVersions; v++ {
		old := rootKeys[0]
		if err := root.Signed.RevokeKey(old.id(t), "root"); err != nil {
			t.Fatal(err)
		}
		rootKeys = append(rootKeys[1:], newEd25519Key(t))
		add(rootKeys[1], "root")
		root.Signed.Version = int64(v)
		files[fmt.Sprintf("%d.root.json", v)] = sign(t, root, append([]fixtureKey{old}, rootKeys...)...)
	}
	files["root.json"] = files[fmt.Sprintf("%d.root.json", sh.rootVersions)]

	// webkit: a delegated role with a threshold of 2 of 3 keys.
	webkitKeys := []fixtureKey{newEd25519Key(t), newEd25519Key(t), newEd25519Key(t)}
	payloads := map[string][]byte{"file1.txt": []byte("file one\n"), "webkit/fix.txt": []byte("webkit fix\n")}
	webkit := metadata.Targets(fixtureExpires)
	tf, err := metadata.TargetFile().FromBytes("webkit/fix.txt", payloads["webkit/fix.txt"], "sha256")
	if err != nil {
		t.Fatal(err)
	}
	webkit.Signed.Targets["webkit/fix.txt"] = tf
	targets := metadata.Targets(fixtureExpires)
	if tf, err = metadata.TargetFile().FromBytes("file1.txt", payloads["file1.txt"], "sha256"); err != nil {
		t.Fatal(err)
	}
	targets.Signed.Targets["file1.txt"] = tf
	targets.Signed.Delegations = &metadata.Delegations{Keys: map[string]*metadata.Key{},
		Roles: []metadata.DelegatedRole{{Name: "webkit", Threshold: 2, Paths: []string{"webkit/*"}}}}
	for _, k := range webkitKeys {
		if err := targets.Signed.AddKey(k.md, "webkit"); err != nil {
			t.Fatal(err)
		}
	}
	meta := func(name string, v int64) string {
		if sh.consistent {
			return fmt.Sprintf("%d.%s", v, name)
		}
		return name
	}
	snap := metadata.Snapshot(fixtureExpires)
	files[meta("webkit.json", 1)] = sign(t, webkit, webkitKeys[:2]...)
	files[meta("targets.json", 1)] = sign(t, targets, targetsKey)
	snap.Signed.Meta["targets.json"] = metadata.MetaFile(1)
	snap.Signed.Meta["webkit.json"] = metadata.MetaFile(1)
	if sh.orphan {
		old := metadata.Targets(fixtureExpires)
		files[meta("retired.json", 1)] = sign(t, old, webkitKeys[:2]...)
		snap.Signed.Meta["retired.json"] = metadata.MetaFile(1)
	}
	files[meta("snapshot.json", 1)] = sign(t, snap, snapKey)
	ts := metadata.Timestamp(fixtureExpires)
	ts.Signed.Meta["snapshot.json"] = metadata.MetaFile(1)
	files["timestamp.json"] = sign(t, ts, tsKey)

	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	for name, b := range files {
		writeFile(t, filepath.Join(dir, "metadata", name), b)
	}
	for p, b := range payloads {
		name := p
		if sh.consistent {
			h, _ := hex.DecodeString(hexHash(b))
			name = filepath.Join(filepath.Dir(p), hex.EncodeToString(h)+"."+filepath.Base(p))
		}
		writeFile(t, filepath.Join(dir, "targets", name), b)
	}
}

func writeFile(t *testing.T, name string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// serveFixture serves testdata/audit/name: metadata under /metadata,
// payloads under /targets.
func serveFixture(t *testing.T, name string) (metaURL, targetsURL string, root []byte) {
	t.Helper()
	return serveDir(t, filepath.Join("testdata", "audit", name))
}

// serveDir serves a fixture directory.
func serveDir(t *testing.T, dir string) (metaURL, targetsURL string, root []byte) {
	t.Helper()
	name := dir
	root, err := os.ReadFile(filepath.Join(dir, "metadata", "1.root.json"))
	if err != nil {
		t.Fatalf("fixture %s: %v (regenerate with -update)", name, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metadata/", http.StripPrefix("/metadata/", http.FileServer(http.Dir(filepath.Join(dir, "metadata")))))
	mux.Handle("/targets/", http.StripPrefix("/targets/", http.FileServer(http.Dir(filepath.Join(dir, "targets")))))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL + "/metadata", srv.URL + "/targets", root
}

func auditFixture(t *testing.T, name string, at time.Time) *AuditReport {
	t.Helper()
	u, tu, root := serveFixture(t, name)
	rep, err := Audit(t.Context(), AuditOptions{URL: u, TargetsURL: tu, Root: root, Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// errAudit stands for an operational audit error (exit 1) in tables.
var errAudit = errors.New("audit findings")

// TestAuditFixtures audits the repositories go-tuf published: no false
// findings (every target present under the names the root's
// consistent_snapshot setting gives, 5.7.3), and the real ones found:
// keys bsi devices cannot use, a role go-tuf refuses that devices accept
// (verifier-disagreement), keys shared between roles, orphan snapshot
// entries.
func TestAuditFixtures(t *testing.T) {
	if *update {
		for name, sh := range fixtureShapes {
			writeFixture(t, filepath.Join("testdata", "audit", name), sh)
		}
	}
	type want struct{ sev, check, role string }
	for _, tc := range []struct {
		name    string
		class   error // nil: the audit passes
		roots   int64
		want    []want
		notWant []string
	}{
		{"consistent-off", nil, 4, []want{{SevWarning, "consistent-snapshot", "root"}}, nil},
		{"consistent-on", nil, 2, nil, []string{"consistent-snapshot"}},
		{"rsa-pkcs1v15", trust.ErrSecurity, 1, []want{
			{SevSecurity, "signature", "targets"},
			{SevWarning, "key-unusable", "targets"},
		}, []string{"verifier-disagreement"}},
		{"rsa-mislabelled", errAudit, 1, []want{
			{SevWarning, "key-unusable", "targets"},
			{SevError, "verifier-disagreement", "targets"},
		}, []string{"signature"}},
		{"hex-ecdsa", trust.ErrSecurity, 1, []want{
			{SevSecurity, "signature", "timestamp"},
			{SevWarning, "key-unusable", "timestamp"},
			{SevError, "verifier-disagreement", "timestamp"},
		}, nil},
		{"shared-key", nil, 1, []want{{SevWarning, "shared-key", "snapshot,timestamp"}}, nil},
		{"orphan-snapshot", nil, 1, []want{{SevWarning, "orphan", "retired"}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := auditFixture(t, tc.name, fixtureTime)
			for _, f := range rep.Findings {
				t.Logf("%s %s %s: %s", f.Severity, f.Check, f.Role, f.Message)
				// The report speaks bsi's words, not go-tuf's.
				if strings.Contains(f.Message, "Verifying ") || strings.Contains(f.Message, "not enough signatures") {
					t.Errorf("go-tuf's message leaks into the report: %s", f.Message)
				}
			}
			for _, w := range tc.want {
				if !slices.ContainsFunc(rep.Findings, func(f Finding) bool {
					return f.Severity == w.sev && f.Check == w.check && f.Role == w.role
				}) {
					t.Errorf("no %s %s finding on %s: %+v", w.sev, w.check, w.role, rep.Findings)
				}
			}
			for _, f := range rep.Findings {
				expected := f.Severity == SevWarning || slices.ContainsFunc(tc.want, func(w want) bool { return w.check == f.Check && w.role == f.Role })
				if !expected || slices.Contains(tc.notWant, f.Check) {
					t.Errorf("unexpected finding %+v", f)
				}
			}
			err := rep.Err()
			switch {
			case (tc.class == nil) != (err == nil):
				t.Errorf("audit error %v, want %v", err, tc.class)
			case tc.class == errAudit && (errors.Is(err, trust.ErrSecurity) || errors.Is(err, trust.ErrFreshness)):
				t.Errorf("audit error %v, want an operational error (exit 1)", err)
			case tc.class != nil && tc.class != errAudit && !errors.Is(err, tc.class):
				t.Errorf("audit error %v, want %v", err, tc.class)
			}
			if rep.Roles[0].Role != "root" || rep.Roles[0].Version != tc.roots {
				t.Errorf("root row %+v, want version %d", rep.Roles[0], tc.roots)
			}
			if tc.class == nil && (rep.Targets != 2 || rep.Payloads != 2) {
				t.Errorf("%d targets, %d payloads checked; want 2 and 2", rep.Targets, rep.Payloads)
			}
		})
	}
}

// mutatedFixture copies fixture name into a temporary directory and
// replaces the first signature of metadata file with another valid-looking
// hex string; it returns the directory.
func mutatedFixture(t *testing.T, name, file string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("testdata", "audit", name))); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "metadata", file)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var env struct {
		Signatures []map[string]string `json:"signatures"`
		Signed     json.RawMessage     `json:"signed"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatal(err)
	}
	sig := env.Signatures[0]["sig"]
	b = bytes.Replace(b, []byte(sig), []byte(strings.Repeat("ab", len(sig)/2)), 1)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestAttackVerifiedColumnHonest: the verified column says true only for
// a role that verified beneath roles that verified. The old audit showed
// the root verified when the trusted root itself failed, and a delegated
// role verified beneath a targets role that did not verify.
func TestAttackVerifiedColumnHonest(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		unverified []string
		verified   []string
	}{
		{"trusted root not signed by its threshold", "1.root.json", []string{"root", "timestamp", "snapshot", "targets", "webkit"}, nil},
		{"targets signature forged", "1.targets.json", []string{"targets", "webkit"}, []string{"root", "timestamp", "snapshot"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, tu, root := serveDir(t, mutatedFixture(t, "consistent-on", tc.file))
			rep, err := Audit(t.Context(), AuditOptions{URL: u, TargetsURL: tu, Root: root, Now: func() time.Time { return fixtureTime }})
			if err != nil {
				t.Fatal(err)
			}
			if rep.HasFinding("verifier-disagreement", "") {
				t.Errorf("go-tuf and the device client disagree: %+v", rep.Findings)
			}
			rows := map[string]bool{}
			for _, ra := range rep.Roles {
				rows[ra.Role] = ra.Verified
			}
			for _, r := range tc.unverified {
				if v, ok := rows[r]; !ok || v {
					t.Errorf("role %s: verified %v (listed %v), want false: %+v", r, v, ok, rep.Roles)
				}
			}
			for _, r := range tc.verified {
				if !rows[r] {
					t.Errorf("role %s is not shown verified: %+v", r, rep.Roles)
				}
			}
			if !errors.Is(rep.Err(), trust.ErrSecurity) {
				t.Errorf("audit error %v, want a security error", rep.Err())
			}
		})
	}
}

// TestAuditInterrupted: an audit cancelled part-way (Ctrl-C) returns the
// context's error, not a report of "fetch" findings that blame the
// repository for the fetches the cancellation cut short.
func TestAuditInterrupted(t *testing.T) {
	u, tu, root := serveFixture(t, "consistent-on")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	rep, err := Audit(ctx, AuditOptions{URL: u, TargetsURL: tu, Root: root, Now: func() time.Time { return fixtureTime }})
	if !errors.Is(err, context.Canceled) || rep != nil {
		t.Fatalf("cancelled audit: report %+v, error %v; want no report and context.Canceled", rep, err)
	}
}
