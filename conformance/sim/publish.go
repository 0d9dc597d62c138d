package sim

import (
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/bsiframework/bsi/trust/repo"
)

// Reset forgets every role, key and served file: the repository serves
// nothing until it is filled again, typically by the publisher through
// Destination and Load.
func (r *Repo) Reset() {
	r.mu.Lock()
	r.files, r.payloads = map[string][]byte{}, map[string][]byte{}
	r.override = map[string]http.HandlerFunc{}
	r.mu.Unlock()
	r.Signers = map[string][]*Key{}
	r.Targets = map[string]*metadata.Metadata[metadata.TargetsType]{}
	r.Order, r.Root, r.Timestamp, r.Snapshot = nil, nil, nil, nil
	r.published = false
}

// Destination is a publish destination (package trust/repo) that writes
// into the served repository: "targets/PATH" as payloads, every other name
// as metadata. It lets a scenario publish with the real publisher, then
// Load what it published to stage an attack on top.
func (r *Repo) Destination() repo.Destination { return simDest{r} }

type simDest struct{ r *Repo }

func (d simDest) String() string { return "sim:" + d.r.srv.URL }

func (d simDest) entry(name string) (map[string][]byte, string) {
	if p, ok := strings.CutPrefix(name, "targets/"); ok {
		return d.r.payloads, p
	}
	return d.r.files, name
}

func (d simDest) ReadFile(_ context.Context, name string) ([]byte, error) {
	d.r.mu.Lock()
	defer d.r.mu.Unlock()
	m, k := d.entry(name)
	b, ok := m[k]
	if !ok {
		return nil, fmt.Errorf("sim: %s: %w", name, fs.ErrNotExist)
	}
	return slices.Clone(b), nil
}

func (d simDest) Exists(ctx context.Context, name string) (bool, error) {
	_, err := d.ReadFile(ctx, name)
	return err == nil, nil
}

func (d simDest) WriteFile(_ context.Context, name string, data []byte) error {
	d.r.mu.Lock()
	defer d.r.mu.Unlock()
	m, k := d.entry(name)
	m[k] = slices.Clone(data)
	return nil
}

// Load reads the repository as served (the newest root, timestamp.json,
// the snapshot it lists and every role that snapshot lists) into the
// editable metadata, so that Publish, PublishSnapshot and PublishTimestamp
// re-sign on top of it. Signers is left as it is: the scenario sets the
// keys of the roles it re-signs.
func (r *Repo) Load() {
	root, err := metadata.Root().FromBytes(r.Get("root.json"))
	r.check(err)
	ts, err := metadata.Timestamp().FromBytes(r.Get("timestamp.json"))
	r.check(err)
	sm := ts.Signed.Meta["snapshot.json"]
	if sm == nil {
		r.fail(fmt.Errorf("simulator: the served timestamp lists no snapshot"))
		return
	}
	snap, err := metadata.Snapshot().FromBytes(r.Get(strconv.FormatInt(sm.Version, 10) + ".snapshot.json"))
	r.check(err)
	r.Root, r.Timestamp, r.Snapshot = root, ts, snap
	r.MetaHashes = false
	r.Targets = map[string]*metadata.Metadata[metadata.TargetsType]{}
	r.Order = []string{"targets"}
	for name := range snap.Signed.Meta {
		role := strings.TrimSuffix(name, ".json")
		if role != "targets" {
			r.Order = append(r.Order, role)
		}
	}
	slices.Sort(r.Order[1:])
	for _, role := range r.Order {
		v := snap.Signed.Meta[role+".json"].Version
		md, err := metadata.Targets().FromBytes(r.Get(strconv.FormatInt(v, 10) + "." + role + ".json"))
		r.check(err)
		r.Targets[role] = md
	}
	r.published = true
}
