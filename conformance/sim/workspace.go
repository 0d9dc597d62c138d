package sim

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/bsiframework/bsi/manifest"
	"github.com/bsiframework/bsi/trust/repo"
)

// Publisher is a real publisher workspace (package trust/repo) whose keys
// the simulator holds and which publishes into the simulated repository:
// what a client sees is exactly what "bsi repo publish" would write. After
// each Publish the repository's editable metadata is Loaded from what was
// published, so a scenario can stage what the publisher refuses to make
// (a manifest signed by the wrong role, a stale or replayed timestamp) by
// editing it with go-tuf and publishing through the simulator.
type Publisher struct {
	Repo *Repo
	// Workspace is the open workspace.
	Workspace *repo.Workspace
	dir       string
	n         int
}

// PublisherOptions describes the repository a Publisher starts with.
type PublisherOptions struct {
	// Dir is the workspace directory (absent or empty).
	Dir string
	// RootKeys and RootThreshold: the root's keys (default 1) and threshold
	// (default 1).
	RootKeys, RootThreshold int
	// Components are delegated, each with one key; Bins gives a component
	// that many succinct hash bins.
	Components []string
	Bins       map[string]int
}

// NewPublisher resets r, creates a workspace with fresh ed25519 keys, signs
// and publishes version 1 (root, targets, one role per component, snapshot,
// timestamp) into r and loads it. r.Signers then holds every key by role
// (root: all root keys; bins: their component's keys).
func NewPublisher(ctx context.Context, r *Repo, o PublisherOptions) *Publisher {
	r.Reset()
	if o.RootKeys == 0 {
		o.RootKeys = 1
	}
	online := map[string]*Key{"snapshot": r.NewKey(Ed25519), "timestamp": r.NewKey(Ed25519)}
	opts := repo.Options{
		Now: func() time.Time { return r.Now },
		LoadSigner: func(_ context.Context, ref string) (signature.Signer, error) {
			if k := online[ref]; k != nil {
				return k.Signer, nil
			}
			return nil, fmt.Errorf("sim: no online key %q", ref)
		},
	}
	r.Signers["snapshot"], r.Signers["timestamp"] = []*Key{online["snapshot"]}, []*Key{online["timestamp"]}
	for range o.RootKeys {
		r.Signers["root"] = append(r.Signers["root"], r.NewKey(Ed25519))
	}
	r.Signers["targets"] = []*Key{r.NewKey(Ed25519)}
	ws, err := repo.Init(ctx, o.Dir, opts, repo.InitOptions{
		RootKeys: tufKeys(r.Signers["root"]), RootThreshold: o.RootThreshold,
		TargetsKeys: tufKeys(r.Signers["targets"]), SnapshotKey: "snapshot", TimestampKey: "timestamp"})
	r.check(err)
	p := &Publisher{Repo: r, Workspace: ws, dir: o.Dir}
	for _, c := range o.Components {
		k := r.NewKey(Ed25519)
		r.Signers[c] = []*Key{k}
		r.check(ws.Delegate(ctx, c, repo.DelegateOptions{Keys: []*metadata.Key{k.Key}, Bins: o.Bins[c]}))
	}
	p.Publish(ctx)
	return p
}

func tufKeys(ks []*Key) []*metadata.Key {
	out := make([]*metadata.Key, len(ks))
	for i, k := range ks {
		out[i] = k.Key
	}
	return out
}

// Close releases the workspace.
func (p *Publisher) Close() { p.Workspace.Close() }

// Add adds an improvement: its manifest and payload (a tar or tar.gz
// archive), with sequence gaps allowed. The publisher's own checks apply.
func (p *Publisher) Add(ctx context.Context, m *manifest.Manifest, payload []byte) {
	_, err := p.TryAdd(ctx, m, payload)
	p.Repo.check(err)
}

// TryAdd is Add returning the publisher's refusal instead of failing.
func (p *Publisher) TryAdd(ctx context.Context, m *manifest.Manifest, payload []byte) (*repo.Improvement, error) {
	b, err := m.Encode()
	if err != nil {
		return nil, err
	}
	p.n++
	f := filepath.Join(p.dir+".payloads", fmt.Sprintf("%d-%s.tar.gz", p.n, m.ID))
	if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(f, payload, 0o644); err != nil {
		return nil, err
	}
	return p.Workspace.Add(ctx, repo.AddRequest{Manifest: b, Payload: f, AllowSequenceGap: true})
}

// Withdraw marks the improvement id withdrawn.
func (p *Publisher) Withdraw(ctx context.Context, id, reason string) {
	p.Repo.check(p.Workspace.Withdraw(ctx, id, reason))
}

// Publish signs every changed role with all its keys, publishes into the
// repository and loads what was published.
func (p *Publisher) Publish(ctx context.Context) {
	r := p.Repo
	for _, role := range []string{"root", "targets"} {
		for _, k := range r.Signers[role] {
			p.sign(ctx, k)
		}
	}
	for role, ks := range r.Signers {
		if role != "root" && role != "targets" && role != "snapshot" && role != "timestamp" {
			for _, k := range ks {
				p.sign(ctx, k)
			}
		}
	}
	_, err := p.Workspace.Publish(ctx, r.Destination())
	r.check(err)
	r.Load()
	for _, role := range r.Order {
		if c, _, ok := strings.Cut(role, ".bin-"); ok {
			r.Signers[role] = r.Signers[c]
		}
	}
}

// sign signs every pending role k may sign; a key with nothing to sign is
// not an error.
func (p *Publisher) sign(ctx context.Context, k *Key) {
	_, err := p.Workspace.Sign(ctx, k.Signer)
	var na *repo.NotAuthorisedError
	var np *repo.NothingPendingError
	if errors.As(err, &na) && na.Role == "" || errors.As(err, &np) {
		return
	}
	if _, ok := errors.AsType[*repo.NothingPendingError](err); ok {
		return
	}
	p.Repo.check(err)
}
