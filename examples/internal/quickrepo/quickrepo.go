// Package quickrepo publishes a small, real bsi repository and serves it on
// loopback, for the examples that need a repository to talk to when none is
// given (examples/client, examples/auditor). examples/publisher shows the
// same steps at length; this package keeps every key in memory.
//
// The repository has a 2-of-3 root, a targets role, and the components
// webkit and safari delegated to one team key each, with one active
// improvement each for release 26.3 of platform macos.
package quickrepo

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/bsiframework/bsi/keys"
	"github.com/bsiframework/bsi/manifest"
	"github.com/bsiframework/bsi/serve"
	"github.com/bsiframework/bsi/trust/repo"
)

// Platform and Release are what the published improvements apply to.
const (
	Platform = "macos"
	Release  = "26.3"
)

// Components are the delegated components, one improvement each.
var Components = []string{"safari", "webkit"}

// Publish creates a workspace in dir/workspace and publishes it to
// dir/public at now. It returns the published tree's directory.
func Publish(ctx context.Context, dir string, now time.Time) (string, error) {
	signers := map[string]signature.Signer{}
	for _, n := range append([]string{"root1", "root2", "root3", "targets", "snapshot", "timestamp"}, Components...) {
		priv, err := keys.Generate(keys.Ed25519)
		if err != nil {
			return "", err
		}
		if signers[n], err = keys.NewSigner(priv); err != nil {
			return "", err
		}
	}
	tuf := func(names ...string) ([]*metadata.Key, error) {
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
	rootKeys, err := tuf("root1", "root2", "root3")
	if err != nil {
		return "", err
	}
	targetsKeys, err := tuf("targets")
	if err != nil {
		return "", err
	}
	opts := repo.Options{
		Now: func() time.Time { return now },
		// The online keys are references; here they name keys held in
		// memory ("mem:snapshot").
		LoadSigner: func(_ context.Context, ref string) (signature.Signer, error) {
			if name, ok := strings.CutPrefix(ref, "mem:"); ok && signers[name] != nil {
				return signers[name], nil
			}
			return nil, fmt.Errorf("quickrepo: no key %q", ref)
		},
	}
	ws, err := repo.Init(ctx, filepath.Join(dir, "workspace"), opts, repo.InitOptions{
		RootKeys: rootKeys, RootThreshold: 2, TargetsKeys: targetsKeys,
		SnapshotKey: "mem:snapshot", TimestampKey: "mem:timestamp",
	})
	if err != nil {
		return "", err
	}
	defer ws.Close()
	for _, c := range Components {
		k, err := tuf(c)
		if err != nil {
			return "", err
		}
		if err := ws.Delegate(ctx, c, repo.DelegateOptions{Keys: k}); err != nil {
			return "", err
		}
		if err := add(ctx, ws, dir, c, now, signers[c]); err != nil {
			return "", err
		}
	}
	for _, k := range []string{"root1", "root2", "targets"} {
		if _, err := ws.Sign(ctx, signers[k]); err != nil {
			return "", err
		}
	}
	public := filepath.Join(dir, "public")
	dest, err := repo.DirDestination(public)
	if err != nil {
		return "", err
	}
	if _, err := ws.Publish(ctx, dest); err != nil {
		return "", err
	}
	return public, nil
}

// add adds improvement (a) of component for Release, signed by its team.
func add(ctx context.Context, ws *repo.Workspace, dir, component string, now time.Time, team signature.Signer) error {
	id := component + "-" + Release + "-a"
	m := &manifest.Manifest{
		Schema: manifest.Schema, ID: id, Title: component + " security improvement (a)",
		Platform: Platform, Component: component,
		AppliesTo: manifest.AppliesTo{Releases: []string{Release}},
		Sequence:  1, Severity: manifest.SeverityHigh,
		Released: manifest.FormatTime(now), Status: manifest.StatusActive,
	}
	mj, err := m.Encode()
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	body := []byte(component + ": background security improvement " + id + "\n")
	if err := tw.WriteHeader(&tar.Header{Name: "README", Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	if _, err := tw.Write(body); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := gz.Close(); err != nil {
		return err
	}
	payload := filepath.Join(dir, "payloads", id+".tar.gz")
	if err := os.MkdirAll(filepath.Dir(payload), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(payload, buf.Bytes(), 0o644); err != nil {
		return err
	}
	_, err = ws.Add(ctx, repo.AddRequest{Manifest: mj, Payload: payload, Signers: []signature.Signer{team}})
	return err
}

// Serve serves the published tree public with package serve on a free
// loopback port until stop is called.
func Serve(ctx context.Context, public string) (url string, stop func(), err error) {
	h, err := serve.NewHandler(public, nil)
	if err != nil {
		return "", nil, err
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		h.Close()
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), func() { srv.Close(); h.Close() }, nil
}
