// Command publisher is the publisher side of bsi through its library API:
// it generates keys, creates a repository workspace with a 2-of-3 root,
// delegates the component "webkit" to its team's key, adds one improvement
// for release 26.3 of platform "macos", has the offline keys sign, and
// publishes a static TUF repository that "bsi serve" (or any web server,
// object store or CDN) can serve.
//
//	go run ./examples/publisher --dir /tmp/bsi-pub
//	go run ./cmd/bsi serve /tmp/bsi-pub/public
//
// The same steps with the command line are "bsi keys generate", "bsi repo
// init", "bsi repo delegate", "bsi repo add", "bsi repo sign" and "bsi repo
// publish".
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/bsiframework/bsi/keys"
	"github.com/bsiframework/bsi/manifest"
	"github.com/bsiframework/bsi/trust/repo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "publisher: error:", err)
		os.Exit(1)
	}
}

// keyNames are the publisher's keys: three root holders (any two sign),
// the targets key, the online snapshot and timestamp keys, and the webkit
// team's key.
var keyNames = []string{"root1", "root2", "root3", "targets", "snapshot", "timestamp", "webkit"}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("publisher", flag.ContinueOnError)
	dir := fs.String("dir", "", "directory for keys/, workspace/ and public/ (default: a new temporary directory)")
	verbose := fs.Bool("v", false, "log what the workspace does on stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "bsi-publisher-")
		if err != nil {
			return err
		}
		*dir = d
	}
	logger := slog.New(slog.DiscardHandler)
	if *verbose {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	res, err := publish(ctx, *dir, logger, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "published %d files to %s (snapshot v%d, timestamp v%d)\n",
		len(res.Written), filepath.Join(*dir, "public"), res.SnapshotVersion, res.TimestampVersion)
	fmt.Fprintf(stdout, "devices trust %s\n", filepath.Join(*dir, "public", "1.root.json"))
	fmt.Fprintf(stdout, "serve it with: go run ./cmd/bsi serve %s\n", filepath.Join(*dir, "public"))
	return nil
}

// publish runs the whole publisher story in dir at now.
func publish(ctx context.Context, dir string, logger *slog.Logger, now time.Time) (*repo.PublishResult, error) {
	// 1. Keys. Written unencrypted so that the example asks for nothing: a
	// real publisher writes them with a password ("bsi keys generate") or
	// keeps them in a KMS (awskms://, gcpkms://, azurekms://, hashivault://).
	signers, err := generateKeys(filepath.Join(dir, "keys"))
	if err != nil {
		return nil, err
	}
	rootKeys, err := tufKeys(signers, "root1", "root2", "root3")
	if err != nil {
		return nil, err
	}
	targetsKeys, err := tufKeys(signers, "targets")
	if err != nil {
		return nil, err
	}
	webkitKeys, err := tufKeys(signers, "webkit")
	if err != nil {
		return nil, err
	}

	// 2. The workspace. The online keys are references, resolved by
	// LoadSigner at every publish and refresh.
	opts := repo.Options{
		Now:    func() time.Time { return now },
		Logger: logger,
		LoadSigner: func(ctx context.Context, ref string) (signature.Signer, error) {
			return keys.LoadSigner(ctx, ref, nil)
		},
	}
	ws, err := repo.Init(ctx, filepath.Join(dir, "workspace"), opts, repo.InitOptions{
		RootKeys:      rootKeys,
		RootThreshold: 2,
		TargetsKeys:   targetsKeys,
		SnapshotKey:   filepath.Join(dir, "keys", "snapshot"),
		TimestampKey:  filepath.Join(dir, "keys", "timestamp"),
	})
	if err != nil {
		return nil, err
	}
	defer ws.Close()

	// 3. Delegate webkit/* to the webkit team.
	if err := ws.Delegate(ctx, "webkit", repo.DelegateOptions{Keys: webkitKeys}); err != nil {
		return nil, err
	}

	// 4. The improvement: a payload archive and its manifest, signed by the
	// webkit team as it is added.
	m := &manifest.Manifest{
		Schema:     manifest.Schema,
		ID:         "webkit-26.3-a",
		Title:      "WebKit: use-after-free in the media element",
		Platform:   "macos",
		Component:  "webkit",
		AppliesTo:  manifest.AppliesTo{Releases: []string{"26.3"}},
		Sequence:   1,
		Severity:   manifest.SeverityHigh,
		Advisories: []string{"CVE-2026-40001"},
		Released:   manifest.FormatTime(now),
		Status:     manifest.StatusActive,
	}
	mj, err := m.Encode()
	if err != nil {
		return nil, err
	}
	payload := filepath.Join(dir, "payloads", m.ID+".tar.gz")
	if err := writePayload(payload, map[string]string{
		"README":                  "webkit: background security improvement webkit-26.3-a\n",
		"lib/WebCore.patch.dylib": "patched media element\n",
	}); err != nil {
		return nil, err
	}
	imp, err := ws.Add(ctx, repo.AddRequest{Manifest: mj, Payload: payload, Signers: []signature.Signer{signers["webkit"]}})
	if err != nil {
		return nil, err
	}
	logger.Info("added", "target", imp.Target, "length", imp.Length)

	// 5. The offline ceremony: two of the three root holders sign root v1,
	// the targets holder signs the delegation.
	for _, k := range []string{"root1", "root2", "targets"} {
		if _, err := ws.Sign(ctx, signers[k]); err != nil {
			return nil, fmt.Errorf("signing with %s: %w", k, err)
		}
	}

	// 6. Publish: payloads first, timestamp last. Publish refuses roles
	// still waiting for signatures with a *repo.PendingError.
	dest, err := repo.DirDestination(filepath.Join(dir, "public"))
	if err != nil {
		return nil, err
	}
	res, err := ws.Publish(ctx, dest)
	var pe *repo.PendingError
	if errors.As(err, &pe) {
		return nil, fmt.Errorf("roles still need signatures: %w", err)
	}
	return res, err
}

// generateKeys writes one key pair per name under dir and returns their
// signers.
func generateKeys(dir string) (map[string]signature.Signer, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	out := map[string]signature.Signer{}
	for _, name := range keyNames {
		priv, err := keys.Generate(keys.Ed25519)
		if err != nil {
			return nil, err
		}
		if err := keys.WriteKeyPair(filepath.Join(dir, name), priv, nil); err != nil {
			return nil, err
		}
		if out[name], err = keys.NewSigner(priv); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// tufKeys returns the TUF form (key type, scheme, public key) of the named
// signers' keys, as roles list them.
func tufKeys(signers map[string]signature.Signer, names ...string) ([]*metadata.Key, error) {
	var out []*metadata.Key
	for _, n := range names {
		pub, err := signers[n].PublicKey()
		if err != nil {
			return nil, err
		}
		k, err := keys.TUFKey(pub)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, nil
}

// writePayload writes a tar.gz archive of files (name → content) to path.
func writePayload(path string, files map[string]string) error {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		body := files[name]
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		if _, err := io.WriteString(tw, body); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := gz.Close(); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}
