package bench

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/bsiframework/bsi/manifest"
	"github.com/bsiframework/bsi/trust/repo"
)

// component is the one component role every generated improvement belongs to.
const component = "webkit"

// batchSize is how many improvements one AddBatch call takes while
// generating: each call rewrites the changed role files once.
const batchSize = 10000

// publisher is a generated repository: a trust/repo workspace with
// in-memory ed25519 keys, published to a directory.
type publisher struct {
	dir     string // workspace
	public  string // published tree
	signers map[string]signature.Signer
	opts    repo.Options
	dest    repo.Destination
	count   int // improvements so far (the last sequence)
	payload string
}

// keyNames are the generated keys; "snapshot" and "timestamp" double as
// the key references recorded in the workspace.
var keyNames = []string{"root", "targets", "snapshot", "timestamp", component}

// generate creates a workspace in dir with n improvements of one
// component (in bins hash bins when bins > 0), signs and publishes it.
// progress, when not nil, is called after each batch with the count added.
func generate(ctx context.Context, dir string, n, bins int, now func() time.Time, progress func(done int)) (*publisher, error) {
	p := &publisher{dir: filepath.Join(dir, "workspace"), public: filepath.Join(dir, "public"),
		signers: map[string]signature.Signer{}}
	for _, name := range keyNames {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		if p.signers[name], err = signature.LoadSigner(priv, crypto.Hash(0)); err != nil {
			return nil, err
		}
	}
	p.opts = repo.Options{Now: now, LoadSigner: func(_ context.Context, ref string) (signature.Signer, error) {
		if s, ok := p.signers[ref]; ok {
			return s, nil
		}
		return nil, fmt.Errorf("bench: no key %q", ref)
	}}
	var err error
	if p.dest, err = repo.DirDestination(p.public); err != nil {
		return nil, err
	}
	p.payload = filepath.Join(dir, "payload.tar.gz")
	if err := writePayload(p.payload); err != nil {
		return nil, err
	}
	ws, err := repo.Init(ctx, p.dir, p.opts, repo.InitOptions{
		RootKeys: p.tufKeys("root"), TargetsKeys: p.tufKeys("targets"),
		SnapshotKey: "snapshot", TimestampKey: "timestamp"})
	if err != nil {
		return nil, err
	}
	defer ws.Close()
	if err := ws.Delegate(ctx, component, repo.DelegateOptions{Keys: p.tufKeys(component), Bins: bins}); err != nil {
		return nil, err
	}
	for p.count < n {
		reqs := make([]repo.AddRequest, 0, min(batchSize, n-p.count))
		for len(reqs) < cap(reqs) {
			p.count++
			reqs = append(reqs, repo.AddRequest{Manifest: improvement(p.count), Payload: p.payload})
		}
		if _, err := ws.AddBatch(ctx, reqs); err != nil {
			return nil, fmt.Errorf("adding improvements %d to %d: %w", p.count-len(reqs)+1, p.count, err)
		}
		if progress != nil {
			progress(p.count)
		}
	}
	for _, k := range []string{"root", "targets", component} {
		if _, err := ws.Sign(ctx, p.signers[k]); err != nil {
			return nil, fmt.Errorf("signing with %s: %w", k, err)
		}
	}
	if _, err := ws.Publish(ctx, p.dest); err != nil {
		return nil, err
	}
	return p, nil
}

// addOne adds the next improvement, signed by the component key, and
// publishes: what a publisher does for one urgent fix. It returns the
// count of files written to the published tree.
func (p *publisher) addOne(ctx context.Context) (int, error) {
	ws, err := repo.Open(ctx, p.dir, p.opts)
	if err != nil {
		return 0, err
	}
	defer ws.Close()
	if _, err := ws.Add(ctx, repo.AddRequest{Manifest: improvement(p.count + 1), Payload: p.payload,
		Signers: []signature.Signer{p.signers[component]}}); err != nil {
		return 0, err
	}
	p.count++
	res, err := ws.Publish(ctx, p.dest)
	if err != nil {
		return 0, err
	}
	return len(res.Written), ws.Close()
}

// rootJSON returns the first published root: the trust anchor of a device.
func (p *publisher) rootJSON() ([]byte, error) {
	return os.ReadFile(filepath.Join(p.public, "1.root.json"))
}

func (p *publisher) tufKeys(name string) []*metadata.Key {
	pub, err := p.signers[name].PublicKey()
	if err != nil {
		panic(err) // an ed25519 signer always has its public key
	}
	k, err := metadata.KeyFromPublicKey(pub)
	if err != nil {
		panic(err)
	}
	return []*metadata.Key{k}
}

// improvementID is the id of the improvement with sequence seq.
func improvementID(seq int) string { return fmt.Sprintf("%s-%07d", component, seq) }

// targetPath is the TUF target path of the improvement with sequence seq.
func targetPath(seq int) string { return component + "/" + improvementID(seq) + ".tar.gz" }

// The device every generated improvement applies to.
const (
	platform = "macos"
	release  = "26.3"
)

// improvement returns the manifest of the improvement with sequence seq.
func improvement(seq int) []byte {
	m := manifest.Manifest{Schema: manifest.Schema, ID: improvementID(seq), Title: "security improvement " + improvementID(seq),
		Platform: platform, Component: component, AppliesTo: manifest.AppliesTo{Releases: []string{release}},
		Sequence: seq, Severity: manifest.SeverityHigh, Advisories: []string{fmt.Sprintf("CVE-2026-%05d", seq%100000)},
		Released: "2026-01-02T03:04:05Z", Status: manifest.StatusActive}
	b, err := m.Encode()
	if err != nil {
		panic(err) // every field above is valid by construction
	}
	return b
}

// payloadSize is the size of the file inside the payload archive.
const payloadSize = 1 << 10

// writePayload writes a tar.gz holding 1 KiB of random bytes (so that
// it does not compress): every improvement shares it.
func writePayload(path string) error {
	body := make([]byte, payloadSize)
	rand.Read(body)
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	if err := tw.WriteHeader(&tar.Header{Name: "lib/webkit.patch", Mode: 0o644, Size: payloadSize, Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	tw.Write(body)
	if err := tw.Close(); err != nil {
		return err
	}
	if err := gz.Close(); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// processCPU returns the CPU time (user and system) the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
