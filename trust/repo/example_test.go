package repo_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto"
	"crypto/ed25519"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/bsiframework/bsi/manifest"
	"github.com/bsiframework/bsi/trust/repo"
)

// exampleKeys are deterministic ed25519 keys by name; a real publisher
// loads key files or KMS keys through the keys package.
type exampleKeys map[string]signature.Signer

func (k exampleKeys) signer(name string) signature.Signer {
	if s, ok := k[name]; ok {
		return s
	}
	seed := make([]byte, ed25519.SeedSize)
	copy(seed, name)
	s, err := signature.LoadSigner(ed25519.NewKeyFromSeed(seed), crypto.Hash(0))
	if err != nil {
		log.Fatal(err)
	}
	k[name] = s
	return s
}

func (k exampleKeys) public(names ...string) []*metadata.Key {
	var out []*metadata.Key
	for _, n := range names {
		pub, _ := k.signer(n).PublicKey()
		key, err := metadata.KeyFromPublicKey(pub)
		if err != nil {
			log.Fatal(err)
		}
		out = append(out, key)
	}
	return out
}

// options resolves online key references to the named keys and fixes the
// clock.
func (k exampleKeys) options() repo.Options {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	return repo.Options{
		Now: func() time.Time { return now },
		LoadSigner: func(_ context.Context, ref string) (signature.Signer, error) {
			return k.signer(ref), nil
		},
	}
}

// examplePayload writes a tar.gz holding one file.
func examplePayload(dir, name string) string {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	content := "fixed library for " + name
	tw.WriteHeader(&tar.Header{Name: "lib/" + name + ".dylib", Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg})
	tw.Write([]byte(content))
	tw.Close()
	gz.Close()
	p := filepath.Join(dir, name+".tar.gz")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
	return p
}

func exampleManifest(id string, seq int) []byte {
	m := manifest.Manifest{Schema: manifest.Schema, ID: id, Title: "fix " + id, Platform: "macos", Component: "webkit",
		AppliesTo: manifest.AppliesTo{Releases: []string{"26.3"}}, Sequence: seq, Severity: manifest.SeverityHigh,
		Released: "2026-02-27T10:00:00Z", Status: manifest.StatusActive}
	b, err := m.Encode()
	if err != nil {
		log.Fatal(err)
	}
	return b
}

// exampleWorkspace creates a workspace with a 2-of-2 root, a targets key,
// online snapshot and timestamp keys, and the component webkit.
func exampleWorkspace(ctx context.Context, dir string, keys exampleKeys) *repo.Workspace {
	ws, err := repo.Init(ctx, filepath.Join(dir, "ws"), keys.options(), repo.InitOptions{
		RootKeys: keys.public("root1", "root2"), RootThreshold: 2,
		TargetsKeys: keys.public("targets"),
		SnapshotKey: "snapshot", TimestampKey: "timestamp"})
	if err != nil {
		log.Fatal(err)
	}
	if err := ws.Delegate(ctx, "webkit", repo.DelegateOptions{Keys: keys.public("webkit")}); err != nil {
		log.Fatal(err)
	}
	return ws
}

// The whole publishing flow: create a workspace, delegate a component to
// its team's key, add an improvement, sign with the offline keys and
// publish. Publish refuses while any role lacks signatures.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "bsi-example")
	defer os.RemoveAll(dir)
	keys := exampleKeys{}

	ws, err := repo.Init(ctx, filepath.Join(dir, "ws"), keys.options(), repo.InitOptions{
		RootKeys: keys.public("root1", "root2", "root3"), RootThreshold: 2,
		TargetsKeys: keys.public("targets"),
		SnapshotKey: "snapshot", TimestampKey: "timestamp"})
	if err != nil {
		log.Fatal(err)
	}
	defer ws.Close()
	if err := ws.Delegate(ctx, "webkit", repo.DelegateOptions{Keys: keys.public("webkit")}); err != nil {
		log.Fatal(err)
	}
	imp, err := ws.Add(ctx, repo.AddRequest{
		Manifest: exampleManifest("webkit-26.3-a", 1),
		Payload:  examplePayload(dir, "webkit-26.3-a"),
		Signers:  []signature.Signer{keys.signer("webkit")}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("added", imp.Target, "to role", imp.Role)

	dest, err := repo.DirDestination(filepath.Join(dir, "public"))
	if err != nil {
		log.Fatal(err)
	}
	_, err = ws.Publish(ctx, dest)
	fmt.Println("publish:", err)

	for _, k := range []string{"root1", "root2", "targets"} {
		signed, err := ws.Sign(ctx, keys.signer(k))
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(k, "signed", signed)
	}
	res, err := ws.Publish(ctx, dest)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("published snapshot", res.SnapshotVersion, "timestamp", res.TimestampVersion, "files", len(res.Written))
	fmt.Println("last file written:", res.Written[len(res.Written)-1])
	// Output:
	// added webkit/webkit-26.3-a.tar.gz to role webkit
	// publish: unsigned changes: root v1 needs 2 more signature(s) from 9b97afadc4ca51c3, 669e9a6b29012fac, 19a633c7d90f03ef; targets v1 needs 1 more signature(s) from eff3707b84107d10
	// root1 signed [root]
	// root2 signed [root]
	// targets signed [targets]
	// published snapshot 1 timestamp 1 files 7
	// last file written: timestamp.json
}

// Status shows every role: version, expiry, signatures against threshold,
// and whether it has unpublished changes.
func ExampleWorkspace_Status() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "bsi-example")
	defer os.RemoveAll(dir)
	keys := exampleKeys{}
	ws := exampleWorkspace(ctx, dir, keys)
	defer ws.Close()
	if _, err := ws.Sign(ctx, keys.signer("root1")); err != nil {
		log.Fatal(err)
	}

	status, err := ws.Status(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, st := range status {
		fmt.Printf("%-9s v%d expires %s signatures %d/%d pending=%t unsigned=%t\n",
			st.Role, st.Version, st.Expires.Format(time.DateOnly), st.Signatures, st.Threshold, st.Pending, st.Unsigned)
	}
	// Output:
	// root      v1 expires 2027-03-01 signatures 1/2 pending=true unsigned=true
	// targets   v1 expires 2026-05-30 signatures 0/1 pending=true unsigned=true
	// webkit    v1 expires 2026-05-30 signatures 0/1 pending=true unsigned=true
	// snapshot  v1 expires 2026-03-08 signatures 0/1 pending=true unsigned=false
	// timestamp v1 expires 2026-03-02 signatures 0/1 pending=true unsigned=false
}

// An offline ceremony: the workspace exports root, the air-gapped machine
// signs the file with SignFile (it needs no workspace), and the signed file
// is imported back.
func ExampleWorkspace_ExportRole() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "bsi-example")
	defer os.RemoveAll(dir)
	keys := exampleKeys{}
	ws := exampleWorkspace(ctx, dir, keys)
	defer ws.Close()

	exp, err := ws.ExportRole(metadata.ROOT)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("root v%d needs %d of %d keys, %d missing\n", exp.Version, exp.Threshold, len(exp.KeyIDs), len(exp.Missing))

	// On the air-gapped machine, with each root key in turn.
	file := exp.Metadata
	for _, k := range []string{"root1", "root2"} {
		if file, err = repo.SignFile(ctx, keys.signer(k), file, ""); err != nil {
			log.Fatal(err)
		}
	}

	added, err := ws.ImportFile(ctx, metadata.ROOT, file)
	if err != nil {
		log.Fatal(err)
	}
	exp, err = ws.ExportRole(metadata.ROOT)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("imported %d signatures, %d missing\n", added, len(exp.Missing))
	// Output:
	// root v1 needs 2 of 2 keys, 2 missing
	// imported 2 signatures, 0 missing
}
